import Foundation

/// Progress of a long step as the library reports it: `done` of `total` units (`unit`: prompts, tensors,
/// weights) of the step named `step` ("measure", "candidate 2/8 20:8-24", "write"). A step reports
/// done = 0 when it starts, then after each piece of work. The library only calls a handler; the command
/// line renders the reports (`ProgressLine`).
public struct StepProgress: Sendable, Equatable {
    public var step: String
    public var done: Int
    public var total: Int
    public var unit: String

    public init(step: String, done: Int, total: Int, unit: String) {
        self.step = step
        self.done = done
        self.total = total
        self.unit = unit
    }
}

/// Receives `StepProgress` reports.
public typealias ProgressHandler = (StepProgress) -> Void

/// The text of a progress line with a rate-based ETA. A step's rate is its units done per second since
/// its first report (done = 0 when the step reports its start), and
///
///     ETA = (total − done) / rate,  rate = done / elapsed
///
/// On a terminal each report redraws one line in place (carriage return, erase to the end of the line)
/// and a finished step ends it with a newline; otherwise (a log file) a report gives a plain line when
/// the step starts, finishes, or `plainInterval` seconds have passed since its last line. `render` says
/// what to write; writing it is the caller's.
public struct ProgressLine {
    public let terminal: Bool
    public var plainInterval: TimeInterval
    private var step: String?
    private var start = Date()
    private var lastPlain = Date.distantPast
    /// A line drawn in place that no newline has ended yet.
    public private(set) var lineOpen = false

    public init(terminal: Bool, plainInterval: TimeInterval = 5) {
        self.terminal = terminal
        self.plainInterval = plainInterval
    }

    /// Starts the clock of step `name` at `now`, for callers whose first report comes after the first
    /// piece of work. A report of another step starts that step's clock at its first report.
    public mutating func begin(_ name: String, now: Date = Date()) -> String {
        let prefix = step != name && lineOpen ? "\n" : ""
        if step != name { lineOpen = false }
        step = name
        start = now
        lastPlain = .distantPast
        return prefix
    }

    /// What to write for `report` at `now` (nil: nothing, a plain line not yet due).
    public mutating func render(_ report: StepProgress, now: Date = Date()) -> String? {
        var prefix = ""
        if report.step != step { prefix = begin(report.step, now: now) }
        let finished = report.done >= report.total
        let text = Self.text(report, elapsed: now.timeIntervalSince(start), bar: terminal)
        if terminal {
            lineOpen = !finished
            return prefix + "\r" + text + "\u{1B}[K" + (finished ? "\n" : "")
        }
        guard finished || report.done == 0 || now.timeIntervalSince(lastPlain) >= plainInterval else { return nil }
        lastPlain = now
        return text + "\n"
    }

    /// What to write before another line (a log message): a newline when a line drawn in place is open.
    public mutating func interrupt() -> String {
        defer { lineOpen = false }
        return lineOpen ? "\n" : ""
    }

    /// `step [bar] done/total unit, r unit/s, ETA t` (the bar on a terminal only); when finished,
    /// the time the step took instead of the ETA.
    public static func text(_ p: StepProgress, elapsed: TimeInterval, bar: Bool) -> String {
        var line = p.step
        if bar {
            let width = 24
            let filled = p.total > 0 ? min(width, width * p.done / p.total) : width
            line += " [" + String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled) + "]"
        } else {
            line += ":"
        }
        line += " \(p.done)/\(p.total) \(p.unit)"
        guard p.done > 0, elapsed > 0 else { return line }
        let rate = Double(p.done) / elapsed
        line += String(format: rate >= 10 ? ", %.0f %@/s" : ", %.2f %@/s", rate, p.unit)
        if p.done >= p.total {
            line += ", took " + duration(elapsed)
        } else {
            line += ", ETA " + duration(Double(p.total - p.done) / rate)
        }
        return line
    }

    /// `42s`, `3m05s`, `1h02m`.
    public static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite else { return "?" }
        let s = Int(seconds.rounded())
        if s < 60 { return "\(s)s" }
        if s < 3600 { return String(format: "%dm%02ds", s / 60, s % 60) }
        return String(format: "%dh%02dm", s / 3600, (s % 3600) / 60)
    }
}
