import Foundation
import TensorKit
import XCTest
@testable import AbliterationCore
import TestSupport

final class OrthogonalizerTests: XCTestCase {
    /// A random matrix with a strong component along `dir` so the edit has something to remove.
    func matrix(_ rows: Int, _ cols: Int, _ g: inout SeededGenerator) -> [Float] {
        g.floats(rows * cols, scale: 0.05)
    }

    func unit(_ v: [Double]) -> [Double] { let n = norm(v); return v.map { $0 / n } }

    /// r̂ᵀW (columns) in f64 of a row-major (rows, cols) matrix.
    func columnProjections(_ w: [Float], rows: Int, cols: Int, _ r: [Double]) -> [Double] {
        var p = [Double](repeating: 0, count: cols)
        for i in 0..<rows { for j in 0..<cols { p[j] += r[i] * Double(w[i * cols + j]) } }
        return p
    }

    func rowProjections(_ e: [Float], rows: Int, cols: Int, _ r: [Double]) -> [Double] {
        (0..<rows).map { v in (0..<cols).reduce(0.0) { $0 + r[$1] * Double(e[v * cols + $1]) } }
    }

    func frobenius(_ x: [Float]) -> Double { x.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot() }

    func testFullEditRemovesTheDirection_F32() throws {
        try forEachSeed(12, base: 21) { seed, g in
            let hidden = Int.random(in: 1...300, using: &g), inner = Int.random(in: 1...300, using: &g)
            let r = unit(g.normals(hidden))
            var w = try Tensor(shape: [hidden, inner], scalars: matrix(hidden, inner, &g))
            let original = w.scalars
            let o = try Orthogonalizer(direction: r, threadCount: Int.random(in: 1...4, using: &g))
            let record = try o.apply(to: &w, orientation: .writesToResidual, name: "down_proj")
            let after = norm(columnProjections(w.scalars, rows: hidden, cols: inner, r))
            XCTAssertLessThanOrEqual(after, 1e-5 * frobenius(original), "seed \(seed) [\(hidden), \(inner)]")
            // Against the f64 reference W − r̂(r̂ᵀW).
            let p = columnProjections(original, rows: hidden, cols: inner, r)
            var worst = 0.0
            for i in 0..<hidden { for j in 0..<inner {
                worst = max(worst, abs(Double(w.scalars[i * inner + j]) - (Double(original[i * inner + j]) - r[i] * p[j])))
            } }
            XCTAssertLessThan(worst, 1e-6, "seed \(seed)")
            XCTAssertEqual(record.projections.count, inner)
            XCTAssertLessThan(relativeDifference(record.projections.map(Double.init), p), 1e-5, "seed \(seed)")
            XCTAssertEqual(Orthogonalizer.predictedNorm(before: frobenius(original), record: record), frobenius(w.scalars), accuracy: 1e-5 * frobenius(original))
        }
    }

    func testFloatAndDoubleDirectionsAgree() throws {
        var g = SeededGenerator(seed: 22)
        let r = g.normals(40)
        let a = try Orthogonalizer(direction: r), b = try Orthogonalizer(direction: r.map { Float($0) })
        for i in 0..<40 { XCTAssertEqual(a.direction[i], b.direction[i], accuracy: 1e-7) }
        let fromRefusal = try Orthogonalizer(RefusalDirection.conventional(harmful: r, harmless: [Double](repeating: 0, count: 40)))
        XCTAssertEqual(fromRefusal.direction, a.direction)
    }

    func testEmbeddingEditRemovesTheDirection() throws {
        try forEachSeed(8, base: 23) { seed, g in
            let vocab = Int.random(in: 1...500, using: &g), hidden = Int.random(in: 2...200, using: &g)
            let r = unit(g.normals(hidden))
            var e = try Tensor(shape: [vocab, hidden], scalars: matrix(vocab, hidden, &g))
            let original = e.scalars
            try Orthogonalizer(direction: r).apply(to: &e, orientation: .embedding, name: "embed_tokens")
            let after = norm(rowProjections(e.scalars, rows: vocab, cols: hidden, r))
            XCTAssertLessThanOrEqual(after, 1e-5 * frobenius(original), "seed \(seed)")
        }
    }

    func testPartialScaleLeavesOneMinusSOfTheProjection() throws {
        var g = SeededGenerator(seed: 24)
        let r = unit(g.normals(64))
        var w = try Tensor(shape: [64, 96], scalars: matrix(64, 96, &g))
        let before = columnProjections(w.scalars, rows: 64, cols: 96, r)
        try Orthogonalizer(direction: r, scale: 0.25).apply(to: &w, orientation: .writesToResidual)
        let after = columnProjections(w.scalars, rows: 64, cols: 96, r)
        for j in 0..<96 { XCTAssertEqual(after[j], 0.75 * before[j], accuracy: 1e-6) }
    }

    func testNormPreservingKeepsEveryColumnNorm() throws {
        try forEachSeed(10, base: 25) { seed, g in
            let hidden = Int.random(in: 2...256, using: &g), inner = Int.random(in: 1...256, using: &g)
            let r = unit(g.normals(hidden))
            var w = try Tensor(shape: [hidden, inner], scalars: matrix(hidden, inner, &g))
            let original = w.scalars
            let s = Bool.random(using: &g) ? 1 : Float.random(in: 0.1...1.5, using: &g)
            let record = try Orthogonalizer(direction: r, scale: s, norms: .vectors).apply(to: &w, orientation: .writesToResidual)
            for j in 0..<inner {
                let before = (0..<hidden).reduce(0.0) { $0 + pow(Double(original[$1 * inner + j]), 2) }.squareRoot()
                let after = (0..<hidden).reduce(0.0) { $0 + pow(Double(w.scalars[$1 * inner + j]), 2) }.squareRoot()
                XCTAssertEqual(after, before, accuracy: 1e-5 * before, "seed \(seed) column \(j)")
            }
            XCTAssertNotNil(record.vectorScales)
            if s == 1 {
                let after = norm(columnProjections(w.scalars, rows: hidden, cols: inner, r))
                XCTAssertLessThanOrEqual(after, 1e-5 * frobenius(original), "seed \(seed)")
            }
            // Each column is ‖w‖·normalize(w − s(r̂·w)r̂).
            let p = columnProjections(original, rows: hidden, cols: inner, r)
            let j = Int.random(in: 0..<inner, using: &g)
            let u = (0..<hidden).map { Double(original[$0 * inner + j]) - Double(s) * p[j] * r[$0] }
            let wn = (0..<hidden).reduce(0.0) { $0 + pow(Double(original[$1 * inner + j]), 2) }.squareRoot()
            for i in 0..<hidden {
                XCTAssertEqual(Double(w.scalars[i * inner + j]), wn * u[i] / norm(u), accuracy: 1e-5 * wn, "seed \(seed)")
            }
        }
    }

    func testNormPreservingEmbeddingKeepsRowNorms() throws {
        var g = SeededGenerator(seed: 26)
        let r = unit(g.normals(48))
        var e = try Tensor(shape: [300, 48], scalars: matrix(300, 48, &g))
        let original = e.scalars
        try Orthogonalizer(direction: r, norms: .vectors).apply(to: &e, orientation: .embedding)
        for v in 0..<300 {
            let a = frobenius(Array(original[(v * 48)..<((v + 1) * 48)])), b = frobenius(Array(e.row(v)))
            XCTAssertEqual(b, a, accuracy: 1e-5 * a)
        }
        XCTAssertLessThanOrEqual(norm(rowProjections(e.scalars, rows: 300, cols: 48, r)), 1e-5 * frobenius(original))
    }

    func testUndoRoundTrips() throws {
        try forEachSeed(12, base: 27) { seed, g in
            let hidden = Int.random(in: 2...128, using: &g), other = Int.random(in: 1...128, using: &g)
            let orientation: ResidualOrientation = Bool.random(using: &g) ? .writesToResidual : .embedding
            let shape = orientation == .writesToResidual ? [hidden, other] : [other, hidden]
            let r = g.normals(hidden)
            let o = try Orthogonalizer(direction: r, scale: Float.random(in: 0.5...1, using: &g), norms: Bool.random(using: &g) ? .vectors : .none)
            let values = matrix(shape[0], shape[1], &g)
            // f32: back to within a few f32 roundings.
            var w = try Tensor(shape: shape, scalars: values)
            let rec = try o.apply(to: &w, orientation: orientation)
            try Orthogonalizer.undo(rec, on: &w)
            for i in values.indices { XCTAssertEqual(w.scalars[i], values[i], accuracy: 1e-6, "seed \(seed) f32 [\(i)]") }
            // bf16: within one bf16 ulp (the step of one rounding) of the larger of the original and edited
            // value; a rounding tie in the edit can make undo land on the neighbour.
            let b0 = try Tensor<Float>(shape: shape, scalars: values).toBF16()
            var b = b0
            let brec = try o.apply(to: &b, orientation: orientation)
            let edited = b.toF32().scalars
            try Orthogonalizer.undo(brec, on: &b)
            let restored = b.toF32().scalars, orig = b0.toF32().scalars
            for i in orig.indices {
                let bound = Double(max(abs(orig[i]), abs(edited[i])).ulp) * 0x1p16
                XCTAssertLessThanOrEqual(Double(abs(restored[i] - orig[i])), bound, "seed \(seed) bf16 [\(i)] orig \(orig[i]) edited \(edited[i]) restored \(restored[i]) np \(o.normPreserving) \(orientation)")
            }
            // f16 likewise (10 fraction bits; subnormal step 2⁻²⁴).
            let h0 = try Tensor<Float>(shape: shape, scalars: values).toF16()
            var h = h0
            let hrec = try o.apply(to: &h, orientation: orientation)
            let hEdited = h.toF32().scalars
            try Orthogonalizer.undo(hrec, on: &h)
            for i in values.indices {
                let a = Float(h0.scalars[i]), z = Float(h.scalars[i])
                let bound = max(Double(max(abs(a), abs(hEdited[i])).ulp) * 0x1p13, 0x1p-24)
                XCTAssertLessThanOrEqual(Double(abs(z - a)), bound, "seed \(seed) f16 [\(i)]")
            }
        }
    }

    /// One generic function for every dtype: apply then undo through `apply<T>` / `undo<T>`, compared with
    /// the raw-bytes entry (same bits) and with the original (within one rounding of T, per `fractionBits`).
    func roundTrip<T: OrthogonalizableScalar>(
        _ values: [Float], shape: [Int], _ o: Orthogonalizer, _ orientation: ResidualOrientation, as: T.Type,
        fractionBits: Int, file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let original = try Tensor<T>(shape: shape, scalars: values.map(T.narrow))
        var w = original
        let record = try o.apply(to: &w, orientation: orientation)
        let edited = w.scalars.map(T.widen)
        XCTAssertNotEqual(edited, original.scalars.map(T.widen), "the edit changed nothing", file: file, line: line)
        // The raw-bytes entry (dispatch on DType) gives the same bits and the same record.
        var bytes = original.scalars
        let byteRecord = try bytes.withUnsafeMutableBytes {
            try o.apply(to: $0, dtype: T.dtype, shape: shape, orientation: orientation)
        }
        XCTAssertEqual(byteRecord, record, file: file, line: line)
        XCTAssertEqual(bytes.map(T.widen), edited, file: file, line: line)
        try Orthogonalizer.undo(record, on: &w)
        let scale = Float(sign: .plus, exponent: Float.significandBitCount - fractionBits, significand: 1)
        for i in values.indices {
            let a = T.widen(original.scalars[i]), z = T.widen(w.scalars[i])
            let bound = max(max(abs(a), abs(edited[i])).ulp * scale * 4, 0x1p-24)
            XCTAssertLessThanOrEqual(abs(z - a), bound, "\(T.self) [\(i)] orig \(a) edited \(edited[i]) restored \(z)", file: file, line: line)
        }
    }

    func testGenericApplyUndoRoundTripsForEachDType() throws {
        try forEachSeed(6, base: 41) { seed, g in
            let hidden = Int.random(in: 2...64, using: &g), other = Int.random(in: 1...64, using: &g)
            for orientation in [ResidualOrientation.writesToResidual, .embedding] {
                let shape = orientation == .writesToResidual ? [hidden, other] : [other, hidden]
                let values = g.floats(shape[0] * shape[1], scale: 1)
                for normPreserving in [false, true] {
                    let o = try Orthogonalizer(direction: g.normals(hidden), scale: 0.75, norms: normPreserving ? .vectors : .none)
                    try roundTrip(values, shape: shape, o, orientation, as: Float.self, fractionBits: 23)
                    try roundTrip(values, shape: shape, o, orientation, as: BFloat16.self, fractionBits: 7)
                    try roundTrip(values, shape: shape, o, orientation, as: Float16.self, fractionBits: 10)
                }
            }
        }
    }

    /// A conformance from outside the three built-in types runs the generic kernels through its
    /// witnesses, and gives the bits the f32 path gives.
    struct BoxedFloat: OrthogonalizableScalar, Equatable {
        var value: Float
        static var dtype: DType { .f32 }
        static var zero: BoxedFloat { BoxedFloat(value: 0) }
        static func widen(_ x: BoxedFloat) -> Float { x.value }
        static func narrow(_ x: Float) -> BoxedFloat { BoxedFloat(value: x) }
    }

    func testOtherConformancesTakeTheGenericPath() throws {
        var g = SeededGenerator(seed: 42)
        let values = g.floats(24 * 10, scale: 1)
        let o = try Orthogonalizer(direction: g.normals(24), norms: .vectors)
        var f = try Tensor<Float>(shape: [24, 10], scalars: values)
        var boxed = try Tensor<BoxedFloat>(shape: [24, 10], scalars: values.map(BoxedFloat.init))
        let fr = try o.apply(to: &f, orientation: .writesToResidual)
        XCTAssertEqual(try o.apply(to: &boxed, orientation: .writesToResidual), fr)
        XCTAssertEqual(boxed.scalars.map(\.value), f.scalars)
        XCTAssertEqual(Orthogonalizer.frobeniusNorm(boxed), Orthogonalizer.frobeniusNorm(f))
        try Orthogonalizer.undo(fr, on: &f)
        try Orthogonalizer.undo(fr, on: &boxed)
        XCTAssertEqual(boxed.scalars.map(\.value), f.scalars)
    }

    func testUntouchedRowsKeepTheirBits() throws {
        var g = SeededGenerator(seed: 28)
        let hidden = 32, inner = 50
        var r = g.normals(hidden)
        for i in stride(from: 0, to: hidden, by: 3) { r[i] = 0 }  // rows 0, 3, 6, … are not touched
        var b = try Tensor<Float>(shape: [hidden, inner], scalars: matrix(hidden, inner, &g)).toBF16()
        b.scalars[3 * inner + 1] = BFloat16(bitPattern: 0x7F81)  // a signalling-NaN payload
        b.scalars[3 * inner + 2] = BFloat16(bitPattern: 0x8000)  // −0
        let original = b
        try Orthogonalizer(direction: r).apply(to: &b, orientation: .writesToResidual)
        for i in 0..<hidden {
            let same = b.row(i).map(\.bitPattern) == original.row(i).map(\.bitPattern)
            if i % 3 == 0 { XCTAssertTrue(same, "row \(i) changed") } else { XCTAssertFalse(same, "row \(i) unchanged") }
        }
        // Embedding: a row orthogonal to r̂ is not touched.
        let rr = [1.0, 0, 0, 0]
        var e = try Tensor<Float>(shape: [2, 4], scalars: [-0.0, 1.5, -2, 7, 3, 1, 1, 1])
        let bits = e.scalars.map(\.bitPattern)
        try Orthogonalizer(direction: rr).apply(to: &e, orientation: .embedding)
        XCTAssertEqual(Array(e.scalars[0..<4]).map(\.bitPattern), Array(bits[0..<4]))
        XCTAssertEqual(Array(e.scalars[4..<8]), [0, 1, 1, 1])
    }

    func testThreadCountDoesNotChangeTheBits() throws {
        var g = SeededGenerator(seed: 29)
        let hidden = 96, inner = 2000  // several column tiles
        let r = g.normals(hidden)
        let w0 = try Tensor<Float>(shape: [hidden, inner], scalars: matrix(hidden, inner, &g)).toBF16()
        for np in [false, true] {
            var outs: [[UInt16]] = []
            for threads in [1, 2, 3, 7] {
                var w = w0
                try Orthogonalizer(direction: r, norms: np ? .vectors : .none, threadCount: threads).apply(to: &w, orientation: .writesToResidual)
                outs.append(w.scalars.map(\.bitPattern))
            }
            XCTAssertTrue(outs.allSatisfy { $0 == outs[0] }, "normPreserving \(np)")
        }
    }

    func testRawBytesMatchTensorsAndBadInputsThrow() throws {
        var g = SeededGenerator(seed: 30)
        let r = g.normals(16)
        let o = try Orthogonalizer(direction: r)
        var t = try Tensor<Float>(shape: [16, 10], scalars: matrix(16, 10, &g)).toBF16()
        var bytes = t.scalars.map(\.bitPattern)
        let rec1 = try o.apply(to: &t, orientation: .writesToResidual)
        let rec2 = try bytes.withUnsafeMutableBytes {
            try o.apply(to: $0, dtype: .bf16, shape: [16, 10], orientation: .writesToResidual, name: "o_proj")
        }
        XCTAssertEqual(bytes, t.scalars.map(\.bitPattern))
        XCTAssertEqual(rec1, rec2)
        let norm = try bytes.withUnsafeBytes { try Orthogonalizer.frobeniusNorm(bytes: $0, dtype: .bf16) }
        XCTAssertEqual(norm, Orthogonalizer.frobeniusNorm(t))
        let json = try JSONEncoder().encode(rec1)
        XCTAssertEqual(try JSONDecoder().decode(OrthogonalizationRecord.self, from: json), rec1)

        var wrong = Tensor<Float>(zeros: [15, 10])
        XCTAssertThrowsError(try o.apply(to: &wrong, orientation: .writesToResidual, name: "layers.3.o_proj")) {
            XCTAssertTrue("\($0)".contains("layers.3.o_proj"), "\($0)")
        }
        XCTAssertThrowsError(try o.apply(to: &wrong, orientation: .embedding, name: "embed"))
        var rank3 = Tensor<Float>(zeros: [16, 2, 2])
        XCTAssertThrowsError(try o.apply(to: &rank3, orientation: .writesToResidual))
        var ints = [Int32](repeating: 0, count: 160)
        XCTAssertThrowsError(try ints.withUnsafeMutableBytes {
            try o.apply(to: $0, dtype: .i32, shape: [16, 10], orientation: .writesToResidual)
        })
        XCTAssertThrowsError(try bytes.withUnsafeMutableBytes {
            try o.apply(to: $0, dtype: .bf16, shape: [16, 11], orientation: .writesToResidual)
        })
        var other = Tensor<Float>(zeros: [16, 9])
        XCTAssertThrowsError(try Orthogonalizer.undo(rec1, on: &other))
        XCTAssertThrowsError(try Orthogonalizer(direction: [0, 0] as [Double]))
        XCTAssertThrowsError(try Orthogonalizer(direction: [1, .nan] as [Double]))
        XCTAssertThrowsError(try Orthogonalizer(direction: [] as [Double]))
        XCTAssertThrowsError(try Orthogonalizer(direction: [1.0], scale: .infinity))
        // Empty matrices are fine.
        var empty = Tensor<Float>(zeros: [16, 0])
        XCTAssertEqual(try o.apply(to: &empty, orientation: .writesToResidual).projections, [])
    }

    func testBenchmarkRuns() throws {
        let result = try OrthogonalizerBenchmark.run(rows: 256, cols: 512, dtype: .bf16, threads: 2, iterations: 2)
        XCTAssertEqual(result.bytes, 256 * 512 * 2)
        XCTAssertGreaterThan(result.gigabytesPerSecond, 0)
    }

    /// The target: a bf16 4096 × 14336 matrix at ≥ 1 GB/s on 2 cores. Timing depends on the
    /// machine's load, so it runs only with ABLITERATE_BENCH=1 (release build).
    func testBenchmarkMeetsOneGigabytePerSecond() throws {
        guard ProcessInfo.processInfo.environment["ABLITERATE_BENCH"] == "1" else {
            throw XCTSkip("set ABLITERATE_BENCH=1 to time the 4096 × 14336 bf16 edit")
        }
        let result = try OrthogonalizerBenchmark.run()
        print(result)
        // For the record (not asserted): norm-preserving, f32, one thread.
        print(try OrthogonalizerBenchmark.run(norms: .vectors, iterations: 3))
        print(try OrthogonalizerBenchmark.run(dtype: .f32, iterations: 3))
        print(try OrthogonalizerBenchmark.run(threads: 1, iterations: 3))
        XCTAssertGreaterThanOrEqual(result.gigabytesPerSecond, 1.0, "\(result)")
    }
}
