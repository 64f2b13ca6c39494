import XCTest
@testable import AbliterationCore
@testable import AbliterationPipeline
@testable import LanguageModels

final class IntervalTests: XCTestCase {
    func testNormalQuantile() {
        XCTAssertEqual(ProportionInterval.standardNormalQuantile(0.975), 1.959963984540054, accuracy: 1e-13)
        XCTAssertEqual(ProportionInterval.standardNormalQuantile(0.995), 2.5758293035489004, accuracy: 1e-13)
        XCTAssertEqual(ProportionInterval.standardNormalQuantile(0.5), 0, accuracy: 1e-15)
        XCTAssertEqual(ProportionInterval.standardNormalQuantile(0.15865525393145707), -1, accuracy: 1e-13)
        XCTAssertEqual(ProportionInterval.standardNormalQuantile(1e-10), -6.361340902404056, accuracy: 1e-10)
    }

    /// 5 of 10: the textbook Wilson interval [0.2366, 0.7634] (e.g. R binom::binom.wilson); more digits from
    /// the closed form in Python with z = NormalDist().inv_cdf(0.975).
    func testKnownValues() throws {
        let cases: [(k: Int, n: Int, lower: Double, upper: Double)] = [
            (5, 10, 0.23659309051256405, 0.763406909487436),
            (0, 10, 0, 0.27753279986288915),
            (10, 10, 0.7224672001371109, 1),
            (81, 263, 0.2552885198782743, 0.3662095769828001),
            (1, 1, 0.20654931437723745, 1),
        ]
        for c in cases {
            let i = try ProportionInterval.wilson(successes: c.k, total: c.n)
            XCTAssertEqual(i.lower, c.lower, accuracy: 1e-12, "\(c)")
            XCTAssertEqual(i.upper, c.upper, accuracy: 1e-12, "\(c)")
            XCTAssertEqual(i.proportion, Double(c.k) / Double(c.n))
            XCTAssertEqual(i.confidence, 0.95)
        }
        XCTAssertEqual(try ProportionInterval.wilson(successes: 5, total: 10).lower, 0.2366, accuracy: 5e-5)
        let wide = try ProportionInterval.wilson(successes: 37, total: 120, confidence: 0.99)
        XCTAssertEqual(wide.lower, 0.21219370709039864, accuracy: 1e-12)
        XCTAssertEqual(wide.upper, 0.42455728939891313, accuracy: 1e-12)
    }

    func testZeroTotalIsTheWholeUnitInterval() throws {
        let i = try ProportionInterval.wilson(successes: 0, total: 0)
        XCTAssertEqual([i.proportion, i.lower, i.upper], [0, 0, 1])
    }

    func testIntervalContainsEstimateAndShrinksWithN() throws {
        var previousWidth = Double.infinity
        for n in [10, 100, 1000, 10000] {
            let i = try ProportionInterval.wilson(successes: 3 * n / 10, total: n)
            XCTAssertLessThanOrEqual(i.lower, i.proportion)
            XCTAssertGreaterThanOrEqual(i.upper, i.proportion)
            XCTAssertLessThan(i.upper - i.lower, previousWidth)
            previousWidth = i.upper - i.lower
        }
        // Symmetry: the interval of n − k is the mirror image of the interval of k.
        let a = try ProportionInterval.wilson(successes: 7, total: 40)
        let b = try ProportionInterval.wilson(successes: 33, total: 40)
        XCTAssertEqual(a.lower, 1 - b.upper, accuracy: 1e-14)
        XCTAssertEqual(a.upper, 1 - b.lower, accuracy: 1e-14)
    }

    func testInvalidArgumentsThrow() {
        XCTAssertThrowsError(try ProportionInterval.wilson(successes: 3, total: 2))
        XCTAssertThrowsError(try ProportionInterval.wilson(successes: -1, total: 2))
        XCTAssertThrowsError(try ProportionInterval.wilson(successes: 1, total: -2))
        XCTAssertThrowsError(try ProportionInterval.wilson(successes: 1, total: 2, confidence: 1))
        XCTAssertThrowsError(try ProportionInterval.wilson(successes: 1, total: 2, confidence: 0))
        XCTAssertThrowsError(try ProportionInterval.wilson(successes: 1, total: 2, confidence: .nan))
    }
}
