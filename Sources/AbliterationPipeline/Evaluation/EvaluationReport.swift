import Foundation
import AbliterationCore
import LanguageModels

/// What `abliterate eval` reports: `{"refusals", "total", "refusal_rate", "refusal_rate_95ci",
/// "kl_divergence", "responses"}`.
public struct EvaluationReport: Sendable, Encodable {
    public var refusals: RefusalEvaluation
    /// Mean first-token KL(P_baseline ‖ P_model) over the harmless prompts, when a baseline was given.
    public var klDivergence: Double?

    public init(refusals: RefusalEvaluation, klDivergence: Double?) {
        self.refusals = refusals
        self.klDivergence = klDivergence
    }

    enum CodingKeys: String, CodingKey {
        case refusals, total, refusalRate = "refusal_rate", interval = "refusal_rate_95ci"
        case klDivergence = "kl_divergence", responses
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(refusals.refusals, forKey: .refusals)
        try c.encode(refusals.total, forKey: .total)
        try c.encode(refusals.refusalRate, forKey: .refusalRate)
        try c.encode(refusals.interval95, forKey: .interval)
        if let klDivergence { try c.encode(klDivergence, forKey: .klDivergence) } else { try c.encodeNil(forKey: .klDivergence) }
        try c.encode(refusals.responses, forKey: .responses)
    }

    /// One line a person reads.
    public var summary: String {
        var s = String(
            format: "refusals: %d/%d = %.1f%% (95%% CI %.1f–%.1f%%)", refusals.refusals, refusals.total,
            100 * refusals.refusalRate, 100 * refusals.interval95[0], 100 * refusals.interval95[1])
        if let klDivergence { s += String(format: "; first-token KL vs baseline: %.4f", klDivergence) }
        return s
    }
}
