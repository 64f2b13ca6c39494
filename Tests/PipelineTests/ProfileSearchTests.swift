import Foundation
import XCTest
@testable import AbliterationCore
@testable import AbliterationPipeline

/// The profile search's parts that need no model: profiles as plans, the Pareto front, the seeded
/// exploration, the short list and the selection rules.
final class ProfileSearchTests: XCTestCase {
    func testProfileBecomesAPerBlockPlanThatPrintsAndParsesBack() throws {
        let p = EditProfile(measurementLayer: 21, peak: 15, width: 4, edge: 0.5, attentionScale: 1.2, mlpScale: 0.8)
        let plan = try p.plan(layerCount: 30)
        // Blocks 11…19: weights 0.5, 0.625, 0.75, 0.875, 1, 0.875, …; scales rounded to 0.01.
        XCTAssertEqual(plan.targetLayers, Array(11...19))
        XCTAssertEqual(plan.entry(forTarget: 15), .init(measurementLayer: 21, targets: 15...15, scale: 1.2, mlpScale: 0.8))
        XCTAssertEqual(plan.entry(forTarget: 11)?.scale, 0.6)
        XCTAssertEqual(plan.entry(forTarget: 11)?.mlpScale, 0.4)
        XCTAssertEqual(plan.entry(forTarget: 12)?.scale, 0.75)
        XCTAssertEqual(plan.entry(forTarget: 12)?.mlpScale, 0.5)
        XCTAssertEqual(try LayerPlan(parsing: plan.description), plan)
        XCTAssertEqual(plan.description, "21:11@0.6/0.4,21:12@0.75/0.5,21:13@0.9/0.6,21:14@1.05/0.7,21:15@1.2/0.8,21:16@1.05/0.7,21:17@0.9/0.6,21:18@0.75/0.5,21:19@0.6/0.4")
        // A flat profile merges into one entry; one past the last block is cut off.
        let flat = EditProfile(measurementLayer: 20, peak: 27, width: 5, edge: 1, attentionScale: 1, mlpScale: 1)
        XCTAssertEqual(try flat.plan(layerCount: 30).description, "20:22-29")
        XCTAssertThrowsError(try EditProfile(measurementLayer: 20, peak: 40, width: 2, edge: 1, attentionScale: 1, mlpScale: 1).plan(layerCount: 30))
    }

    func testParetoFront() {
        let points: [(Double, Double)] = [(0.5, 0.1), (0.2, 0.3), (0.2, 0.2), (0.9, 0.05), (0.6, 0.2), (0.1, 0.9), (0.9, 0.04)]
        XCTAssertEqual(ProfileSearch.paretoFront(points), [5, 2, 0, 6])
    }

    /// A stand-in objective with a known trade-off: the stronger the edit (sum of scales over the plan),
    /// the lower the refusal score and the higher the KL.
    func score(_ plan: LayerPlan) -> ScreeningObjective.Score {
        let strength = plan.entries.reduce(0.0) { $0 + Double($1.targets.count) * Double($1.scale + $1.mlpScale) }
        let placement = plan.entries.reduce(0.0) { $0 + abs(Double($1.measurementLayer) - 21) } / Double(plan.entries.count)
        return .init(refusalScore: exp(-strength / 10) + 0.02 * placement, klDivergence: 0.004 * strength + 0.01 * placement)
    }

    func testExplorationIsSeededAndMovesTheFrontDown() throws {
        let search = ProfileSearch(seed: 7, evaluations: 30, initial: 10, batch: 5)
        let a = try search.explore(layerCount: 30, score: score)
        let b = try search.explore(layerCount: 30, score: score)
        XCTAssertEqual(a, b, "the same seed explores the same profiles")
        XCTAssertEqual(a.count, 30)
        XCTAssertEqual(Set(a.map(\.plan)).count, 30, "no plan is scored twice")
        let c = try ProfileSearch(seed: 8, evaluations: 30, initial: 10, batch: 5).explore(layerCount: 30, score: score)
        XCTAssertNotEqual(a.map(\.plan), c.map(\.plan))
        for s in a {
            XCTAssertEqual(try LayerPlan(parsing: s.plan), try s.profile.plan(layerCount: 30), "the printed plan is the profile's")
            XCTAssertEqual(score(try LayerPlan(parsing: s.plan)), .init(refusalScore: s.refusalScore, klDivergence: s.klDivergence))
        }
        // The evolutionary rounds refine the front of the random start: the front over all 30 points
        // has points the first 10 do not reach.
        let initialFront = Set(ProfileSearch.paretoFront(a.prefix(10).map { ($0.refusalScore, $0.klDivergence) }))
        let front = ProfileSearch.paretoFront(a.map { ($0.refusalScore, $0.klDivergence) })
        XCTAssertTrue(front.contains { !initialFront.contains($0) })
        let short = search.shortList(a, uneditedScore: 1)
        XCTAssertLessThanOrEqual(short.count, search.confirm)
        XCTAssertTrue(short.allSatisfy { front.contains($0) && a[$0].refusalScore <= 0.5 })
    }

    /// A row-normalized edit's grid: per-block plans from 40%, 55% and 70% of the depth, at scales 1 and 1.5.
    func testRowNormalizedCandidatesArePerBlockPlans() throws {
        let analysis = MeasurementAnalysis(try MeasurementsFileTests.synthetic(layers: 18, hidden: 8))
        let plans = try PlanSearch.rowNormalizedCandidates(analysis)
        let expected = try [7, 10, 13].flatMap { a in
            try [Float(1), 1.5].map { try PlanSearch.ownDirections(a...17, layerCount: 18, scale: $0).description }
        }
        XCTAssertEqual(plans.map(\.description), expected)
        XCTAssertTrue(plans.allSatisfy { !$0.isSingleSpan })
        let tiny = MeasurementAnalysis(try MeasurementsFileTests.synthetic(layers: 1, hidden: 8))
        XCTAssertEqual(try PlanSearch.rowNormalizedCandidates(tiny).map(\.description), ["1:0", "1:0@1.5"])
    }

    /// heretic's per-layer scope in the plan grammar: block ℓ against the direction of residual ℓ + 1.
    func testOwnDirectionsEditEachBlockAgainstItsOutputsDirection() throws {
        let plan = try PlanSearch.ownDirections(27...29, layerCount: 30, scale: 1.5)
        XCTAssertEqual(plan.description, "28:27@1.5,29:28@1.5,30:29@1.5")
        for l in 27...29 { XCTAssertEqual(plan.entry(forTarget: l)?.measurementLayer, Double(l + 1)) }
        XCTAssertThrowsError(try PlanSearch.ownDirections(27...30, layerCount: 30))
        XCTAssertEqual(PlanSearch.front([
            .init(plan: "a", refusals: 10, total: 48, klDivergence: 0.05),
            .init(plan: "b", refusals: 12, total: 48, klDivergence: 0.06),
            .init(plan: "c", refusals: 1, total: 48, klDivergence: 0.20),
            .init(plan: "d", refusals: 1, total: 48, klDivergence: 0.18),
        ]), [3, 0])
    }

    /// After the grid: the chosen plan at ×0.5 and ×0.75, and the per-block plan of the front with the
    /// lowest KL from ×0.25 to ×1.5; nothing scored twice.
    func testFrontLadder() throws {
        let plans = try ["21:6-25", "21:6-25@1.25", "21:6-25@0.625"].map { try LayerPlan(parsing: $0) }
            + [try PlanSearch.ownDirections(27...29, layerCount: 30), try PlanSearch.ownDirections(25...29, layerCount: 30)]
        let scored: [PlanSearch.Candidate] = [
            .init(plan: plans[0].description, refusals: 16, total: 48, klDivergence: 0.11),
            .init(plan: plans[1].description, refusals: 1, total: 48, klDivergence: 0.19),
            .init(plan: plans[2].description, refusals: 36, total: 48, klDivergence: 0.04),
            .init(plan: plans[3].description, refusals: 17, total: 48, klDivergence: 0.05),
            .init(plan: plans[4].description, refusals: 20, total: 48, klDivergence: 0.06),  // dominated
        ]
        let ladder = try PlanSearch.frontLadder(plans, scored: scored, selection: .maxRefusals(0.05)).map(\.description)
        XCTAssertEqual(ladder, ["21:6-25@0.9375"] + PlanSearch.ownDirectionFrontFactors.map { f in
            (27...29).map { "\($0 + 1):\($0)@\(f)" }.joined(separator: ",") })
        XCTAssertThrowsError(try PlanSearch.frontLadder(plans, scored: Array(scored.prefix(2)), selection: .maxRefusals(0.05)))
    }

    /// When every candidate is per-block (row normalization's grid) the chosen plan alone is laddered,
    /// from ×0.25 to ×1.5.
    func testRowNormalizedFrontLadderScalesTheChosenPlan() throws {
        let plans = try [1, 1.5].map { try PlanSearch.ownDirections(10...17, layerCount: 18, scale: Float($0)) }
            + [try PlanSearch.ownDirections(13...17, layerCount: 18)]
        let scored: [PlanSearch.Candidate] = [
            .init(plan: plans[0].description, refusals: 25, total: 48, klDivergence: 0.05),
            .init(plan: plans[1].description, refusals: 4, total: 48, klDivergence: 0.09),
            .init(plan: plans[2].description, refusals: 46, total: 48, klDivergence: 0.02),
        ]
        let ladder = try PlanSearch.frontLadder(plans, scored: scored, selection: .maxRefusals(0.05)).map(\.description)
        // ×1.5 of 1.5 is 2.25; ×(2/3) would be plans[0], already scored: none of the six factors gives it.
        XCTAssertEqual(ladder, try [0.25, 0.375, 0.5, 0.625, 0.75, 1.5].map { f in
            try PlanSearch.ownDirections(10...17, layerCount: 18, scale: 1.5 * Float(f)).description })
    }

    /// The fill takes the front's pair of one plan at two scales that leaves the largest rectangle
    /// (refusal gap × KL ratio), not a pair of different plans, not a pair one refusal apart.
    func testFrontFillTakesTheWidestGapBetweenScalesOfOnePlan() throws {
        let plans = try ["21:6-25@1.25", "21:6-25", "20:8-24@0.5", "20:8-24@0.25", "20:8-24@0.125", "20:8-24@0.0625", "20:8-24@2"]
            .map { try LayerPlan(parsing: $0) }
        var scored: [PlanSearch.Candidate] = [
            .init(plan: plans[0].description, refusals: 1, total: 48, klDivergence: 0.19),
            .init(plan: plans[1].description, refusals: 3, total: 48, klDivergence: 0.11),  // 2 · ln(0.19/0.11) = 1.09
            .init(plan: plans[2].description, refusals: 20, total: 48, klDivergence: 0.04),  // different plan: skipped
            .init(plan: plans[3].description, refusals: 24, total: 48, klDivergence: 0.02),  // 4 · ln 2 = 2.77
            .init(plan: plans[4].description, refusals: 30, total: 48, klDivergence: 0.01),  // 6 · ln 2 = 4.16
            .init(plan: plans[5].description, refusals: 31, total: 48, klDivergence: 0.001),  // one refusal apart
            .init(plan: plans[6].description, refusals: 20, total: 48, klDivergence: 0.5),  // dominated
        ]
        XCTAssertEqual(try PlanSearch.frontFill(plans, scored: scored)?.description, "20:8-24@0.1875")
        // Once that midpoint is known, the next widest.
        let more = plans + [try LayerPlan(parsing: "20:8-24@0.1875")]
        scored.append(.init(plan: "20:8-24@0.1875", refusals: 40, total: 48, klDivergence: 0.2))  // dominated
        XCTAssertEqual(try PlanSearch.frontFill(more, scored: scored)?.description, "20:8-24@0.375")
        XCTAssertNil(try PlanSearch.frontFill(Array(plans.prefix(1)), scored: Array(scored.prefix(1))))
        XCTAssertThrowsError(try PlanSearch.frontFill(plans, scored: Array(scored.prefix(2))))
    }

    func testSelectionRules() {
        let c: [PlanSearch.Candidate] = [
            .init(plan: "a", refusals: 10, total: 64, klDivergence: 0.05),
            .init(plan: "b", refusals: 3, total: 64, klDivergence: 0.09),
            .init(plan: "c", refusals: 2, total: 64, klDivergence: 0.15),
            .init(plan: "d", refusals: 0, total: 64, klDivergence: 0.30),
        ]
        XCTAssertEqual(PlanSearch.Selection.maxRefusals(0.05).choose(c), 1)
        XCTAssertEqual(PlanSearch.Selection.maxRefusals(0.0).choose(c), 3)
        XCTAssertEqual(PlanSearch.Selection.maxKL(0.2).choose(c), 2)
        XCTAssertEqual(PlanSearch.Selection.maxKL(0.06).choose(c), 0)
        XCTAssertEqual(PlanSearch.Selection.maxKL(0.01).choose(c), 0, "none that close: the lowest KL")
        XCTAssertEqual(PlanSearch.Selection.maxRefusals(0.01).choose(Array(c.prefix(3))), 2, "none passing: fewest refusals")
        // Knee: rates 0…10/64 and KL 0.30…0.05 scaled to 0…1; 1 − x − y is 0 (d), 0.4 (c), 0.54 (b), 0 (a).
        XCTAssertEqual(PlanSearch.Selection.knee.choose(c), 1)
        XCTAssertEqual(PlanSearch.Selection.knee.choose(c + [.init(plan: "e", refusals: 4, total: 64, klDivergence: 0.2)]), 1,
                       "a dominated point is not the knee")
        XCTAssertEqual(PlanSearch.Selection.knee.choose([c[0], c[3]]), 1, "two points: the fewest refusals")
        XCTAssertEqual(PlanSearch.Selection.knee.choose([c[2]]), 0)
    }
}
