import Foundation
import TensorKit
import AbliterationCore
import LanguageModels

/// A cheap score of an edit, for screening many candidate plans: one teacher-forced forward pass per
/// prompt, no generation.
///
/// - KL: the mean first-token KL(P_unedited ‖ P_edited) on the harmless prompts (as `PlanSearch` and `run`).
/// - Refusal score: the mean, over the harmful prompts the unedited model refuses, of the probability the
///   edited model gives the first `prefixLength` tokens of the unedited model's own greedy refusal,
///   P(c₀…c_{k−1} | prompt) = Π_j p(c_j | prompt, c_<j), teacher-forced. With k = 4 it ranks 16 plans as
///   their generated refusal counts do with Spearman ρ = 0.982 on the SmolLM2 organism and 0.988 on the
///   Gemma 3 one; the first-token probability of the refusal openings, the first version of this score,
///   reached 0.714 on SmolLM2 (Docs/results.md). An edit that makes the model refuse in other words lowers
///   the score without removing the refusal: the search confirms its short list by generation.
///
/// `prepare` generates once on the unedited model; `score` then costs one forward pass over the refused
/// harmful prompts (each with k − 1 more tokens) and one over the harmless prompts, with whatever edit the
/// model carries.
public struct ScreeningObjective: Sendable {
    public struct Score: Sendable, Codable, Equatable {
        /// Mean probability of the unedited model's own refusal prefix on the prompts it refused, in [0, 1].
        public var refusalScore: Double
        /// Mean first-token KL on the harmless prompts, in nats.
        public var klDivergence: Double
    }

    /// The default prefix length: 4 tokens (ρ 0.982 and 0.988 on the two organisms; 8 tokens gave 0.985
    /// and 0.969, 1 token 0.714 and 0.967).
    public static let defaultPrefixLength = 4

    public var harmless: [String]
    public var evaluation: EvaluationOptions
    /// The harmful prompts the unedited model refused, and the first tokens of each refusal (1 to
    /// `prefixLength` of them; a refusal of no tokens, an empty response, is left out).
    public var refusedPrompts: [String]
    public var refusalPrefixes: [[Int]]
    public var prefixLength: Int
    /// The unedited model's first-token log-probabilities on `harmless`.
    public var baseline: [[Float]]
    /// The unedited model's refusals on all the harmful prompts (generated with `evaluation.maxNewTokens`).
    public var uneditedRefusals: RefusalEvaluation
    /// The unedited model's refusal score (its own greedy prefixes' probability).
    public var uneditedScore: Double

    /// Learns the refusals of the unedited model (the model must carry no edit) and computes its harmless
    /// baseline. Throws when none of its responses to `harmful` is a (non-empty) refusal.
    public static func prepare(
        session: ModelSession, harmful: [String], harmless: [String], evaluation: EvaluationOptions,
        prefixLength: Int = defaultPrefixLength, progress: ((Int, Int) -> Void)? = nil
    ) throws -> ScreeningObjective {
        guard prefixLength >= 1 else {
            throw AbliterationError.invalidInput("screening objective: the refusal prefix length must be at least 1, got \(prefixLength)")
        }
        let total = harmful.count + harmless.count
        let (refusals, completions) = try ModelEvaluation.refusalsAndCompletions(
            session: session, prompts: harmful, options: evaluation, progress: { done, _ in progress?(done, total) })
        let baseline = try ModelEvaluation.firstTokenLogProbabilities(
            session: session, prompts: harmless, options: evaluation, progress: { done, _ in progress?(harmful.count + done, total) })
        var refusedPrompts: [String] = [], prefixes: [[Int]] = []
        for (i, response) in refusals.responses.enumerated() where response.refusal && !completions[i].isEmpty {
            refusedPrompts.append(harmful[i])
            prefixes.append(Array(completions[i].prefix(prefixLength)))
        }
        guard !refusedPrompts.isEmpty else {
            throw AbliterationError.degenerate(
                "screening objective: the model refuses none of \(harmful.count) harmful search prompts; nothing to search for")
        }
        var objective = ScreeningObjective(
            harmless: harmless, evaluation: evaluation, refusedPrompts: refusedPrompts, refusalPrefixes: prefixes,
            prefixLength: prefixLength, baseline: baseline, uneditedRefusals: refusals, uneditedScore: 0)
        objective.uneditedScore = try objective.refusalScore(session: session)
        return objective
    }

    /// The score of the model as it is now (with whatever edit it carries).
    public func score(session: ModelSession, progress: ((Int, Int) -> Void)? = nil) throws -> Score {
        let total = refusedPrompts.count + harmless.count
        let refusal = try refusalScore(session: session, progress: { done, _ in progress?(done, total) })
        let edited = try ModelEvaluation.firstTokenLogProbabilities(
            session: session, prompts: harmless, options: evaluation,
            progress: { done, _ in progress?(refusedPrompts.count + done, total) })
        return Score(refusalScore: refusal, klDivergence: try ModelEvaluation.meanKLDivergence(baseline: baseline, model: edited))
    }

    /// Mean over the refused prompts of exp(log P(prefix | prompt)) under the model as it is now.
    public func refusalScore(session: ModelSession, progress: ((Int, Int) -> Void)? = nil) throws -> Double {
        let scored = try ModelEvaluation.continuationLogProbabilities(
            session: session, prompts: refusedPrompts, continuations: refusalPrefixes, options: evaluation, progress: progress)
        return scored.map { Foundation.exp($0.cumulative.last ?? 0) }.reduce(0, +) / Double(scored.count)
    }
}
