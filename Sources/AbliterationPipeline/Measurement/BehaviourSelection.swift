import Foundation
import AbliterationCore

/// The training prompts kept when the means are measured by behaviour (`--by-behaviour`): the harmful
/// prompts the model refuses and the harmless prompts it answers.
///
/// mean_harmful − mean_harmless is meant to be the refusal direction. When a model refuses some harmless
/// prompts (the SmolLM2 refusal organism refuses 118 of the 278 built-in harmless training prompts, whose
/// phrasing mirrors the harmful ones) the harmless mean holds part of the refusal, and the difference, and
/// the projected method that removes the harmless mean's component, lose it; harmful prompts the model
/// answers dilute the harmful mean the same way. Each prompt is generated from greedily (`maxNewTokens`,
/// stopped at the first refusal marker) and judged by the refusal detector, as the evaluation judges.
public struct BehaviourSelection: Sendable, Codable, Equatable {
    /// Indices of the harmful prompts the model refused, ascending.
    public var harmful: [Int]
    /// Indices of the harmless prompts the model answered, ascending.
    public var harmless: [Int]
    /// How many of each set were judged.
    public var harmfulTotal: Int
    public var harmlessTotal: Int

    /// Tokens generated per prompt to judge it (the plan search's default).
    public static let defaultMaxNewTokens = 24

    /// Judges every prompt of `harmful` and `harmless` and keeps those that behave as their set says.
    /// Throws, naming the set, when none of a set is kept (no direction can be measured from it).
    public static func select(
        session: ModelSession, harmful: [String], harmless: [String], options: EvaluationOptions,
        progress: ((Int, Int) -> Void)? = nil
    ) throws -> BehaviourSelection {
        var judging = options
        judging.stopAtRefusal = true
        let total = harmful.count + harmless.count
        let refusedHarmful = try ModelEvaluation.refusals(
            session: session, prompts: harmful, options: judging, progress: { done, _ in progress?(done, total) })
        let refusedHarmless = try ModelEvaluation.refusals(
            session: session, prompts: harmless, options: judging,
            progress: { done, _ in progress?(harmful.count + done, total) })
        let selection = BehaviourSelection(
            harmful: refusedHarmful.responses.indices.filter { refusedHarmful.responses[$0].refusal },
            harmless: refusedHarmless.responses.indices.filter { !refusedHarmless.responses[$0].refusal },
            harmfulTotal: harmful.count, harmlessTotal: harmless.count)
        guard !selection.harmful.isEmpty else {
            throw AbliterationError.invalidInput(
                "--by-behaviour: the model refuses none of the \(harmful.count) harmful training prompts (\(judging.maxNewTokens) tokens each); there is no refusal to measure")
        }
        guard !selection.harmless.isEmpty else {
            throw AbliterationError.invalidInput(
                "--by-behaviour: the model refuses all \(harmless.count) harmless training prompts (\(judging.maxNewTokens) tokens each); there is nothing answered to measure against")
        }
        return selection
    }

    /// The kept elements of `values`, given for the harmful (or harmless) prompts in their order.
    public func keptHarmful<T>(_ values: [T]) -> [T] { harmful.map { values[$0] } }
    public func keptHarmless<T>(_ values: [T]) -> [T] { harmless.map { values[$0] } }

    /// "refused 210/263 harmful, answered 160/278 harmless".
    public var summary: String {
        "refused \(harmful.count)/\(harmfulTotal) harmful, answered \(harmless.count)/\(harmlessTotal) harmless"
    }
}
