import Foundation
import TensorKit
import AbliterationCore

extension LayerPlan {
    /// The most bytes of a plan file.
    public static let maxFileBytes = 1 << 20

    /// A plan given the way the CLI takes one: the path of a `.json` file holding it (read with
    /// `InputFile.contents`, at most `maxFileBytes`), or else the CLI form (`init(parsing:)`).
    public init(argument text: String) throws {
        if let file = LayerPlan.file(inArgument: text) {
            self = try LayerPlan(json: Data(try InputFile.contents(file, maxBytes: LayerPlan.maxFileBytes)))
        } else {
            self = try LayerPlan(parsing: text)
        }
    }

    /// The file `init(argument:)` reads for `text` (one ending in `.json`), or nil for an inline plan.
    public static func file(inArgument text: String) -> String? {
        text.hasSuffix(".json") ? text : nil
    }
}
