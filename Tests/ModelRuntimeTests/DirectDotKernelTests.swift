import Foundation
import XCTest
import TestSupport
import TensorKit
@testable import LanguageModels

/// `DirectDot`: dot products straight from stored rows, against dequantize-then-multiply.
///
/// Tolerances. The f32-activation kernels compute each wᵢ exactly as `Dequantization.dequantize` does, so
/// they differ from the f64 dot of the widened row only by f32 summation: 32 lanes of ≤ n/32 terms and a
/// horizontal sum, |error| ≤ (n/32 + 5)·2⁻²⁴·Σ|wᵢxᵢ| < 1e-5·Σ|wᵢxᵢ| for n ≤ 2048.
/// The 8-bit kernels are compared with the f64 dot of the widened row and the activation dequantized the
/// same way (x̂ = d·x_q, and for Q4_1 the f16 block sum s the integer form uses): their integer sums are
/// exact, and the f32 rounding of the widened weight (d·q + m, with |d·q| + |m| ≤ 3·max|w| of the row) and
/// of the block scales bounds the difference by 1e-5·Σ(|wᵢ| + max|w|)·|x̂ᵢ|.
final class DirectDotKernelTests: XCTestCase {
    static let ggmlTypes: [GGMLType] = [.q4_0, .q4_1, .q5_0, .q8_0, .q4_K, .q6_K]

    static func randomValues(_ n: Int, _ g: inout SeededGenerator) -> [Float] {
        // Mostly small values with a few large ones, as weights and activations have.
        (0..<n).map { i in Float(g.normal()) * (i % 37 == 5 ? 4 : 0.5) + (i % 11 == 0 ? 0.3 : 0) }
    }

    static func widened(_ bytes: [UInt8], _ type: StorageType, count: Int) throws -> [Float] {
        var out = [Float](repeating: 0, count: count)
        try bytes.withUnsafeBytes { b in
            try out.withUnsafeMutableBufferPointer {
                try Dequantization.dequantize(type, source: b.baseAddress!, count: count, into: $0.baseAddress!)
            }
        }
        return out
    }

    /// Σ wᵢxᵢ and Σ|wᵢxᵢ| in f64.
    static func reference(_ w: ArraySlice<Float>, _ x: ArraySlice<Float>) -> (Double, Double) {
        var s = 0.0, m = 0.0
        for (a, b) in zip(w, x) { s += Double(a) * Double(b); m += abs(Double(a) * Double(b)) }
        return (s, m)
    }

    /// The GGML type `GGMLQuantizer.encode` writes rows of `type` as.
    static func encoding(_ type: StorageType) -> GGMLType {
        switch type {
        case .dense(.f32): return .f32
        case .dense(.bf16): return .bf16
        case .dense(.f16): return .f16
        case .ggml(let t): return t
        default: fatalError("no encoding for \(type)")
        }
    }

    /// Row lengths for a block size: odd for dense types, whole odd numbers of blocks otherwise.
    static func lengths(_ type: StorageType) -> [Int] {
        switch type {
        case .ggml(let g) where g.blockSize > 1: return [g.blockSize, g.blockSize * 3, (2048 / g.blockSize) * g.blockSize]
        default: return [1, 15, 33, 67, 1001, 2048]
        }
    }

    func testF32ActivationKernelsMatchDequantizeThenDot() throws {
        var g = SeededGenerator(seed: 13)
        let types: [StorageType] = [.dense(.f32), .dense(.bf16), .dense(.f16)] + Self.ggmlTypes.map { .ggml($0) }
        for type in types {
            let kernel = try XCTUnwrap(DirectDot.kernel(for: type), "\(type)")
            for n in Self.lengths(type) {
                let rows = 3
                let values = Self.randomValues(rows * n, &g), x = Self.randomValues(n, &g)
                let encodeAs = Self.encoding(type)
                let bytes = try GGMLQuantizer.encode(values, as: encodeAs)
                let w = try Self.widened(bytes, type, count: rows * n)
                let rowBytes = bytes.count / rows
                for r in 0..<rows {
                    let s = bytes.withUnsafeBytes { b in x.withUnsafeBufferPointer { kernel(b.baseAddress! + r * rowBytes, $0.baseAddress!, n) } }
                    let (expected, magnitude) = Self.reference(w[(r * n)..<((r + 1) * n)], x[...])
                    XCTAssertLessThanOrEqual(abs(Double(s) - expected), 1e-5 * magnitude + 1e-30, "\(type) n=\(n) row \(r)")
                    // Every f32 kernel sums in dotF32's order: bit for bit dotF32 of the widened row.
                    let f32 = w.withUnsafeBytes { wb in x.withUnsafeBufferPointer { DirectDot.dotF32(wb.baseAddress! + 4 * r * n, $0.baseAddress!, n) } }
                    XCTAssertEqual(s.bitPattern, f32.bitPattern, "\(type) n=\(n) row \(r): \(s) vs dotF32 \(f32)")
                }
            }
        }
    }

    /// Every native kernel family this CPU runs (`NativeDot`: AVX2, AVX-512) gives the portable Swift
    /// kernels' bits, on random rows with large and tiny values, signed zeros and every tail length, unaligned.
    func testNativeKernelsGiveThePortableKernelsBits() throws {
        let families = NativeDot.Family.allCases.filter { $0 != .portable && $0 <= NativeDot.available }
        try XCTSkipIf(families.isEmpty, "no AVX2/F16C on this CPU: only the portable kernels run")
        var g = SeededGenerator(seed: 29)
        let types: [StorageType] = [.dense(.f32), .dense(.bf16), .dense(.f16)] + Self.ggmlTypes.map { .ggml($0) }
        for family in families {
        for type in types {
            let native = try XCTUnwrap(NativeDot.kernel(for: type, family: family), "\(type) \(family)")
            let portable = try XCTUnwrap(DirectDot.portableKernel(for: type), "\(type)")
            let encodeAs = Self.encoding(type)
            let lengths = encodeAs.blockSize > 1 ? Self.lengths(type) + [encodeAs.blockSize * 9]
                : Array(0...70) + [255, 1001, 2048, 2049]
            for n in lengths {
                var values = Self.randomValues(n, &g)
                if n > 3 { values[1] = -0.0; values[2] = 1e-30; values[3] = 3e4 }
                let x = Self.randomValues(n, &g)
                // One byte of offset: the kernels read rows at any address.
                let bytes = [UInt8(0)] + (try GGMLQuantizer.encode(values, as: encodeAs))
                let (a, b) = bytes.withUnsafeBytes { w in
                    x.withUnsafeBufferPointer { (native(w.baseAddress! + 1, $0.baseAddress!, n), portable(w.baseAddress! + 1, $0.baseAddress!, n)) }
                }
                XCTAssertEqual(a.bitPattern, b.bitPattern, "\(type) \(family) n=\(n): native \(a), portable \(b)")
            }
        }
        }
    }

    /// The 8-bit activation blocks: x̂ within half a step of x (the step d rounded to f16 for Q8_0/Q8_1,
    /// which moves x̂ by at most 127·|d − f16(d)| ≤ 127·2⁻¹¹·d more), block sums as stored.
    func testActivationQuantization() {
        var g = SeededGenerator(seed: 7)
        let x = Self.randomValues(512, &g) + [Float](repeating: 0, count: 256)  // and an all-zero block
        for kind in [QuantizedActivation.Kind.q8_0, .q8_1, .q8_K] {
            let q = x.withUnsafeBufferPointer { QuantizedActivation(kind, $0.baseAddress!, count: x.count) }
            let xhat = q.dequantized()
            for i in x.indices {
                let d = q.d[i / kind.blockSize]
                let bound = kind == .q8_K ? d.magnitude * 0.5001 : d.magnitude * (0.5 + 127.0 / 2048) * 1.0001
                XCTAssertLessThanOrEqual(abs(x[i] - xhat[i]), bound, "\(kind) value \(i)")
                XCTAssertLessThanOrEqual(abs(Int(q.qs[i])), 127)
            }
            for b in 0..<(x.count / kind.blockSize) {
                let block = (b * kind.blockSize)..<((b + 1) * kind.blockSize)
                let amax = x[block].map(\.magnitude).max()!
                if amax == 0 { XCTAssertEqual(q.d[b], 0); continue }
                XCTAssertEqual(block.map { abs(Int(q.qs[$0])) }.max(), 127, "\(kind) block \(b): the largest value maps to ±127")
                if kind == .q8_1 {
                    let total = block.reduce(Int32(0)) { $0 + Int32(q.qs[$1]) }
                    // s = f16(d·Σ x_q) with d = amax/127 before its rounding to f16, as ggml.
                    XCTAssertEqual(q.s[b], Precision.float(fromF16Bits: Precision.f16Bits(amax / 127 * Float(total))))
                }
            }
            if kind == .q8_K {
                for group in 0..<(x.count / 16) {
                    XCTAssertEqual(Int(q.bsums[group]), (0..<16).reduce(0) { $0 + Int(q.qs[16 * group + $1]) })
                }
            }
        }
    }

    func testQuantizedActivationKernelsMatchTheSameQuantizedProduct() throws {
        var g = SeededGenerator(seed: 21)
        for type in Self.ggmlTypes {
            let storage = StorageType.ggml(type)
            let kernel = try XCTUnwrap(DirectDot.quantizedKernel(for: storage))
            let kind = try XCTUnwrap(DirectDot.activationKind(for: storage))
            XCTAssertEqual(kind, type == .q4_1 ? .q8_1 : (type.blockSize == 256 ? .q8_K : .q8_0))
            for n in Self.lengths(storage) {
                let rows = 3
                let values = Self.randomValues(rows * n, &g), x = Self.randomValues(n, &g)
                let bytes = try GGMLQuantizer.encode(values, as: type)
                let w = try Self.widened(bytes, storage, count: rows * n)
                let q = x.withUnsafeBufferPointer { QuantizedActivation(kind, $0.baseAddress!, count: n) }
                let xhat = q.dequantized()
                let rowBytes = bytes.count / rows
                for r in 0..<rows {
                    let s = bytes.withUnsafeBytes { kernel($0.baseAddress! + r * rowBytes, q, n) }
                    let row = Array(w[(r * n)..<((r + 1) * n)])
                    let maxW = Double(row.map(\.magnitude).max()!)
                    var expected = 0.0, magnitude = 0.0
                    for i in 0..<n {
                        magnitude += (abs(Double(row[i])) + maxW) * abs(Double(xhat[i]))
                    }
                    if type == .q4_1 {
                        // Σ (w − m)·x̂ + m·s per block: the min term goes through the block sum s.
                        for b in 0..<(n / 32) {
                            let m = bytes.withUnsafeBytes { Precision.float(fromF16Bits: $0.loadUnaligned(fromByteOffset: r * rowBytes + 20 * b + 2, as: UInt16.self)) }
                            for i in (32 * b)..<(32 * b + 32) { expected += (Double(row[i]) - Double(m)) * Double(xhat[i]) }
                            expected += Double(m) * Double(q.s[b])
                        }
                    } else {
                        expected = Self.reference(row[...], xhat[...]).0
                    }
                    XCTAssertLessThanOrEqual(abs(Double(s) - expected), 1e-5 * magnitude, "\(type) n=\(n) row \(r)")
                    // And the quantized product is near the f32 one (loosely: activation rounding is ~1/254 of amax).
                    let (exact, exactMagnitude) = Self.reference(row[...], x[...])
                    XCTAssertLessThanOrEqual(abs(Double(s) - exact), 0.02 * exactMagnitude + 1e-6, "\(type) n=\(n) row \(r) vs f32 x")
                }
            }
        }
    }

    // MARK: the streamed linear product over a ModelWeights

    /// A one-weight `ModelWeights` holding `storage` for "w" of shape (rows, in).
    static func weights(_ storage: ModelWeights.Storage, rows: Int, inSize: Int) -> ModelWeights {
        ModelWeights(
            names: ["w"], entries: ["w": .init(shape: [rows, inSize], storage: storage)], architecture: .llama)
    }

    static func stored(_ bytes: [UInt8], _ type: StorageType, rows: Int, inSize: Int) -> ModelWeights.Storage {
        let owner = OwnedBytes(count: bytes.count)
        owner.buffer.copyMemory(from: UnsafeRawBufferPointer(start: bytes, count: bytes.count))
        return .stored(StoredTensor(
            name: "w", type: type, shape: [rows, inSize],
            bytes: UnsafeRawBufferPointer(start: owner.buffer.baseAddress, count: bytes.count), owner: owner))
    }

    /// y = x·Wᵀ for 1 and 3 tokens, 13 rows (not a multiple of the threads), several threads: the direct
    /// path against the widened rows (f32 activations), every storage the runtime holds.
    func testStreamedProductMatchesWidenedRows() throws {
        var g = SeededGenerator(seed: 5)
        let savedThreads = BLAS.threadCount, savedMode = LinearKernels.quantizedActivations
        defer { BLAS.threadCount = savedThreads; LinearKernels.quantizedActivations = savedMode }
        let rows = 13
        var cases: [(String, ModelWeights.Storage, Int)] = []
        for (type, inSize) in [(GGMLType.bf16, 67), (.f16, 67), (.f32, 67), (.q4_0, 96), (.q4_1, 96), (.q5_0, 96),
                               (.q8_0, 96), (.q4_K, 512), (.q6_K, 512)] {
            let bytes = try GGMLQuantizer.encode(Self.randomValues(rows * inSize, &g), as: type)
            let storageType: StorageType = type.blockSize == 1 ? .dense(DType(rawValue: type.name)!) : .ggml(type)
            cases.append(("\(type.name)", Self.stored(bytes, storageType, rows: rows, inSize: inSize), inSize))
        }
        cases.append(("dense", .dense(Self.randomValues(rows * 67, &g)), 67))
        for (dtype, blockSize) in [("bfloat16", 64), ("float16", 16), ("float32", 64)] {
            // 96-value rows in 64-value blocks: rows start inside blocks.
            let inSize = 96
            let values = Self.randomValues(rows * inSize, &g)
            let (packed, absmax) = try Quantizer.nf4(values, blockSize: blockSize)
            let owner = OwnedBytes(count: packed.count)
            owner.buffer.copyMemory(from: UnsafeRawBufferPointer(start: packed, count: packed.count))
            let tensor = StoredTensor(
                name: "w", type: .dense(.u8), shape: [packed.count],
                bytes: UnsafeRawBufferPointer(start: owner.buffer.baseAddress, count: packed.count), owner: owner)
            let state = BitsAndBytes4Bit.QuantState(quantType: .nf4, blockSize: blockSize, dtype: dtype, shape: [rows, inSize])
            cases.append(("nf4 \(dtype)", .bitsAndBytes(BitsAndBytesWeight(
                name: "w", packed: tensor, scales: absmax, table: BitsAndBytes4Bit.nf4Table, state: state)), inSize))
        }
        for threads in [1, 3] {
            BLAS.threadCount = threads
            for (label, storage, inSize) in cases {
                let weights = Self.weights(storage, rows: rows, inSize: inSize)
                var w = [Float](repeating: 0, count: rows * inSize)
                try w.withUnsafeMutableBufferPointer { try weights.dequantizeRows("w", 0..<rows, into: $0.baseAddress!) }
                for tokens in [1, 3] {
                    let x = Self.randomValues(tokens * inSize, &g)
                    for quantized in [false, true] {
                        LinearKernels.quantizedActivations = quantized
                        var y = [Float](repeating: .nan, count: tokens * rows)
                        try x.withUnsafeBufferPointer { xp in
                            try y.withUnsafeMutableBufferPointer {
                                try LinearKernels.streamed(
                                    weights, "w", x: xp.baseAddress!, tokens: tokens, inSize: inSize, outSize: rows, into: $0.baseAddress!)
                            }
                        }
                        for t in 0..<tokens {
                            for o in 0..<rows {
                                let (expected, magnitude) = Self.reference(
                                    w[(o * inSize)..<((o + 1) * inSize)], x[(t * inSize)..<((t + 1) * inSize)])
                                let integer = quantized && {
                                    if case .stored(let s) = storage { return DirectDot.activationKind(for: s.type) != nil }
                                    return false
                                }()
                                // f32 activations: summation order only. 8-bit activations: the activation rounding
                                // (checked exactly above); here only that the product is the right one.
                                let tolerance = integer ? 0.02 * magnitude + 1e-6 : 1e-5 * magnitude + 1e-30
                                let at = "\(label) threads \(threads) tokens \(tokens) quantized \(quantized) y[\(t), \(o)]"
                                XCTAssertLessThanOrEqual(abs(Double(y[t * rows + o]) - expected), tolerance, at)
                                if !integer {
                                    // f32 activations: bit for bit dotF32 of the widened row (packed = dense).
                                    let f32 = w.withUnsafeBytes { wb in
                                        x.withUnsafeBufferPointer {
                                            DirectDot.dotF32(wb.baseAddress! + 4 * o * inSize, $0.baseAddress! + t * inSize, inSize)
                                        }
                                    }
                                    XCTAssertEqual(y[t * rows + o].bitPattern, f32.bitPattern, at)
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
