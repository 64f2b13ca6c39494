import Foundation
import TensorKit
import XCTest
@testable import AbliterationCore
import TestSupport

/// The norm-aware edit: a block that adds g ⊙ y / rms(y), y = W′x, writes nothing along r̂ once W is
/// orthogonalized against u = normalize(g ⊙ r̂); the plain edit (against r̂) does not achieve that.
final class NormAwareDirectionTests: XCTestCase {
    /// What a sandwich-normed block adds to the residual: g ⊙ y / rms(y), y = Wx (W row-major (hidden, in)).
    func residualWrite(_ w: [Float], hidden: Int, inner: Int, x: [Double], gain: [Float]) -> [Double] {
        var y = [Double](repeating: 0, count: hidden)
        for i in 0..<hidden { for j in 0..<inner { y[i] += Double(w[i * inner + j]) * x[j] } }
        let rms = (y.reduce(0) { $0 + $1 * $1 } / Double(hidden) + 1e-6).squareRoot()
        return (0..<hidden).map { Double(gain[$0]) * y[$0] / rms }
    }

    func testNormAwareEditLeavesNothingAlongTheDirectionAfterTheOutputNorm() throws {
        var g = SeededGenerator(seed: 7)
        for _ in 0..<6 {
            let hidden = Int.random(in: 8...96, using: &g), inner = Int.random(in: 4...64, using: &g)
            let r = g.normals(hidden)
            let rHat = r.map { $0 / norm(r) }
            // Gemma-like gains: positive, far from constant.
            let gain = (0..<hidden).map { _ in Float(0.2 + 3 * Double(g.next() >> 40) / Double(1 << 24)) }
            let w0 = (0..<(hidden * inner)).map { _ in Float(g.normal() * 0.05) }
            var plain = try Tensor(shape: [hidden, inner], scalars: w0)
            var aware = plain
            try Orthogonalizer(direction: rHat).apply(to: &plain, orientation: .writesToResidual)
            let u = try NormAwareDirection.direction(rHat, gain: gain)
            XCTAssertEqual(norm(u), 1, accuracy: 1e-12)
            try Orthogonalizer(direction: u).apply(to: &aware, orientation: .writesToResidual)
            var before = 0.0, afterPlain = 0.0, afterAware = 0.0
            for _ in 0..<16 {
                let x = g.normals(inner)
                func along(_ w: [Float]) -> Double { abs(dot(residualWrite(w, hidden: hidden, inner: inner, x: x, gain: gain), rHat)) }
                before += along(w0)
                afterPlain += along(plain.scalars)
                afterAware += along(aware.scalars)
            }
            XCTAssertLessThan(afterAware, 1e-5 * before, "[\(hidden), \(inner)]")
            XCTAssertGreaterThan(afterPlain, 0.05 * before, "the plain edit leaves part of the direction after the norm")
        }
    }

    func testConstantGainGivesThePlainDirection() throws {
        let r: [Double] = [0.6, 0, -0.8]
        let u = try NormAwareDirection.direction(r, gain: [2.5, 2.5, 2.5])
        XCTAssertEqual(relativeDifference(u, r), 0, accuracy: 1e-15)
    }

    func testBadGainsAreRefused() {
        XCTAssertThrowsError(try NormAwareDirection.direction([1, 0], gain: [1])) { e in
            XCTAssertTrue("\(e)".contains("gain has 1 entries for a direction of 2"), "\(e)")
        }
        XCTAssertThrowsError(try NormAwareDirection.direction([1, 0], gain: [.nan, 1])) { e in
            XCTAssertTrue("\(e)".contains("gain 0 is nan"), "\(e)")
        }
        XCTAssertThrowsError(try NormAwareDirection.direction([1, 0], gain: [0, 1])) { e in
            XCTAssertTrue("\(e)".contains("zero"), "\(e)")
        }
    }
}
