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
        if let file = LayerPlan.file(inArgument: text) {
            let data = Data(try InputFile.contents(file, maxBytes: LayerPlan.maxFileBytes))
            if let plan = LayerPlan.reportPlan(data) {
                do { self = try LayerPlan(parsing: plan) } catch {
                    throw AbliterationError.invalidPlan("\(UserText.sanitized(file)): plan of the run report: \(ErrorText.message(error))")
                }
            } else {
                self = try LayerPlan(json: data)
            }
        } else {
            self = try LayerPlan(parsing: text)
        }
    }

    /// The `plan` string of a `run` report (a JSON object with `plan` and `measurement`), else nil.
    static func reportPlan(_ data: Data) -> String? {
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              object["measurement"] != nil, let plan = object["plan"] as? String else { return nil }
        return plan
    }

    /// The file `init(argument:)` reads for `text` (one ending in `.json`), or nil for an inline plan.
    public static func file(inArgument text: String) -> String? {
        text.hasSuffix(".json") ? text : nil
    }
}
