import Foundation
import TensorKit
import XCTest
@testable import AbliterationCore
import TestSupport

final class InputOrthogonalizerTests: XCTestCase {
    func unit(_ v: [Double]) -> [Double] { let n = norm(v); return v.map { $0 / n } }

    /// W x for row-major W (rows, cols), in f64.
    func apply(_ w: [Float], rows: Int, cols: Int, _ x: [Double]) -> [Double] {
        (0..<rows).map { i in (0..<cols).reduce(0.0) { $0 + Double(w[i * cols + $1]) * x[$1] } }
    }

    /// The reader after the edit, fed g ⊙ x̂, equals the original fed g ⊙ (x̂ − s·r̂(r̂ᵀx̂)): it reads the
    /// normalized residual with r̂ removed, whatever the gains (nonzero) and the input.
    func testEditedReaderSeesTheInputWithoutTheDirection() throws {
        try forEachSeed(10, base: 31) { seed, g in
            let hidden = Int.random(in: 2...200, using: &g), out = Int.random(in: 1...150, using: &g)
            let r = unit(g.normals(hidden))
            // Gemma-like gains: mostly near 1, a few large, some tiny (never exactly 0 here).
            let gain: [Float] = (0..<hidden).map { _ in
                let u = Double.random(in: 0..<1, using: &g)
                return Float(u < 0.1 ? Double.random(in: 50...500, using: &g) : u < 0.2 ? Double.random(in: 0.001...0.01, using: &g) : Double.random(in: 0.5...2, using: &g))
            }
            let scale = Float([1, 0.5, 1.5][Int.random(in: 0..<3, using: &g)])
            let original = g.floats(out * hidden, scale: 0.05)
            var w = try Tensor(shape: [out, hidden], scalars: original)
            let edit = try InputOrthogonalizer(direction: r, inputGain: gain, scale: scale, threadCount: Int.random(in: 1...3, using: &g))
            let record = try edit.apply(to: &w, name: "q_proj")
            XCTAssertEqual(record.orientation, .readsFromResidual)
            for _ in 0..<3 {
                let x = g.normals(hidden)  // x̂
                let rx = zip(r, x).reduce(0.0) { $0 + $1.0 * $1.1 }
                let ablated = (0..<hidden).map { Double(gain[$0]) * (x[$0] - Double(scale) * rx * r[$0]) }
                let expected = apply(original, rows: out, cols: hidden, ablated)
                let got = apply(w.scalars, rows: out, cols: hidden, (0..<hidden).map { Double(gain[$0]) * x[$0] })
                let size = max(norm(expected), 1e-3)
                XCTAssertLessThanOrEqual(norm(zip(got, expected).map { $0 - $1 }), 2e-4 * size, "seed \(seed) [\(out), \(hidden)] s \(scale)")
            }
            if scale == 1 {
                // What it still reads along g ⊙ r̂ is gone (relative to W's norm).
                let before = Double(original.reduce(Float(0)) { $0 + $1 * $1 }).squareRoot()
                let left = norm(apply(w.scalars, rows: out, cols: hidden, edit.reading.map(Double.init)))  // ‖W′a‖
                XCTAssertLessThanOrEqual(left, 1e-3 * before * Double(gain.max()!), "seed \(seed)")
            }
            // Undo restores W to within a few f32 roundings of the larger of w and w′ per element (b = r̂ ⊘ g
            // is large where g is tiny, and so is the edit there).
            let edited = w.scalars
            try Orthogonalizer.undo(record, on: &w, name: "q_proj")
            for k in original.indices {
                let tolerance = 4 * Float.ulpOfOne * max(abs(edited[k]), abs(original[k]))
                XCTAssertLessThanOrEqual(abs(w.scalars[k] - original[k]), tolerance, "seed \(seed) element \(k)")
            }
        }
    }

    /// Without a gain it is the row edit W ← W − s·(W r̂)r̂ᵀ, the same as the orthogonalizer's on rows.
    func testWithoutGainItIsThePlainRowEdit() throws {
        var g = SeededGenerator(seed: 7)
        let r = unit(g.normals(64))
        let original = g.floats(40 * 64, scale: 0.1)
        var a = try Tensor(shape: [40, 64], scalars: original), b = a
        try InputOrthogonalizer(direction: r, inputGain: nil).apply(to: &a)
        try Orthogonalizer(direction: r).apply(to: &b, orientation: .readsFromResidual)
        XCTAssertEqual(a.scalars, b.scalars)
    }

    /// A channel with gain 0 is read by nothing: its column is left alone.
    func testZeroGainChannelIsLeftAlone() throws {
        var g = SeededGenerator(seed: 9)
        let r = unit(g.normals(16))
        var gain = [Float](repeating: 1.5, count: 16)
        gain[3] = 0
        let original = g.floats(8 * 16, scale: 1)
        var w = try Tensor(shape: [8, 16], scalars: original)
        try InputOrthogonalizer(direction: r, inputGain: gain).apply(to: &w)
        for i in 0..<8 { XCTAssertEqual(w.scalars[i * 16 + 3], original[i * 16 + 3]) }
        XCTAssertNotEqual(w.scalars, original)
    }

    func testRefusesMismatchedOrDegenerateInput() throws {
        XCTAssertThrowsError(try InputOrthogonalizer(direction: [1, 0, 0], inputGain: [1, 1])) {
            XCTAssertTrue("\($0)".contains("gain has 2 entries for a direction of 3"), "\($0)")
        }
        XCTAssertThrowsError(try InputOrthogonalizer(direction: [1, 0], inputGain: [.nan, 1])) {
            XCTAssertTrue("\($0)".contains("gain 0 is nan"), "\($0)")
        }
        XCTAssertThrowsError(try InputOrthogonalizer(direction: [1, 0], inputGain: [0, 1])) {
            XCTAssertTrue("\($0)".contains("g ⊙ r̂ is zero"), "\($0)")
        }
        var w = try Tensor<Float>(shape: [4, 5], scalars: [Float](repeating: 1, count: 20))
        XCTAssertThrowsError(try InputOrthogonalizer(direction: [1, 0, 0], inputGain: [1, 1, 1]).apply(to: &w, name: "model.layers.2.mlp.up_proj.weight")) {
            XCTAssertTrue("\($0)".contains("model.layers.2.mlp.up_proj.weight: shape [4, 5] does not read a residual of size 3"), "\($0)")
        }
    }
}
