import XCTest
@testable import TensorKit

final class QuantizerTests: XCTestCase {
    /// Bit-exact with gguf-py's Q8_0 quantize (itself bit-exact with ggml's quantize_row_q8_0_ref).
    func testQ8_0MatchesGGUFPy() throws {
        let fixture = try QuantFixtures.json("quant_blocks.json")
        let cases = try XCTUnwrap(fixture["q8_0_quantize"] as? [[String: Any]])
        XCTAssertEqual(cases.count, 3)
        for c in cases {
            let x = QuantFixtures.floats(c["input"])
            XCTAssertEqual(try Quantizer.q8_0(x), QuantFixtures.bytes(c["bytes"]))
        }
        XCTAssertThrowsError(try Quantizer.q8_0([Float](repeating: 1, count: 33)))
    }

    /// |x − deq(q8(x))| ≤ d/2 (code rounding with the f32 d) + 127·|d − f16(d)| (the stored scale's rounding).
    func testQ8_0RoundTripBound() throws {
        var rng = SystemRandomNumberGenerator()
        let x = (0..<32 * 64).map { _ in Float.random(in: -3...3, using: &rng) * Float.random(in: 0...1, using: &rng) }
        let q = try Quantizer.q8_0(x)
        var y = [Float](repeating: 0, count: x.count)
        try q.withUnsafeBytes { s in
            try y.withUnsafeMutableBufferPointer {
                try Dequantization.dequantize(.ggml(.q8_0), source: s.baseAddress!, count: x.count, into: $0.baseAddress!)
            }
        }
        for b in 0..<64 {
            let block = x[(32 * b)..<(32 * b + 32)]
            let d = block.map(abs).max()! / 127
            let d16 = Precision.float(fromF16Bits: Precision.f16Bits(d))
            let bound = d / 2 * (1 + 1e-6) + 127 * abs(d - d16) + 1e-30
            for j in 0..<32 {
                XCTAssertLessThanOrEqual(abs(x[32 * b + j] - y[32 * b + j]), bound, "block \(b) value \(j)")
            }
        }
    }

    /// Bit-exact with numpy's evaluation of bitsandbytes' quantize_4bit (argmin over the NF4 codes).
    func testNF4MatchesReference() throws {
        let fixture = try QuantFixtures.json("quant_bnb4.json")
        let cases = try XCTUnwrap(fixture["nf4_quantize"] as? [[String: Any]])
        XCTAssertEqual(cases.count, 2)
        for c in cases {
            let x = QuantFixtures.floats(c["input"])
            let (packed, absmax) = try Quantizer.nf4(x, blockSize: c["blocksize"] as! Int)
            XCTAssertEqual(packed, QuantFixtures.bytes(c["packed"]))
            XCTAssertEqual(absmax, QuantFixtures.floats(c["absmax"]))
        }
        XCTAssertThrowsError(try Quantizer.nf4([1, 2], blockSize: 0))
    }

    /// NF4 round trip: every value lands within half the widest gap between adjacent codes, times absmax;
    /// a value equal to ±absmax is exact; a partial last block and an odd count work.
    func testNF4RoundTripBound() throws {
        var rng = SystemRandomNumberGenerator()
        let n = 64 * 10 + 37
        let x = (0..<n).map { _ in Float.random(in: -1...1, using: &rng) * 0.05 }
        let (packed, absmax) = try Quantizer.nf4(x, blockSize: 64)
        XCTAssertEqual(absmax.count, 11)
        XCTAssertEqual(packed.count, (n + 1) / 2)
        let state = BitsAndBytes4Bit.QuantState(quantType: .nf4, blockSize: 64, dtype: "float32", shape: [n])
        let y = try packed.withUnsafeBytes { try BitsAndBytes4Bit.dequantize(packed: $0, absmax: .float32(absmax), state: state) }
        let table = BitsAndBytes4Bit.nf4Table
        let halfGap = zip(table.dropFirst(), table).map { ($0 - $1) / 2 }.max()!
        for i in 0..<n {
            let a = absmax[i / 64]
            XCTAssertLessThanOrEqual(abs(x[i] - y.scalars[i]), halfGap * a * (1 + 1e-5), "value \(i)")
            if abs(x[i]) == a { XCTAssertEqual(y.scalars[i], x[i], "extreme value \(i) is exact") }
        }
    }
}

final class QuantizationRoundTripTests: XCTestCase {
    func testRoundTripsEqualQuantizeThenDequantize() throws {
        var g = SystemRandomNumberGenerator()
        let values = (0..<256).map { _ in Float.random(in: -2...2, using: &g) }
        let q8 = try Quantizer.q8_0RoundTrip(values)
        let nf4 = try Quantizer.nf4RoundTrip(values, blockSize: 64)
        // Q8_0: x ≈ q·d with d = absmax/127 stored as f16 (relative error ≤ 2⁻¹¹), |q| ≤ 127, so
        // |x − q·f16(d)| ≤ d/2 + 127·d·2⁻¹¹.
        for b in 0..<8 {
            let block = values[(b * 32)..<((b + 1) * 32)]
            let step = block.map(abs).max()! / 127
            for i in block.indices { XCTAssertLessThanOrEqual(abs(q8[i] - values[i]), step * (0.5 + 127.0 / 2048) * 1.0001) }
        }
        // NF4 reproduces the component path exactly.
        let q = try Quantizer.nf4(values, blockSize: 64)
        let expected = try q.packed.withUnsafeBytes {
            try BitsAndBytes4Bit.dequantize(
                packed: $0, absmax: .float32(q.absmax),
                state: .init(quantType: .nf4, blockSize: 64, dtype: "float32", shape: [256]))
        }
        XCTAssertEqual(nf4, expected.scalars)
        XCTAssertNotEqual(nf4, values)
    }
}
