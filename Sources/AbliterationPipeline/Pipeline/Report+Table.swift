import Foundation
import AbliterationCore
import LanguageModels

extension AbliterationRun.Report {
    /// The before/after table a person reads.
    public var table: String {
        func rate(_ s: AbliterationRun.RefusalSummary) -> String {
            String(format: "%3d/%-3d  %5.1f%%  [%4.1f–%5.1f%%]", s.refusals, s.total, 100 * s.refusalRate,
                   100 * s.interval95[0], 100 * s.interval95[1])
        }
        var lines = [
            "model:   \(model)\(adapter.map { " + " + $0 } ?? "")",
            "output:  \(output)",
        ] + (behaviour.map { ["by behaviour: \($0.summary) training prompts"] } ?? []) + [
            "plan:    \(plan)  (\(method.rawValue)\(norms == .none ? "" : norms == .vectors ? ", norm-preserving" : ", row-normalized"), global scale ×\(scale), \(targets.map(\.rawValue).joined(separator: ",")))",
            "",
            "                      refusals on harmful test prompts (95% CI)   first-token KL on \(harmlessTestPrompts) harmless",
            "  original            \(rate(before))",
            "  abliterated         \(rate(after))           " + String(format: "%.4f", klDivergence),
        ]
        if let search {
            lines.append("")
            lines.append("plan search (training prompts)\(selection.map { ", chosen by: " + $0 } ?? ""):")
            for c in search {
                lines.append(String(format: "  %2d/%-2d refusals  KL %.4f", c.refusals, c.total, c.klDivergence)
                    + (front?.contains(c.plan) == true ? "  front" : "       ")
                    + "  " + c.plan + (c.plan == plan ? "  <- chosen" : ""))
            }
        }
        return lines.joined(separator: "\n")
    }
}
