import Foundation
import AbliterationCore

extension EditTarget {
    /// Parses a comma-separated list such as `o_proj,down_proj,embed`. Throws
    /// `AbliterationError.invalidInput` naming an unknown target, or for an empty list.
    public static func parseList(_ text: String) throws -> [EditTarget] {
        let items = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !items.isEmpty else { throw AbliterationError.invalidInput("targets: empty list; use o_proj, down_proj, embed") }
        return try items.map { item in
            guard let t = EditTarget(rawValue: item) else {
                throw AbliterationError.invalidInput("targets: unknown target '\(item)'; use o_proj, down_proj, embed")
            }
            return t
        }
    }
}
