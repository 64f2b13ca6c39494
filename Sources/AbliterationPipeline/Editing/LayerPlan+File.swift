import Foundation
import TensorKit
import AbliterationCore

extension LayerPlan {
    /// The most bytes of a plan file.
    public static let maxFileBytes = 1 << 20

    /// A plan given the way the CLI takes one: the path of a `.json` file holding it (read with
    /// `InputFile.contents`, at most `maxFileBytes`) or a `run` report (`report.json`, whose `plan` is the
    /// CLI form), or else the CLI form (`init(parsing:)`).
    public init(argument text: String) throws {
        self = try LayerPlan.read(argument: text).plan
    }

    /// As `init(argument:)`, with the edit options the plan was scored with when the argument is a `run`
    /// report (`AblationOptions(runReport:)`; nil for an inline plan, a plan file, or a report lacking them).
    /// The file is read and parsed once.
    public static func read(argument text: String) throws -> (plan: LayerPlan, recorded: AblationOptions?) {
        guard let file = LayerPlan.file(inArgument: text) else { return (try LayerPlan(parsing: text), nil) }
        let data = Data(try InputFile.contents(file, maxBytes: LayerPlan.maxFileBytes))
        guard let report = RunReportObject(data) else { return (try LayerPlan(json: data), nil) }
        do {
            return (try LayerPlan(parsing: report.plan), AblationOptions(runReport: report))
        } catch {
            throw AbliterationError.invalidPlan("\(UserText.sanitized(file)): plan of the run report: \(ErrorText.message(error))")
        }
    }

    /// The file `init(argument:)` reads for `text` (one ending in `.json`), or nil for an inline plan.
    public static func file(inArgument text: String) -> String? {
        text.hasSuffix(".json") ? text : nil
    }
}

/// A `run` report as a plan argument reads it: a JSON object with `plan` (the CLI form) and `measurement`.
struct RunReportObject {
    let plan: String
    let object: [String: Any]

    init?(_ data: Data) {
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              object["measurement"] != nil, let plan = object["plan"] as? String else { return nil }
        self.plan = plan
        self.object = object
    }
}
