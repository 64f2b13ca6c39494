import Foundation
import AbliterationCore

extension EditTarget {
    /// Parses a comma-separated list such as `o_proj,down_proj,embed` or `inputs` (the five reading
    /// weights, `q_proj,k_proj,v_proj,gate_proj,up_proj`). Throws `AbliterationError.invalidInput` naming
    /// an unknown target, or for an empty list. Repeats are dropped; the order is the list's.
    public static func parseList(_ text: String) throws -> [EditTarget] {
        let hint = "use o_proj, down_proj, embed, q_proj, k_proj, v_proj, gate_proj, up_proj or inputs"
        let items = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !items.isEmpty else { throw AbliterationError.invalidInput("targets: empty list; \(hint)") }
        var targets: [EditTarget] = []
        for item in items {
            let named: [EditTarget]
            if item == "inputs" {
                named = EditTarget.readers
            } else if let t = EditTarget(rawValue: item) {
                named = [t]
            } else {
                throw AbliterationError.invalidInput("targets: unknown target '\(item)'; \(hint)")
            }
            for t in named where !targets.contains(t) { targets.append(t) }
        }
        return targets
    }
}
