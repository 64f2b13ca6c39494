import Foundation
import AbliterationCore

extension MeasurementAnalysis {
    /// What `abliterate analyze` prints: the per-layer table, the suggested layers (best separation
    /// first) and the plan suggested for the best of them.
    package func report() throws -> String {
        var lines = [textTable()]
        let suggested = suggestedLayers()
        lines.append("\nsuggested layers (best separation first): \(suggested.map(String.init).joined(separator: ", "))")
        if let best = suggested.first { lines.append("suggested plan: \(try suggestedPlan(for: best))") }
        return lines.joined(separator: "\n")
    }
}

extension MeasurementComparison {
    /// The cosines as a table a person reads, headed by the file names of the two measurements.
    package static func table(_ rows: [Row], names: (String, String)) -> String {
        func file(_ path: String) -> String { URL(fileURLWithPath: path).lastPathComponent }
        var lines = ["layer  cos(r̂ \(file(names.0)), r̂ \(file(names.1)))"]
        for row in rows { lines.append(String(format: "%5d  %.5f", row.layer, row.cosine)) }
        return lines.joined(separator: "\n")
    }
}
