import XCTest
import TestSupport
@testable import AbliterationCore
@testable import AbliterationPipeline
@testable import LanguageModels

final class KLDivergenceTests: XCTestCase {
    typealias SplitMix64 = SeededGenerator

    func randomLogits(_ n: Int, scale: Float, _ rng: inout SplitMix64) -> [Float] {
        (0..<n).map { _ in Float.random(in: -scale...scale, using: &rng) }
    }

    /// Reference computed the textbook way: p = exp(x)/Σexp(x) in Double, Σ p log(p/q). Safe for small logits.
    func naiveKL(_ a: [Float], _ b: [Float]) -> Double {
        let ea = a.map { exp(Double($0)) }, eb = b.map { exp(Double($0)) }
        let za = ea.reduce(0, +), zb = eb.reduce(0, +)
        return zip(ea, eb).reduce(0) { s, e in
            let p = e.0 / za, q = e.1 / zb
            return s + p * log(p / q)
        }
    }

    func testLogSoftmaxNormalisesAndMatchesDefinition() throws {
        let x: [Float] = [1, 2, 3, -1]
        let l = try KLDivergence.logSoftmax(x)
        let z = x.map { exp(Double($0)) }.reduce(0, +)
        for i in 0..<x.count { XCTAssertEqual(l[i], Double(x[i]) - log(z), accuracy: 1e-14) }
        XCTAssertEqual(l.map(exp).reduce(0, +), 1, accuracy: 1e-14)
        // Huge logits: exp would overflow without the max subtraction.
        let big = try KLDivergence.logSoftmax([3e38, 3e38])
        XCTAssertEqual(big[0], -log(2), accuracy: 1e-14)
        XCTAssertEqual(big[1], -log(2), accuracy: 1e-14)
    }

    func testSelfDivergenceIsZero() throws {
        var rng = SplitMix64(seed: 1)
        for _ in 0..<20 {
            let p = randomLogits(1000, scale: 20, &rng)
            XCTAssertEqual(try KLDivergence.fromLogits(p, p), 0, accuracy: 1e-15)
        }
    }

    /// Two tokens: P = (1/2, 1/2), Q = (1/4, 3/4): KL = ½ log 2 + ½ log(2/3); KL(Q‖P) = ¼ log ½ + ¾ log(3/2).
    func testClosedFormBernoulliAndAsymmetry() throws {
        let p: [Float] = [0, 0]
        let q: [Float] = [Float(log(0.25)), Float(log(0.75))]
        let pq = try KLDivergence.fromLogits(p, q)
        let qp = try KLDivergence.fromLogits(q, p)
        XCTAssertEqual(pq, 0.5 * log(2) + 0.5 * log(2.0 / 3.0), accuracy: 1e-7)
        XCTAssertEqual(qp, 0.25 * log(0.5) + 0.75 * log(1.5), accuracy: 1e-7)
        XCTAssertGreaterThan(abs(pq - qp), 1e-3)   // 0.1438 vs 0.1308
    }

    /// Uniform over n tokens against a distribution with mass 1/2 on one token and the rest spread evenly.
    func testClosedFormUniformAgainstPeaked() throws {
        let n = 8
        let uniform = [Float](repeating: 0, count: n)
        // q_0 = 1/2, q_i = 1/(2(n−1)): logits log q.
        var peaked = [Float](repeating: Float(log(1.0 / (2.0 * Double(n - 1)))), count: n)
        peaked[0] = Float(log(0.5))
        let expected = (1.0 / Double(n)) * log((1.0 / Double(n)) / 0.5)
            + (Double(n - 1) / Double(n)) * log((1.0 / Double(n)) * 2.0 * Double(n - 1))
        XCTAssertEqual(try KLDivergence.fromLogits(uniform, peaked), expected, accuracy: 1e-7)
    }

    func testMatchesNaiveComputationAndIsNonNegative() throws {
        var rng = SplitMix64(seed: 42)
        for trial in 0..<200 {
            let n = Int.random(in: 2...300, using: &rng)
            let p = randomLogits(n, scale: 8, &rng), q = randomLogits(n, scale: 8, &rng)
            let kl = try KLDivergence.fromLogits(p, q)
            XCTAssertGreaterThan(kl, 0, "trial \(trial)")
            XCTAssertEqual(kl, naiveKL(p, q), accuracy: 1e-12 * max(1, kl), "trial \(trial)")
        }
    }

    /// Adding a constant to all logits leaves the distribution unchanged. Shifts by multiples of 1/16 on logits
    /// that are multiples of 1/16 are exact in Float, and log-softmax works from x − max, so the results are
    /// bit-for-bit equal.
    func testInvarianceToAddingAConstant() throws {
        var rng = SplitMix64(seed: 7)
        for _ in 0..<50 {
            let p = (0..<500).map { _ in Float(Int.random(in: -160...160, using: &rng)) / 16 }
            let q = (0..<500).map { _ in Float(Int.random(in: -160...160, using: &rng)) / 16 }
            let base = try KLDivergence.fromLogits(p, q)
            for shift: Float in [-1000, -3.5, 2.0625, 4096] {
                XCTAssertEqual(try KLDivergence.fromLogits(p.map { $0 + shift }, q), base)
                XCTAssertEqual(try KLDivergence.fromLogits(p, q.map { $0 + shift }), base)
            }
        }
    }

    func testLargeLogitsStayFinite() throws {
        // P puts almost all mass on token 0, Q on token 1: KL ≈ 1000 nats.
        let kl = try KLDivergence.fromLogits([1000, 0], [0, 1000])
        XCTAssertEqual(kl, 1000, accuracy: 1e-9)
    }

    func testMaskedTokens() throws {
        let inf = -Float.infinity
        // P gives 0 to token 2: its term vanishes. KL((½,½,0) ‖ (¼,¼,½)) = log 2.
        XCTAssertEqual(try KLDivergence.fromLogits([0, 0, inf], [0, 0, Float(log(2.0))]), log(2), accuracy: 1e-7)
        // Q gives 0 where P does not: infinite.
        XCTAssertEqual(try KLDivergence.fromLogits([0, 0, 0], [0, 0, inf]), .infinity)
    }

    func testFromLogProbabilities() throws {
        let lp = [log(0.5), log(0.5)], lq = [log(0.25), log(0.75)]
        XCTAssertEqual(try KLDivergence.fromLogProbabilities(lp, lq), 0.5 * log(2) + 0.5 * log(2.0 / 3.0), accuracy: 1e-15)
        XCTAssertEqual(try KLDivergence.fromLogProbabilities(lp, lp), 0)
    }

    func testMeanOverPrompts() throws {
        let a: (p: [Float], q: [Float]) = ([0, 0], [Float(log(0.25)), Float(log(0.75))])
        let b: (p: [Float], q: [Float]) = ([1, 2, 3], [1, 2, 3])
        let c: (p: [Float], q: [Float]) = ([1000, 0], [0, 1000])
        let expected = (try KLDivergence.fromLogits(a.p, a.q) + 0 + 1000) / 3
        XCTAssertEqual(try KLDivergence.meanFromLogits([a, b, c]), expected, accuracy: 1e-9)
        let logs = try [a, b, c].map { (p: try KLDivergence.logSoftmax($0.p), q: try KLDivergence.logSoftmax($0.q)) }
        XCTAssertEqual(try KLDivergence.meanFromLogProbabilities(logs), expected, accuracy: 1e-9)
    }

    func testErrors() {
        XCTAssertThrowsError(try KLDivergence.fromLogits([0, 1], [0, 1, 2])) { error in
            guard case AbliterationError.dimensionMismatch = error else { return XCTFail("\(error)") }
        }
        XCTAssertThrowsError(try KLDivergence.fromLogits([], []))
        XCTAssertThrowsError(try KLDivergence.fromLogits([0, .nan], [0, 1]))
        XCTAssertThrowsError(try KLDivergence.fromLogits([0, .infinity], [0, 1]))
        XCTAssertThrowsError(try KLDivergence.fromLogits([-.infinity, -.infinity], [0, 1]))
        XCTAssertThrowsError(try KLDivergence.meanFromLogits([]))
        XCTAssertThrowsError(try KLDivergence.meanFromLogits([([0, 1], [0, 1]), ([0], [0, 1])])) { error in
            XCTAssertTrue("\(error)".hasPrefix("prompt 1:"), "\(error)")
        }
    }
}
