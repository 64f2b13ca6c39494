import Foundation
import XCTest
import TestSupport
@testable import AbliterationCore
@testable import AbliterationPipeline
@testable import LanguageModels
import TensorKit

/// Rank statistics for comparing the first-token objective with generated refusal counts
/// (Docs/results.md, "The first-token objective").
final class FirstTokenObjectiveTests: XCTestCase {
    /// Ranks 1…n, ties given their mean rank.
    static func ranks(_ x: [Double]) -> [Double] {
        let order = x.indices.sorted { x[$0] < x[$1] }
        var r = [Double](repeating: 0, count: x.count)
        var i = 0
        while i < order.count {
            var j = i
            while j + 1 < order.count && x[order[j + 1]] == x[order[i]] { j += 1 }
            for k in i...j { r[order[k]] = Double(i + j) / 2 + 1 }
            i = j + 1
        }
        return r
    }

    /// Spearman's ρ: Pearson's correlation of the ranks.
    static func spearman(_ a: [Double], _ b: [Double]) -> Double {
        let ra = ranks(a), rb = ranks(b)
        let ma = ra.reduce(0, +) / Double(ra.count), mb = rb.reduce(0, +) / Double(rb.count)
        var sab = 0.0, saa = 0.0, sbb = 0.0
        for (x, y) in zip(ra, rb) {
            sab += (x - ma) * (y - mb)
            saa += (x - ma) * (x - ma)
            sbb += (y - mb) * (y - mb)
        }
        return sab / (saa * sbb).squareRoot()
    }

    func testSpearman() {
        XCTAssertEqual(Self.ranks([3, 1, 2, 2]), [4, 1, 2.5, 2.5])
        XCTAssertEqual(Self.spearman([1, 2, 3, 4], [10, 20, 30, 40]), 1, accuracy: 1e-12)
        XCTAssertEqual(Self.spearman([1, 2, 3, 4], [4, 3, 2, 1]), -1, accuracy: 1e-12)
    }

    /// The experiment of Docs/results.md ("The first-token objective"): 16 plans (four places × four
    /// scales) scored by the objective and by generated refusals on 64 harmful search prompts; prints the
    /// table, Spearman's ρ and the times. About 40 minutes on 2 busy cores, so it runs only with
    /// ABLITERATE_EXPERIMENTS=1. It asserts only what the score must do at the least: the strongest edits
    /// bring it below the unedited model's. (The goal ρ ≥ 0.8 across places is
    /// not met: 0.708, Docs/results.md.)
    func testRefusalScoreAgainstGeneratedRefusals() throws {
        guard ProcessInfo.processInfo.environment["ABLITERATE_EXPERIMENTS"] == "1" else {
            throw XCTSkip("an experiment of about 40 minutes: set ABLITERATE_EXPERIMENTS=1")
        }
        let session = try ModelSession.load(path: try TestModels.smolLM2(), adapter: Fixtures.refusalAdapter.path)
        let train = (harmful: try PromptSet.builtIn(.harmful, split: .train), harmless: try PromptSet.builtIn(.harmless, split: .train))
        let measurements = try ResidualMeasurement.measure(session: session, harmful: train.harmful, harmless: train.harmless)
        let harmful = PromptSet.evenlySpaced(train.harmful, count: 64), harmless = PromptSet.evenlySpaced(train.harmless, count: 64)
        var evaluation = EvaluationOptions()
        evaluation.maxNewTokens = 24
        let objective = try FirstTokenObjective.prepare(session: session, harmful: harmful, harmless: harmless, evaluation: evaluation)
        let decode = { (tokens: [Int]) in tokens.map { session.tokenizer.decode([$0], skipSpecialTokens: false) } }
        print("refusal openings: \(decode(objective.refusalTokens)), distinctive ones \(decode(objective.distinctiveOpenings)); unedited \(objective.uneditedRefusals.refusals)/64 refusals, score \(objective.uneditedScore)")
        var scores: [Double] = [], distinctiveScores: [Double] = [], counts: [Double] = []
        // Teacher-forced probability of the unedited model's own refusal (its first k tokens), k = 1, 2, 4, 8:
        // the mean over refused prompts of P(prefix), and of log P(prefix) / k.
        let lengths = [1, 2, 4, 8]
        let prefixes = objective.refusalCompletions.map { Array($0.prefix(lengths.max()!)) }
        var prefixScores = [[Double]](repeating: [], count: lengths.count), logScores = prefixScores
        var cheapSeconds = 0.0, generationSeconds = 0.0
        var rows: [String] = []
        for base in ["17:5-21", "20:8-24", "21:6-25", "24:12-27"] {
            for scale in [0.75, 1.0, 1.15, 1.3] as [Float] {
                let plan = try LayerPlan(entries: try LayerPlan(parsing: base).entries.map { $0.scaled(by: scale) })
                let (score, prefix, refusals, cheap, generated) = try ModelEditor.withPlan(
                    plan, measurements: measurements, options: AblationOptions(), model: session.model
                ) { () throws -> ((refusalScore: Double, distinctive: Double, klDivergence: Double), [(Double, Double)], Int, Double, Double) in
                    let t0 = Date()
                    let scored = try ModelEvaluation.continuationLogProbabilities(
                        session: session, prompts: harmful, continuations: prefixes, options: evaluation)
                    let harmfulLogProbabilities = scored.map(\.firstToken)
                    let kl = try ModelEvaluation.meanKLDivergence(
                        baseline: objective.baseline,
                        model: try ModelEvaluation.firstTokenLogProbabilities(session: session, prompts: harmless, options: evaluation))
                    let score = (refusalScore: objective.refusalScore(harmfulLogProbabilities),
                                 distinctive: objective.refusalScore(harmfulLogProbabilities, tokens: objective.distinctiveOpenings), klDivergence: kl)
                    let refused = scored.filter { !$0.cumulative.isEmpty }
                    let prefix = lengths.map { k -> (Double, Double) in
                        let values = refused.map { $0.cumulative[min(k, $0.cumulative.count) - 1] }
                        let lengthsUsed = refused.map { Double(min(k, $0.cumulative.count)) }
                        return (values.map { Foundation.exp($0) }.reduce(0, +) / Double(values.count),
                                zip(values, lengthsUsed).map { $0 / $1 }.reduce(0, +) / Double(values.count))
                    }
                    let t1 = Date()
                    let refusals = try ModelEvaluation.refusals(session: session, prompts: harmful, options: evaluation).refusals
                    return (score, prefix, refusals, t1.timeIntervalSince(t0), Date().timeIntervalSince(t1))
                }
                cheapSeconds += cheap
                generationSeconds += generated
                scores.append(score.refusalScore)
                distinctiveScores.append(score.distinctive)
                counts.append(Double(refusals))
                for (j, p) in prefix.enumerated() {
                    prefixScores[j].append(p.0)
                    logScores[j].append(p.1)
                }
                rows.append(String(format: "| %@ | %.3f | %@ | %d/64 | %.4f | %.1f s | %.1f s |", plan.description, score.refusalScore,
                                   prefix.map { String(format: "%.3f / %.2f", $0.0, $0.1) }.joined(separator: " | "),
                                   refusals, score.klDivergence, cheap, generated))
            }
        }
        print("| plan | first-token score | " + lengths.map { "P(own refusal, \($0) tokens) / mean log p" }.joined(separator: " | ")
              + " | generated refusals | KL | objective | generation (64 harmful, 24 tokens) |")
        print("|---|---|" + lengths.map { _ in "---|" }.joined() + "---|---|---|---|")
        rows.forEach { print($0) }
        print(String(format: "Spearman rho (refusal score, generated refusals) = %.3f over %d plans; objective %.0f s in all, generation %.0f s",
                     Self.spearman(scores, counts), scores.count, cheapSeconds, generationSeconds))
        print(String(format: "Spearman rho (score over the distinctive openings only, generated refusals) = %.3f", Self.spearman(distinctiveScores, counts)))
        for (j, k) in lengths.enumerated() {
            print(String(format: "Spearman rho (P(own refusal, %d tokens), generated refusals) = %.3f; mean log p per token: %.3f",
                         k, Self.spearman(prefixScores[j], counts), Self.spearman(logScores[j], counts)))
        }
        XCTAssertLessThan(scores.min()!, objective.uneditedScore)
    }
}
