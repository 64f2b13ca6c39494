import Foundation
import TensorKit
import AbliterationCore
import LanguageModels

/// Chooses a layer plan by trying candidates on the model in memory.
///
/// Each candidate is applied to the model (`ModelEditor.withPlan`: in the forward pass, or on the weights
/// for edits that are not projections of block outputs), scored on a small validation set drawn from the
/// *training* prompts (refusals among short greedy responses to harmful prompts; first-token KL against
/// the unedited model on harmless prompts), and undone. The chosen plan
/// is the one with the lowest KL among those whose refusal rate is at most `refusalTarget`; when none
/// reaches it, the one with the fewest refusals (then the lowest KL). The held-out test prompts are never
/// seen by the search.
public struct PlanSearch: Sendable {
    public struct Candidate: Sendable, Codable, Equatable {
        public var plan: String
        public var refusals: Int
        public var total: Int
        public var klDivergence: Double
        /// The cheap refusal score (`ScreeningObjective`: the probability of the unedited model's own refusal prefixes), when the search computed one.
        public var refusalScore: Double?
        public var refusalRate: Double { total == 0 ? 0 : Double(refusals) / Double(total) }

        public init(plan: String, refusals: Int, total: Int, klDivergence: Double, refusalScore: Double? = nil) {
            self.plan = plan
            self.refusals = refusals
            self.total = total
            self.klDivergence = klDivergence
            self.refusalScore = refusalScore
        }
    }

    /// How the plan is chosen among scored candidates.
    public enum Selection: Sendable, Equatable, CustomStringConvertible {
        /// The lowest KL at a refusal rate ≤ the target; when none reaches it, the fewest refusals (then the lowest KL).
        case maxRefusals(Double)
        /// The fewest refusals at KL ≤ the bound (then the lowest KL); when none is that close, the lowest KL.
        case maxKL(Double)
        /// The knee of the Pareto front: with refusal rate and KL each scaled to the front's range (0 at its
        /// best end, 1 at its worst), the point of the front farthest below the straight line joining the
        /// front's two ends, the one maximizing 1 − x − y; of equals the one with fewer refusals. With fewer
        /// than three points on the front, the one with the fewest refusals.
        case knee

        public var description: String {
            switch self {
            case .maxRefusals(let r): return "lowest KL at refusal rate <= \(r), else fewest refusals"
            case .maxKL(let k): return "fewest refusals at KL <= \(k), else lowest KL"
            case .knee: return "the knee of the Pareto front"
            }
        }

        public func choose(_ results: [Candidate]) -> Int {
            switch self {
            case .maxRefusals(let target):
                let passing = results.indices.filter { results[$0].refusalRate <= target }
                return passing.min { results[$0].klDivergence < results[$1].klDivergence }
                    ?? results.indices.min { (results[$0].refusals, results[$0].klDivergence) < (results[$1].refusals, results[$1].klDivergence) }!
            case .maxKL(let bound):
                let close = results.indices.filter { results[$0].klDivergence <= bound }
                return close.min { (results[$0].refusals, results[$0].klDivergence) < (results[$1].refusals, results[$1].klDivergence) }
                    ?? results.indices.min { results[$0].klDivergence < results[$1].klDivergence }!
            case .knee:
                // On the front refusal rates rise and KLs fall strictly, so both ranges are positive.
                let f = PlanSearch.front(results)
                guard f.count >= 3 else { return f[0] }
                let first = results[f[0]], last = results[f[f.count - 1]]
                let rates = last.refusalRate - first.refusalRate, kls = first.klDivergence - last.klDivergence
                func below(_ i: Int) -> Double {
                    1 - (results[i].refusalRate - first.refusalRate) / rates - (results[i].klDivergence - last.klDivergence) / kls
                }
                return f.reduce(f[0]) { below($1) > below($0) ? $1 : $0 }
            }
        }
    }

    public var harmful: [String]
    public var harmless: [String]
    public var maxNewTokens: Int
    public var refusalTarget: Double
    public var evaluation: EvaluationOptions

    public init(harmful: [String], harmless: [String], maxNewTokens: Int = 24, refusalTarget: Double = 0.05,
                evaluation: EvaluationOptions = .init()) {
        self.harmful = harmful
        self.harmless = harmless
        self.maxNewTokens = maxNewTokens
        self.refusalTarget = refusalTarget
        self.evaluation = evaluation
    }

    /// The default candidates: for the two best-separating layers of the analysis and the residuals at
    /// 60%, 65% and 70% of the depth, the suggested span and one reaching 10% of the depth further down,
    /// at scale 1 (duplicates dropped); then the blocks from 70% of the depth to the last,
    /// each against its own output's direction (`ownDirections`). `run` then refines the best of them by its scale (`refine`) when
    /// it misses the refusal target.
    ///
    /// With `reading` (an edit of the weights that read the residual, `EditTarget.readers`), the span of
    /// a measurement layer m is the blocks that read residual m and after: m…(layers − 1), one per layer.
    public static func defaultCandidates(_ analysis: MeasurementAnalysis, reading: Bool = false) throws -> [LayerPlan] {
        let l = analysis.metadata.layerCount
        var layers = analysis.suggestedLayers(count: 2)
        for f in [0.6, 0.65, 0.7] { layers.append(Int((f * Double(l)).rounded())) }
        var seen = Set<String>()
        var plans: [LayerPlan] = []
        for m in layers where m >= 1 && m <= l {
            let spans: [ClosedRange<Int>]
            if reading {
                guard m < l else { continue }
                spans = [m...(l - 1)]
            } else {
                let span = analysis.suggestedSpan(for: m)
                spans = [span, max(0, span.lowerBound - Int((0.1 * Double(l)).rounded()))...span.upperBound]
            }
            for targets in spans {
                let plan = try LayerPlan(entries: [.init(measurementLayer: Double(m), targets: targets, scale: 1)])
                try plan.validate(layerCount: l)
                if seen.insert(plan.description).inserted { plans.append(plan) }
            }
        }
        let first = Int((0.7 * Double(l)).rounded())
        if !reading, first < l {
            let plan = try ownDirections(first...(l - 1), layerCount: l)
            if seen.insert(plan.description).inserted { plans.append(plan) }
        }
        return plans
    }

    /// The default candidates of a row-normalized edit (`NormPreservation.rows`, heretic's default):
    /// the blocks from 40%, 55% and 70% of the depth to the last, each against its own output's
    /// direction (`ownDirections`, heretic's per-layer scope), at scales 1 and 1.5 (the row normalization
    /// gives back part of what it removes). One direction over a span did worse under this edit on both
    /// organisms (Docs/results.md), so no span is among them, and `run`'s scale refinement, which refines
    /// spans, does not run.
    public static func rowNormalizedCandidates(_ analysis: MeasurementAnalysis) throws -> [LayerPlan] {
        let l = analysis.metadata.layerCount
        var seen = Set<String>()
        var plans: [LayerPlan] = []
        for f in [0.4, 0.55, 0.7] {
            let first = Int((f * Double(l)).rounded())
            guard first < l else { continue }
            for scale: Float in [1, 1.5] {
                let plan = try ownDirections(first...(l - 1), layerCount: l, scale: scale)
                if seen.insert(plan.description).inserted { plans.append(plan) }
            }
        }
        guard !plans.isEmpty else { throw AbliterationError.invalidPlan("plan search: a model of \(l) layers has no per-block plan") }
        return plans
    }

    /// Each block of `blocks` edited against the direction of the residual it writes, its output
    /// (block ℓ with the direction measured at residual ℓ + 1: `16:15,17:16,…`), at `scale`: heretic's
    /// "per layer" direction scope. On the SmolLM2 organism blocks 21–29 edited this way remove about
    /// two thirds of the refusals at under half the KL of one direction over an early span, and no scale
    /// removes the rest (Docs/results.md): they fill the middle of the Pareto front, not its low-refusal end.
    public static func ownDirections(_ blocks: ClosedRange<Int>, layerCount: Int, scale: Float = 1) throws -> LayerPlan {
        let plan = try LayerPlan(entries: blocks.map { .init(measurementLayer: Double($0 + 1), targets: $0...$0, scale: scale) })
        try plan.validate(layerCount: layerCount)
        return plan
    }

    /// The unedited model's first-token log-probabilities on the harmless search prompts, the reference
    /// every candidate's KL is taken against. Compute it once per search, before any edit.
    /// `progress(done, total)` follows the prompts.
    public func baseline(session: ModelSession, progress: ((Int, Int) -> Void)? = nil) throws -> [[Float]] {
        try ModelEvaluation.firstTokenLogProbabilities(session: session, prompts: harmless, options: evaluation, progress: progress)
    }

    /// Scores every candidate and returns them with the index of the chosen one. `baseline` is
    /// `baseline(session:)`, computed on the unedited model (by this call when nil). `progress` is called
    /// after each candidate; `stepProgress` follows the prompts of each (step "candidate i/n PLAN").
    public func run(
        session: ModelSession, measurements: Measurements, candidates: [LayerPlan], options: AblationOptions,
        baseline: [[Float]]? = nil, progress: ((Int, Int, Candidate) -> Void)? = nil,
        stepProgress: ProgressHandler? = nil
    ) throws -> (candidates: [Candidate], chosen: Int) {
        guard !candidates.isEmpty else { throw AbliterationError.invalidPlan("plan search: no candidate plans") }
        var evaluation = self.evaluation
        evaluation.maxNewTokens = maxNewTokens
        evaluation.stopAtRefusal = true  // only the count is kept
        let baseline = try baseline ?? self.baseline(session: session)
        var results: [Candidate] = []
        for (i, plan) in candidates.enumerated() {
            let step = "candidate \(i + 1)/\(candidates.count) \(plan)", total = harmful.count + harmless.count
            stepProgress?(StepProgress(step: step, done: 0, total: total, unit: "prompts"))
            // In the forward pass when the options allow, else on the weights (restored after scoring).
            let (refusals, edited) = try ModelEditor.withPlan(
                plan, measurements: measurements, options: options, model: session.model
            ) { () throws -> (RefusalEvaluation, [[Float]]) in
                let refusals = try ModelEvaluation.refusals(
                    session: session, prompts: harmful, options: evaluation,
                    progress: { done, _ in stepProgress?(StepProgress(step: step, done: done, total: total, unit: "prompts")) })
                let edited = try ModelEvaluation.firstTokenLogProbabilities(
                    session: session, prompts: harmless, options: evaluation,
                    progress: { done, _ in
                        stepProgress?(StepProgress(step: step, done: self.harmful.count + done, total: total, unit: "prompts"))
                    })
                return (refusals, edited)
            }
            let kl = try ModelEvaluation.meanKLDivergence(baseline: baseline, model: edited)
            let candidate = Candidate(plan: plan.description, refusals: refusals.refusals, total: refusals.total, klDivergence: kl)
            results.append(candidate)
            progress?(i + 1, candidates.count, candidate)
        }
        return (results, choose(results))
    }

    /// Scores `plan` at the global scale factors `refinement` asks for (growing until one reaches the
    /// refusal target, then bisecting towards the smallest that does) and returns every plan tried with
    /// its score, in the order tried. `baseline` is `baseline(session:)` of the unedited model.
    public func refine(
        _ plan: LayerPlan, session: ModelSession, measurements: Measurements, options: AblationOptions,
        baseline: [[Float]], refinement: ScaleRefinement = .init(), progress: ((Candidate) -> Void)? = nil,
        stepProgress: ProgressHandler? = nil
    ) throws -> [(plan: LayerPlan, candidate: Candidate)] {
        var refinement = refinement
        var tried: [(plan: LayerPlan, candidate: Candidate)] = []
        while let factor = refinement.next {
            let scaled = try plan.scaled(by: factor)
            let scored = try run(
                session: session, measurements: measurements, candidates: [scaled], options: options, baseline: baseline,
                stepProgress: stepProgress.map { handler in { report in
                    var renamed = report
                    renamed.step = "refinement \(scaled)"
                    handler(renamed)
                } })
            let candidate = scored.candidates[0]
            tried.append((scaled, candidate))
            progress?(candidate)
            refinement.record(factor: factor, reachedTarget: candidate.refusalRate <= refusalTarget)
        }
        return tried
    }

    /// The factors at which `run` also scores the plan its grid search chose, so that the Pareto front it
    /// reports reaches from that plan towards edits that barely move the model (low KL, most refusals kept).
    public static let frontFactors: [Float] = [0.5, 0.75]

    /// The factors at which `run` also scores the per-block (`ownDirections`) plan of the front with the
    /// lowest KL, ×0.25 to ×0.75 in eighths and ×1.5: the middle and the weak end of the front, between the
    /// chosen plan and the unedited model, where heretic's front was denser than ours (Docs/results.md).
    public static let ownDirectionFrontFactors: [Float] = [0.25, 0.375, 0.5, 0.625, 0.75, 1.5]

    /// The plans `run` scores after its grid search so that the front it reports reaches from the chosen
    /// plan to edits that barely move the model: the plan `selection` picks from `scored` at `frontFactors`
    /// of its scales, and the per-block plan (not `isSingleSpan`) of the front with the lowest KL at
    /// `ownDirectionFrontFactors`; plans already among `candidates` are left out. `scored[i]` is the score
    /// of `candidates[i]`. When every candidate is a per-block plan (`rowNormalizedCandidates`) the chosen
    /// plan alone is scaled, at both lists of factors: the per-block plan of the front with the lowest KL
    /// is then the weakest edit, whose ladder would only repeat the unedited model.
    public static func frontLadder(
        _ candidates: [LayerPlan], scored: [Candidate], selection: Selection
    ) throws -> [LayerPlan] {
        guard !candidates.isEmpty else { throw AbliterationError.invalidPlan("plan search: no candidate plans") }
        try checkScores(candidates, scored)
        let chosen = candidates[selection.choose(scored)]
        if candidates.allSatisfy({ !$0.isSingleSpan }) {
            var known = Set(candidates.map(\.description))
            return try Set(frontFactors + ownDirectionFrontFactors).sorted()
                .map { try chosen.scaled(by: $0) }.filter { known.insert($0.description).inserted }
        }
        var ladders = [(chosen, frontFactors)]
        if let own = front(scored).filter({ !candidates[$0].isSingleSpan })
            .min(by: { scored[$0].klDivergence < scored[$1].klDivergence }) {
            ladders.append((candidates[own], ownDirectionFrontFactors))
        }
        var known = Set(candidates.map(\.description))
        return try ladders.flatMap { plan, factors in
            try factors.map { try plan.scaled(by: $0) }
        }.filter { known.insert($0.description).inserted }
    }

    /// How many plans `run` adds with `frontFill`, one at a time, after its front ladder.
    public static let frontFills = 3

    /// The plan that fills the widest gap of the front: of the pairs of plans next to each other on the
    /// front (by refusals) that are one plan at two scales, the pair that leaves the largest rectangle
    /// unexplored, (refusals₂ − refusals₁) · ln(KL₁ / KL₂), gives the plan halfway between their scales
    /// (`LayerPlan.scaleMidpoint`). Pairs one refusal apart are skipped (nothing can fall between them in
    /// refusals), as are midpoints already among `candidates`; nil when no pair is left. `scored[i]` is the
    /// score of `candidates[i]`.
    public static func frontFill(_ candidates: [LayerPlan], scored: [Candidate]) throws -> LayerPlan? {
        try checkScores(candidates, scored)
        let known = Set(candidates.map(\.description))
        let onFront = front(scored)
        var best: (gap: Double, plan: LayerPlan)?
        for (i, j) in zip(onFront, onFront.dropFirst()) {
            let (a, b) = (scored[i], scored[j])
            guard b.refusals - a.refusals >= 2, a.klDivergence > 0, b.klDivergence > 0,
                  let middle = try candidates[i].scaleMidpoint(candidates[j]), !known.contains(middle.description)
            else { continue }
            let gap = Double(b.refusals - a.refusals) * log(a.klDivergence / b.klDivergence)
            if gap > (best?.gap ?? 0) { best = (gap, middle) }
        }
        return best?.plan
    }

    /// `scored[i]` must be the score of `candidates[i]`.
    private static func checkScores(_ candidates: [LayerPlan], _ scored: [Candidate]) throws {
        guard candidates.count == scored.count else {
            throw AbliterationError.invalidPlan("plan search: \(candidates.count) candidates for \(scored.count) scores")
        }
    }

    /// The candidates not dominated in (refusals, KL) (both lower is better; of equal points the first),
    /// ascending by refusals.
    public static func front(_ results: [Candidate]) -> [Int] {
        ProfileSearch.paretoFront(results.map { (Double($0.refusals), $0.klDivergence) })
    }

    /// Lowest KL among candidates at or under the refusal target; otherwise fewest refusals, then lowest KL.
    public func choose(_ results: [Candidate]) -> Int { Selection.maxRefusals(refusalTarget).choose(results) }
}
