import Foundation
import TensorKit

/// Timing and peak memory of the pipeline's steps on one model, each step run as a child process
/// (`abliterate bench pipeline`): so that each step's peak anonymous memory is its own, as a user running
/// that command would see it.
public struct PipelineBenchmark: Codable, Sendable {
    public struct Step: Codable, Sendable {
        /// measure, copy, ablate, eval or run.
        public var name: String
        /// The command line as run (executable first).
        public var command: [String]
        public var measurement: ProcessMeter.Measurement

        public init(name: String, command: [String], measurement: ProcessMeter.Measurement) {
            self.name = name
            self.command = command
            self.measurement = measurement
        }
    }

    public var model: String
    /// The plan `ablate` (and `run`, as its one candidate) applied.
    public var plan: String
    public var steps: [Step] = []

    public init(model: String, plan: String) {
        self.model = model
        self.plan = plan
    }

    /// How fast `ablate` writes the edited model against a plain copy of the same files (copy time over
    /// ablate time: 1 = as fast as `cp`); nil unless both ran.
    public var ablateSpeedAgainstCopy: Double? {
        guard let ablate = steps.first(where: { $0.name == "ablate" })?.measurement.seconds,
              let copy = steps.first(where: { $0.name == "copy" })?.measurement.seconds, ablate > 0 else { return nil }
        return copy / ablate
    }

    /// The write-up's Gemma 3 12B plan, `23:11-23,29:24-41` at 48 layers, scaled to `layers`: directions
    /// at 48% and 60% of the depth, the first applied from 23% of the depth up to its own layer, the
    /// second from there to 85%.
    public static func defaultPlan(layers: Int) -> String {
        let at = { (fraction: Double) in min(layers - 1, max(0, Int((fraction * Double(layers)).rounded()))) }
        let first = at(0.48), second = max(first + 1, at(0.60)), start = min(at(0.23), first)
        let end = max(second, at(0.85))
        guard second < layers else { return "\(first):\(start)-\(layers - 1)" }
        return "\(first):\(start)-\(first),\(second):\(first + 1)-\(end)"
    }

    /// One line per step: seconds, peak anonymous memory, peak resident memory, the command.
    public func textReport() -> String {
        var lines = ["model: \(model)", "plan: \(plan)",
                     "step      seconds   peak RssAnon   peak RSS     command"]
        lines += steps.indices.map(textLine)
        if let ratio = ablateSpeedAgainstCopy {
            lines.append(String(format: "ablate writes at %.2f× the speed of cp on the same files", ratio))
        }
        return lines.joined(separator: "\n")
    }

    /// Step `index` as a line of `textReport`.
    public func textLine(_ index: Int) -> String {
        let gigabytes = { (bytes: UInt64?) in bytes.map { String(format: "%.2f GB", Double($0) / 1e9) } ?? "—" }
        let step = steps[index], m = step.measurement
        let name = step.name.padding(toLength: 8, withPad: " ", startingAt: 0)
        let seconds = String(format: "%9.1f", m.seconds)
        let anonymous = gigabytes(m.peakAnonymousBytes).leftPadded(to: 14)
        let resident = gigabytes(m.peakResidentBytes).leftPadded(to: 11)
        let status = m.exitStatus == 0 ? "" : " (exit status \(m.exitStatus))"
        return "\(name)\(seconds)\(anonymous)\(resident)     \(step.command.joined(separator: " "))\(status)"
    }
}

private extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}
