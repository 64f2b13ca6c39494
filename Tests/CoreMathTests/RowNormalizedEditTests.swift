import Foundation
import TensorKit
import XCTest
@testable import AbliterationCore
import TestSupport

/// `NormPreservation.rows`: heretic's "full" row normalization, against an f64 reference of its formula.
final class RowNormalizedEditTests: XCTestCase {
    /// W′ᵢ = nᵢ·Êᵢ/‖Êᵢ‖, Êᵢ = Wᵢ/nᵢ − s·rᵢ·(Ŵᵀr), in f64 (r unit).
    func reference(_ w: [Float], rows: Int, cols: Int, _ r: [Double], scale s: Double) -> [Double] {
        let x = w.map(Double.init)
        let n = (0..<rows).map { i in (0..<cols).reduce(0.0) { $0 + x[i * cols + $1] * x[i * cols + $1] }.squareRoot() }
        var u = [Double](repeating: 0, count: cols)
        for i in 0..<rows where n[i] > 0 { for j in 0..<cols { u[j] += r[i] * x[i * cols + j] / n[i] } }
        var out = x
        for i in 0..<rows where n[i] > 0 && r[i] != 0 {
            let e = (0..<cols).map { x[i * cols + $0] / n[i] - s * r[i] * u[$0] }
            let m = e.reduce(0.0) { $0 + $1 * $1 }.squareRoot()
            for j in 0..<cols { out[i * cols + j] = n[i] * e[j] / m }
        }
        return out
    }

    func unit(_ v: [Double]) -> [Double] { let n = norm(v); return v.map { $0 / n } }

    func rowNorm(_ w: [Float], _ i: Int, _ cols: Int) -> Double {
        (0..<cols).reduce(0.0) { $0 + Double(w[i * cols + $1]) * Double(w[i * cols + $1]) }.squareRoot()
    }

    func testMatchesTheFormulaAndKeepsEveryRowNorm() throws {
        try forEachSeed(10, base: 61) { seed, g in
            let hidden = Int.random(in: 2...200, using: &g), inner = Int.random(in: 1...300, using: &g)
            let r = unit(g.normals(hidden))
            let s = Float.random(in: 0.25...1.5, using: &g)
            let values = g.floats(hidden * inner, scale: 0.05)
            var w = try Tensor(shape: [hidden, inner], scalars: values)
            let o = try Orthogonalizer(direction: r, scale: s, norms: .rows, threadCount: Int.random(in: 1...4, using: &g))
            let record = try o.apply(to: &w, orientation: .writesToResidual, name: "o_proj")
            let expected = reference(values, rows: hidden, cols: inner, o.direction.map(Double.init), scale: Double(s))
            let worst = zip(w.scalars, expected).map { abs(Double($0) - $1) }.max() ?? 0
            XCTAssertLessThan(worst, 2e-6, "seed \(seed) [\(hidden), \(inner)] s \(s)")
            for i in 0..<hidden {
                XCTAssertEqual(rowNorm(w.scalars, i, inner), rowNorm(values, i, inner), accuracy: 1e-5 * rowNorm(values, i, inner), "seed \(seed) row \(i)")
            }
            XCTAssertEqual(record.norms, .rows)
            XCTAssertEqual(record.rowNorms?.count, hidden)
            XCTAssertEqual(record.vectorScales?.count, hidden)
            XCTAssertEqual(record.projections.count, inner)
        }
    }

    /// Unlike the plain edit, the row-normalized one leaves something along r̂ at s = 1: the rescaling of
    /// each row puts part of it back. It removes less than the plain edit and more than nothing.
    func testItRemovesMostButNotAllOfTheDirection() throws {
        var g = SeededGenerator(seed: 62)
        let hidden = 64, inner = 96
        let r = unit(g.normals(hidden))
        var values = g.floats(hidden * inner, scale: 0.05)
        for i in 0..<hidden { for j in 0..<inner { values[i * inner + j] += Float(0.2 * r[i]) } }  // a strong r̂ component
        func along(_ w: [Float]) -> Double {
            norm((0..<inner).map { j in (0..<hidden).reduce(0.0) { $0 + r[$1] * Double(w[$1 * inner + j]) } })
        }
        var w = try Tensor(shape: [hidden, inner], scalars: values)
        try Orthogonalizer(direction: r, norms: .rows).apply(to: &w, orientation: .writesToResidual)
        let before = along(values), after = along(w.scalars)
        XCTAssertLessThan(after, 0.5 * before)
        XCTAssertGreaterThan(after, 1e-3 * before)
    }

    func testUndoRoundTripsAndUntouchedRowsKeepTheirBits() throws {
        var g = SeededGenerator(seed: 63)
        let hidden = 40, inner = 70
        var r = g.normals(hidden)
        for i in stride(from: 0, to: hidden, by: 4) { r[i] = 0 }
        let values = g.floats(hidden * inner, scale: 0.05)
        var w = try Tensor(shape: [hidden, inner], scalars: values)
        let record = try Orthogonalizer(direction: r, scale: 1.3, norms: .rows).apply(to: &w, orientation: .writesToResidual)
        for i in 0..<hidden {
            let same = Array(w.scalars[(i * inner)..<((i + 1) * inner)]) == Array(values[(i * inner)..<((i + 1) * inner)])
            XCTAssertEqual(same, i % 4 == 0, "row \(i)")
        }
        try Orthogonalizer.undo(record, on: &w)
        for i in values.indices { XCTAssertEqual(w.scalars[i], values[i], accuracy: 2e-6, "[\(i)]") }
        // bf16 through the raw-bytes entry: the same bits as the tensor entry, and undo within a few roundings.
        let b0 = try Tensor<Float>(shape: [hidden, inner], scalars: values).toBF16()
        var b = b0
        let o = try Orthogonalizer(direction: r, scale: 1.3, norms: .rows)
        let rec = try o.apply(to: &b, orientation: .writesToResidual)
        var raw = b0.scalars
        let rawRecord = try raw.withUnsafeMutableBytes { try o.apply(to: $0, dtype: .bf16, shape: [hidden, inner], orientation: .writesToResidual) }
        XCTAssertEqual(rawRecord, rec)
        XCTAssertEqual(raw.map(\.bitPattern), b.scalars.map(\.bitPattern))
        let edited = b.toF32().scalars
        try Orthogonalizer.undo(rec, on: &b)
        let restored = b.toF32().scalars, orig = b0.toF32().scalars
        for i in orig.indices {
            let bound = Double(max(abs(orig[i]), abs(edited[i])).ulp) * 0x1p16 * 4
            XCTAssertLessThanOrEqual(Double(abs(restored[i] - orig[i])), bound, "bf16 [\(i)]")
        }
    }

    func testThreadCountDoesNotChangeTheBits() throws {
        var g = SeededGenerator(seed: 64)
        let hidden = 96, inner = 2000
        let r = g.normals(hidden)
        let w0 = try Tensor<Float>(shape: [hidden, inner], scalars: g.floats(hidden * inner, scale: 0.05)).toBF16()
        var outs: [[UInt16]] = []
        for threads in [1, 2, 3, 7] {
            var w = w0
            try Orthogonalizer(direction: r, norms: .rows, threadCount: threads).apply(to: &w, orientation: .writesToResidual)
            outs.append(w.scalars.map(\.bitPattern))
        }
        XCTAssertTrue(outs.allSatisfy { $0 == outs[0] })
    }

    func testOnlyForWritersAndTheRecordIsChecked() throws {
        var g = SeededGenerator(seed: 65)
        let r = g.normals(8)
        var e = try Tensor(shape: [5, 8], scalars: g.floats(40))
        XCTAssertThrowsError(try Orthogonalizer(direction: r, norms: .rows).apply(to: &e, orientation: .embedding, name: "embed_tokens")) {
            XCTAssertTrue("\($0)".contains("embed_tokens"), "\($0)")
        }
        var w = try Tensor(shape: [8, 6], scalars: g.floats(48))
        let record = try Orthogonalizer(direction: r, norms: .rows).apply(to: &w, orientation: .writesToResidual)
        var other = try Tensor(shape: [8, 7], scalars: g.floats(56))
        XCTAssertThrowsError(try Orthogonalizer.undo(record, on: &other, name: "down_proj"))
        // The record survives JSON, and an older record (no row norms) still decodes as what it was.
        let decoded = try JSONDecoder().decode(OrthogonalizationRecord.self, from: JSONEncoder().encode(record))
        XCTAssertEqual(decoded, record)
        XCTAssertEqual(decoded.norms, .rows)
        let plain = try Orthogonalizer(direction: r).apply(to: &w, orientation: .writesToResidual)
        XCTAssertEqual(try JSONDecoder().decode(OrthogonalizationRecord.self, from: JSONEncoder().encode(plain)).norms, .none)
        XCTAssertEqual(Orthogonalizer.predictedNorm(before: 3, record: record), 3)
    }
}
