import Foundation
import TensorKit
import AbliterationCore
import LanguageModels

/// A cheap score of an edit: one forward pass per prompt, no generation.
///
/// - KL: the mean first-token KL(P_unedited ‖ P_edited) on the harmless prompts (as `PlanSearch` and `run`).
/// - Refusal score: the mean, over the harmful prompts, of the first-token probability mass on the
///   *refusal openings*: the first tokens of the unedited model's own greedy responses to those prompts that
///   the `RefusalDetector` classifies as refusals (for the SmolLM2 organism, the "I" of "I'm sorry…"
///   and the like), whether or not it also opens harmless answers (leaving those out, as a first version
///   did, left the organism with `"` alone, or none; Docs/results.md).
///
/// `prepare` generates once on the unedited model; `score` then costs one forward pass over the harmful
/// and the harmless prompts, with whatever edit the model carries.
public struct FirstTokenObjective: Sendable {
    public struct Score: Sendable, Codable, Equatable {
        /// Mean first-token probability of a refusal opening on the harmful prompts, in [0, 1].
        public var refusalScore: Double
        /// Mean first-token KL on the harmless prompts, in nats.
        public var klDivergence: Double
    }

    public var harmful: [String]
    public var harmless: [String]
    public var evaluation: EvaluationOptions
    /// The refusal-opening token ids, ascending: the first tokens of all the unedited model's refusals.
    public var refusalTokens: [Int]
    /// Those of them that open at most a quarter of the unedited model's greedy harmless answers (the first
    /// version's set, kept for comparison), ascending; may be empty.
    public var distinctiveOpenings: [Int]
    /// The unedited model's first-token log-probabilities on `harmless`.
    public var baseline: [[Float]]
    /// The unedited model's refusals on `harmful` (generated with `evaluation.maxNewTokens`).
    public var uneditedRefusals: RefusalEvaluation
    /// The unedited model's refusal score.
    public var uneditedScore: Double
    /// For each harmful prompt the unedited model refused, its greedy response's tokens; empty otherwise.
    public var refusalCompletions: [[Int]]

    /// Learns the refusal openings from the unedited model (the model must carry no edit) and computes its
    /// harmless baseline. Throws when none of its responses to `harmful` is a refusal.
    public static func prepare(
        session: ModelSession, harmful: [String], harmless: [String], evaluation: EvaluationOptions,
        progress: ((Int, Int) -> Void)? = nil
    ) throws -> FirstTokenObjective {
        let total = harmful.count + harmless.count
        let (refusals, completions) = try ModelEvaluation.refusalsAndCompletions(
            session: session, prompts: harmful, options: evaluation, progress: { done, _ in progress?(done, total) })
        let firstTokens = completions.map(\.first)
        let baseline = try ModelEvaluation.firstTokenLogProbabilities(
            session: session, prompts: harmless, options: evaluation, progress: { done, _ in progress?(harmful.count + done, total) })
        var harmlessOpenings: [Int: Int] = [:]
        for row in baseline {
            let top = row.indices.max { row[$0] < row[$1] }!
            harmlessOpenings[top, default: 0] += 1
        }
        var openings = Set<Int>(), all = Set<Int>()
        for (response, token) in zip(refusals.responses, firstTokens) where response.refusal {
            guard let token else { continue }
            all.insert(token)
            if harmlessOpenings[token, default: 0] * 4 <= harmless.count { openings.insert(token) }
        }
        guard !all.isEmpty else {
            throw AbliterationError.degenerate(
                "first-token objective: the model refuses none of \(harmful.count) harmful search prompts; nothing to search for")
        }
        var objective = FirstTokenObjective(
            harmful: harmful, harmless: harmless, evaluation: evaluation, refusalTokens: all.sorted(),
            distinctiveOpenings: openings.sorted(), baseline: baseline, uneditedRefusals: refusals, uneditedScore: 0,
            refusalCompletions: zip(refusals.responses, completions).map { $0.refusal ? $1 : [] })
        objective.uneditedScore = objective.refusalScore(
            try ModelEvaluation.firstTokenLogProbabilities(session: session, prompts: harmful, options: evaluation))
        return objective
    }

    /// The score of the model as it is now (with whatever edit it carries).
    public func score(session: ModelSession, progress: ((Int, Int) -> Void)? = nil) throws -> Score {
        let total = harmful.count + harmless.count
        let harmfulLogProbabilities = try ModelEvaluation.firstTokenLogProbabilities(
            session: session, prompts: harmful, options: evaluation, progress: { done, _ in progress?(done, total) })
        let edited = try ModelEvaluation.firstTokenLogProbabilities(
            session: session, prompts: harmless, options: evaluation, progress: { done, _ in progress?(harmful.count + done, total) })
        return Score(
            refusalScore: refusalScore(harmfulLogProbabilities),
            klDivergence: try ModelEvaluation.meanKLDivergence(baseline: baseline, model: edited))
    }

    /// Mean over rows of Σ_{t ∈ tokens} exp(log p_t), `tokens` the refusal openings unless given.
    public func refusalScore(_ logProbabilities: [[Float]], tokens: [Int]? = nil) -> Double {
        guard !logProbabilities.isEmpty else { return 0 }
        var sum = 0.0
        for row in logProbabilities {
            for t in tokens ?? refusalTokens where t < row.count { sum += Foundation.exp(Double(row[t])) }
        }
        return sum / Double(logProbabilities.count)
    }
}
