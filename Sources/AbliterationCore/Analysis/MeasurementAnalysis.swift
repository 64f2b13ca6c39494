import Foundation

/// The per-layer diagnostics of a measurement, the layers worth using, and the plans they suggest.
///
/// Layer suggestion: a refusal direction is useful where the two classes separate well along it, and
/// away from the first and last layers (the embedding region carries token identity, the last blocks
/// mostly format the next token). Among residual indices in `[0.35·L, 0.85·L]` the candidates are ranked
/// by `separation` (the pooled-spread-normalised gap along the projected direction, see
/// `RefusalDiagnostics`); each candidate m suggests the plan m : [m − 0.4·L, m + 0.13·L] (clamped to the
/// model), the shape that works for SmolLM2-sized models (e.g. 20 : 8–24 for 30 blocks).
public struct MeasurementAnalysis: Sendable {
    /// One row of the table.
    public struct Row: Codable, Sendable, Equatable {
        public var layer: Int
        public var diagnostics: RefusalDiagnostics?
    }

    public let metadata: MeasurementMetadata
    public let rows: [Row]

    /// One row per residual index 0…layerCount, with that layer's `RefusalDiagnostics` (nil where degenerate).
    public init(_ measurements: Measurements) {
        metadata = measurements.metadata
        rows = zip(measurements.layers, measurements.diagnostics()).map { Row(layer: $0, diagnostics: $1) }
    }

    /// Residual indices ranked best first by separation, within the middle band of the model.
    public func suggestedLayers(count: Int = 3) -> [Int] {
        let l = Double(metadata.layerCount)
        let band = Int((0.35 * l).rounded())...Int((0.85 * l).rounded())
        let ranked = rows.filter { band.contains($0.layer) }
            .compactMap { row -> (Int, Double)? in
                guard let s = row.diagnostics?.separation, s.isFinite else { return nil }
                return (row.layer, s)
            }
            .sorted { $0.1 > $1.1 }
        return ranked.prefix(count).map { $0.0 }
    }

    /// The target span suggested for a direction measured at residual index `layer`.
    public func suggestedSpan(for layer: Int) -> ClosedRange<Int> {
        let l = Double(metadata.layerCount)
        let lower = max(0, layer - Int((0.4 * l).rounded()))
        let upper = min(metadata.layerCount - 1, layer + Int((0.13 * l).rounded()))
        return lower...max(lower, upper)
    }

    /// The suggested single-entry plan for a measurement layer, at `scale`.
    public func suggestedPlan(for layer: Int, scale: Float = 1) throws -> LayerPlan {
        let plan = try LayerPlan(entries: [.init(measurementLayer: Double(layer), targets: suggestedSpan(for: layer), scale: scale)])
        try plan.validate(layerCount: metadata.layerCount)
        return plan
    }

    /// The table as aligned text.
    package func textTable() -> String {
        var lines = [
            "layer   ‖μ_H‖     ‖μ_A‖     ‖r‖       cos(r,μ_H)  cos(r,μ_A)  cos(μ_H,μ_A)  proj.removed  separation"
        ]
        let suggested = Set(suggestedLayers())
        for row in rows {
            guard let d = row.diagnostics else {
                lines.append(String(format: "%5d   (degenerate: identical or zero means)", row.layer))
                continue
            }
            let separation = d.separation.map { String(format: "%10.3f", $0) } ?? "         -"
            lines.append(String(
                format: "%5d  %8.3f  %8.3f  %8.3f  %10.4f  %10.4f  %12.4f  %12.4f  ",
                row.layer, d.harmfulNorm, d.harmlessNorm, d.directionNorm, d.cosDirectionHarmful,
                d.cosDirectionHarmless, d.cosHarmfulHarmless, d.projectionRemovedFraction)
                + separation + (suggested.contains(row.layer) ? "  *" : ""))
        }
        return lines.joined(separator: "\n")
    }

    /// An SVG chart of the three cosines, the projection fraction and the separation per layer,
    /// with the bands of `plan` shaded.
    package func chart(plan: LayerPlan? = nil) -> String {
        let d = rows.map { $0.diagnostics }
        func series(_ f: (RefusalDiagnostics) -> Double?) -> [Double] { d.map { $0.flatMap(f) ?? .nan } }
        let chart = LayerChart(
            title: "Refusal direction per layer: \(URL(fileURLWithPath: metadata.model).lastPathComponent)",
            layers: rows.map(\.layer),
            left: [
                .init(name: "cos(r, μ harmful)", values: series { $0.cosDirectionHarmful }, color: "#d62728"),
                .init(name: "cos(r, μ harmless)", values: series { $0.cosDirectionHarmless }, color: "#1f77b4"),
                .init(name: "cos(μ harmful, μ harmless)", values: series { $0.cosHarmfulHarmless }, color: "#7f7f7f"),
                .init(name: "fraction of ‖r‖ removed by projection", values: series { $0.projectionRemovedFraction },
                      color: "#9467bd", dashed: true),
            ],
            right: [.init(name: "separation", values: series { $0.separation }, color: "#2ca02c")],
            rightLabel: "separation (gap / pooled spread along r̂)",
            bands: plan?.entries.map { ($0.targets, $0.measurementLayer) } ?? [])
        return chart.svg()
    }
}

extension MeasurementAnalysis: Encodable {
    enum CodingKeys: String, CodingKey { case metadata, layers, suggestedLayers = "suggested_layers" }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(metadata, forKey: .metadata)
        try c.encode(rows, forKey: .layers)
        try c.encode(suggestedLayers(), forKey: .suggestedLayers)
    }
}
