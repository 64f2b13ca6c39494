import XCTest
@testable import AbliterationCore
@testable import AbliterationPipeline
@testable import LanguageModels

final class ScaleRefinementTests: XCTestCase {
    /// Runs the refinement against a refusal rate that reaches the target from `threshold` on.
    private func factors(threshold: Float, _ refinement: ScaleRefinement = .init()) -> [Float] {
        var refinement = refinement
        var tried: [Float] = []
        while let f = refinement.next {
            tried.append(f)
            refinement.record(factor: f, reachedTarget: f >= threshold)
            XCTAssertLessThan(tried.count, 20, "the refinement must end")
            if tried.count >= 20 { break }
        }
        return tried
    }

    func testGrowsThenBisectsTowardsTheSmallestPassingFactor() {
        XCTAssertEqual(factors(threshold: 1.17), [1.25, 1.125, 1.1875])
        XCTAssertEqual(factors(threshold: 1.1), [1.25, 1.125, 1.0625])
        XCTAssertEqual(factors(threshold: 1.0), [1.25, 1.125, 1.0625])
    }

    func testKeepsGrowingWhileTheTargetIsMissed() {
        // 1.25 misses, 1.5625 reaches: bisect between them.
        XCTAssertEqual(factors(threshold: 1.4), [1.25, 1.5625, 1.40625, 1.328125])
        var r = ScaleRefinement()
        for f in [Float(1.25), 1.5625, 1.40625, 1.328125] { r.record(factor: f, reachedTarget: f >= 1.4) }
        XCTAssertEqual(r.reaching, 1.40625)
        XCTAssertEqual(r.missing, 1.328125)
    }

    func testStopsAfterTheGrowthStepsWhenNothingReachesTheTarget() {
        XCTAssertEqual(factors(threshold: 9), [1.25, 1.5625])
        XCTAssertEqual(factors(threshold: 9, ScaleRefinement(growth: 2, maxGrowthSteps: 3)), [2, 4, 8])
    }

    func testWithoutBisectionsItStopsAtTheFirstPassingFactor() {
        XCTAssertEqual(factors(threshold: 1.0, ScaleRefinement(bisections: 0)), [1.25])
    }
}
