import Foundation
import XCTest
import TestSupport
@testable import AbliterationCore
@testable import AbliterationPipeline
@testable import LanguageModels
import TensorKit

/// Rank statistics for comparing the screening objective with generated refusal counts
/// (Docs/results.md, "The screening objective").
final class ScreeningObjectiveTests: XCTestCase {
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

    /// The objective on the organism, small: the unedited model scores its own refusal prefixes as
    /// `prepare` did, with no KL; a strong edit takes most of that probability away.
    func testScreeningObjectiveOnTheOrganism() throws {
        let (session, train, measurements) = try SmallOrganismMeasurement.load()
        let harmful = PromptSet.evenlySpaced(train.harmful, count: 12), harmless = PromptSet.evenlySpaced(train.harmless, count: 12)
        var evaluation = EvaluationOptions()
        evaluation.maxNewTokens = 12
        let objective = try ScreeningObjective.prepare(
            session: session, harmful: harmful, harmless: harmless, evaluation: evaluation, prefixLength: 4)
        XCTAssertFalse(objective.refusedPrompts.isEmpty)
        XCTAssertEqual(objective.refusedPrompts.count, objective.refusalPrefixes.count)
        XCTAssertLessThanOrEqual(objective.refusedPrompts.count, objective.uneditedRefusals.refusals)
        XCTAssertTrue(objective.refusalPrefixes.allSatisfy { (1...4).contains($0.count) })
        XCTAssertTrue(Set(objective.refusedPrompts).isSubset(of: harmful))
        XCTAssertGreaterThan(objective.uneditedScore, 0.1)
        XCTAssertLessThanOrEqual(objective.uneditedScore, 1)

        let unedited = try objective.score(session: session)
        XCTAssertEqual(unedited.refusalScore, objective.uneditedScore, accuracy: 1e-9)
        XCTAssertLessThan(unedited.klDivergence, 1e-6)
        let edited = try ModelEditor.withPlan(
            try LayerPlan(parsing: "21:6-25@1.3"), measurements: measurements, options: AblationOptions(), model: session.model
        ) { try objective.score(session: session) }
        XCTAssertLessThan(edited.refusalScore, objective.uneditedScore / 2)
        XCTAssertGreaterThan(edited.klDivergence, 0.01)
        XCTAssertThrowsError(try ScreeningObjective.prepare(
            session: session, harmful: harmful, harmless: harmless, evaluation: evaluation, prefixLength: 0))
    }

    /// The experiment of Docs/results.md ("The screening objective"): 16 plans (four places × four scales)
    /// scored by generated refusals on 64 harmful search prompts, by the first-token mass of the refusal
    /// openings (the first version of the objective: ρ 0.714) and by the probability of the unedited model's
    /// own refusal prefix (1, 2, 4, 8 tokens); prints the table, Spearman's ρ and the times. About 16
    /// minutes on 2 quiet cores, so it runs only with ABLITERATE_EXPERIMENTS=1. Asserts that the strongest
    /// edits bring the 8-token score below the unedited model's and that the objective's default (4 tokens)
    /// ranks the plans as generation does (ρ > 0.8; measured 0.982, and 0.988 on the Gemma organism).
    func testRefusalScoreAgainstGeneratedRefusals() throws {
        guard ProcessInfo.processInfo.environment["ABLITERATE_EXPERIMENTS"] == "1" else {
            throw XCTSkip("an experiment of about 16 minutes: set ABLITERATE_EXPERIMENTS=1")
        }
        try rankingExperiment(
            model: try TestModels.smolLM2(), adapter: Fixtures.refusalAdapter.path,
            places: ["17:5-21", "20:8-24", "21:6-25", "24:12-27"], scales: [0.75, 1.0, 1.15, 1.3], options: AblationOptions())
    }

    /// The same experiment on the Gemma 3 organism, with its edit (`--targets inputs`: the reading weights
    /// stop reading r̂; Docs/results.md, Gemma 3) and `run`'s candidate places for it.
    func testRefusalScoreAgainstGeneratedRefusalsOnGemma() throws {
        guard ProcessInfo.processInfo.environment["ABLITERATE_EXPERIMENTS"] == "1" else {
            throw XCTSkip("an experiment of about 40 minutes: set ABLITERATE_EXPERIMENTS=1")
        }
        try rankingExperiment(
            model: try TestModels.gemma3(), adapter: Fixtures.gemmaRefusalAdapter.path,
            places: ["10:10-17", "11:11-17", "12:12-17", "13:13-17"], scales: [0.75, 1.0, 1.25, 1.5],
            options: AblationOptions(targets: EditTarget.readers))
    }

    private func rankingExperiment(
        model: String, adapter: String, places: [String], scales: [Float], options: AblationOptions
    ) throws {
        let session = try ModelSession.load(path: model, adapter: adapter)
        let train = (harmful: try PromptSet.builtIn(.harmful, split: .train), harmless: try PromptSet.builtIn(.harmless, split: .train))
        let measurements = try ResidualMeasurement.measure(session: session, harmful: train.harmful, harmless: train.harmless)
        let harmful = PromptSet.evenlySpaced(train.harmful, count: 64), harmless = PromptSet.evenlySpaced(train.harmless, count: 64)
        var evaluation = EvaluationOptions()
        evaluation.maxNewTokens = 24
        let objective = try ScreeningObjective.prepare(
            session: session, harmful: harmful, harmless: harmless, evaluation: evaluation, prefixLength: 8)
        // The first version's score: the first-token mass of the refusal openings (the refusals' first tokens),
        // over all 64 harmful prompts; and of the openings that open at most a quarter of the greedy harmless answers.
        let openings = Set(objective.refusalPrefixes.map { $0[0] }).sorted()
        var harmlessOpenings: [Int: Int] = [:]
        for row in objective.baseline { harmlessOpenings[row.indices.max { row[$0] < row[$1] }!, default: 0] += 1 }
        let distinctiveOpenings = openings.filter { harmlessOpenings[$0, default: 0] * 4 <= harmless.count }
        func mass(_ rows: [[Float]], _ tokens: [Int]) -> Double {
            rows.map { row in tokens.map { Foundation.exp(Double(row[$0])) }.reduce(0, +) }.reduce(0, +) / Double(rows.count)
        }
        let decode = { (tokens: [Int]) in tokens.map { session.tokenizer.decode([$0], skipSpecialTokens: false) } }
        print("refusal openings: \(decode(openings)), distinctive ones \(decode(distinctiveOpenings)); unedited \(objective.uneditedRefusals.refusals)/64 refusals, prefix score \(objective.uneditedScore)")
        var scores: [Double] = [], distinctiveScores: [Double] = [], counts: [Double] = []
        // Teacher-forced probability of the unedited model's own refusal (its first k tokens), k = 1, 2, 4, 8:
        // the mean over refused prompts of P(prefix), and of log P(prefix) / k.
        let lengths = [1, 2, 4, 8]
        let prefixOf = Dictionary(uniqueKeysWithValues: zip(objective.refusedPrompts, objective.refusalPrefixes))
        let prefixes = harmful.map { prefixOf[$0] ?? [] }
        XCTAssertEqual(objective.prefixLength, lengths.max()!)
        var prefixScores = [[Double]](repeating: [], count: lengths.count), logScores = prefixScores
        var cheapSeconds = 0.0, generationSeconds = 0.0
        var rows: [String] = []
        for base in places {
            for scale in scales {
                let plan = try LayerPlan(parsing: base).scaled(by: scale)
                let (score, prefix, refusals, cheap, generated) = try ModelEditor.withPlan(
                    plan, measurements: measurements, options: options, model: session.model
                ) { () throws -> ((refusalScore: Double, distinctive: Double, klDivergence: Double), [(Double, Double)], Int, Double, Double) in
                    let t0 = Date()
                    let scored = try ModelEvaluation.continuationLogProbabilities(
                        session: session, prompts: harmful, continuations: prefixes, options: evaluation)
                    let harmfulLogProbabilities = scored.map(\.firstToken)
                    let kl = try ModelEvaluation.meanKLDivergence(
                        baseline: objective.baseline,
                        model: try ModelEvaluation.firstTokenLogProbabilities(session: session, prompts: harmless, options: evaluation))
                    let score = (refusalScore: mass(harmfulLogProbabilities, openings),
                                 distinctive: mass(harmfulLogProbabilities, distinctiveOpenings), klDivergence: kl)
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
        XCTAssertLessThan(prefixScores.last!.min()!, objective.uneditedScore)
        let atDefault = prefixScores[lengths.firstIndex(of: ScreeningObjective.defaultPrefixLength)!]
        XCTAssertGreaterThan(Self.spearman(atDefault, counts), 0.8, "the objective's score must rank plans as generation does")
    }
}
