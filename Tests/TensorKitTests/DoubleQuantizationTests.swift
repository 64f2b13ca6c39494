import XCTest
@testable import TensorKit

/// bitsandbytes' 8-bit dynamic map, blockwise quantization and the double quantization of 4-bit absmax
/// (`bnb_4bit_use_double_quant=True`).
final class DoubleQuantizationTests: XCTestCase {
    /// The dynamic map against the numpy evaluation of `create_dynamic_map` in quant_bnb4.json. numpy's
    /// linspace rounds from f64 while torch's (which bitsandbytes calls, and `dynamicMap` follows) steps in
    /// f32, so 40 of the 256 values differ by 1–2 ulps; none by more.
    func testDynamicMapIsBitsAndBytesSigned8BitMap() throws {
        let map = BitsAndBytes4Bit.dynamicMap
        XCTAssertEqual(map.count, 256)
        XCTAssertEqual(map.first, -map[map.count - 2], "ascending from −0.99…; the largest negative mirrors the largest mean")
        XCTAssertEqual(map.last, 1)
        XCTAssertTrue(map.contains(0))
        XCTAssertTrue(zip(map, map.dropFirst()).allSatisfy { $0 < $1 }, "strictly ascending")
        for x in map where x != 0 && x != 1 { XCTAssertTrue(map.contains(-x), "\(x) has no mirror") }
        let fixture = try QuantFixtures.json("quant_bnb4.json")
        let cases = try XCTUnwrap(fixture["dequantize"] as? [[String: Any]])
        let numpy = QuantFixtures.floats(try XCTUnwrap(cases.first { $0["nested_quant_map"] != nil })?["nested_quant_map"])
        XCTAssertEqual(numpy.count, 256)
        var differing = 0
        for (a, b) in zip(map, numpy) {
            XCTAssertLessThanOrEqual(ulpDistance(a, b), 2, "\(a) vs numpy \(b)")
            if a != b { differing += 1 }
        }
        XCTAssertEqual(differing, 40)
    }

    /// Every code is the nearest code (lower one on a tie) to x/absmax of its block; absmax is the block's max|x|.
    func testBlockwise8BitPicksTheNearestCode() throws {
        var rng = SystemRandomNumberGenerator()
        let x = (0..<(256 * 3 + 77)).map { _ in Float.random(in: -1...1, using: &rng) * pow(10, Float.random(in: -4...0, using: &rng)) }
        let (codes, absmax) = try Quantizer.blockwise8Bit(x, blockSize: 256)
        let map = BitsAndBytes4Bit.dynamicMap
        XCTAssertEqual(absmax.count, 4)
        for i in x.indices {
            let a = absmax[i / 256]
            XCTAssertEqual(a, x[(i / 256 * 256)..<min(i / 256 * 256 + 256, x.count)].map(abs).max()!)
            let s = min(max(x[i] * (1 / a), -1), 1)
            let chosen = abs(s - map[Int(codes[i])])
            for k in map.indices { XCTAssertLessThanOrEqual(chosen, abs(s - map[k]) * (1 + 1e-6) + 1e-12, "value \(i), code \(k)") }
        }
        // A block of zeros: absmax 0, every code the code of 0.
        let zeros = try Quantizer.blockwise8Bit([Float](repeating: 0, count: 10), blockSize: 4)
        XCTAssertEqual(zeros.absmax, [0, 0, 0])
        XCTAssertTrue(zeros.codes.allSatisfy { map[Int($0)] == 0 })
        XCTAssertThrowsError(try Quantizer.blockwise8Bit([1], blockSize: 0))
        XCTAssertThrowsError(try Quantizer.blockwise8Bit([1], code: Array(map.reversed())))
    }

    /// Double-quantized absmax (offset = mean, 8-bit codes in blocks of 256, one f32 scale per block)
    /// comes back within the 8-bit error: |a′ − a| ≤ (half the widest gap between adjacent codes) ×
    /// the nested block's max|a − offset|, plus f32 rounding of the product and the offset.
    func testDoubleQuantizedAbsmaxRoundTripsWithinThe8BitError() throws {
        var rng = SystemRandomNumberGenerator()
        // Absmax of 64-value blocks of a weight: positive, of one scale, some spread.
        let absmax = (0..<(256 * 4 + 100)).map { _ in Float.random(in: 0.01...0.2, using: &rng) }
        let dq = try Quantizer.doubleQuantize(absmax: absmax)
        XCTAssertEqual(dq.blockSize, 256)
        XCTAssertEqual(dq.nestedAbsmax.count, 5)
        XCTAssertEqual(Double(dq.offset), absmax.reduce(0.0) { $0 + Double($1) } / Double(absmax.count), accuracy: 1e-7)
        let back = BitsAndBytes4Bit.nestedAbsmax(
            codes: dq.codes, nestedAbsmax: dq.nestedAbsmax, nestedQuantMap: BitsAndBytes4Bit.dynamicMap,
            nestedBlockSize: 256, offset: dq.offset)
        let map = BitsAndBytes4Bit.dynamicMap
        let halfGap = zip(map.dropFirst(), map).map { ($0 - $1) / 2 }.max()!
        XCTAssertEqual(halfGap, 0.00703, accuracy: 0.0001, "the top decade's spacing, 0.9/64, halved")
        var worst: Float = 0
        for b in absmax.indices {
            let scale = dq.nestedAbsmax[b / 256]
            let bound = halfGap * scale * (1 + 1e-5) + 4 * absmax[b].ulp
            let error = abs(back[b] - absmax[b])
            XCTAssertLessThanOrEqual(error, bound, "absmax \(b)")
            worst = max(worst, error / absmax[b])
        }
        XCTAssertGreaterThan(worst, 0, "8 bits do not hold every absmax exactly")
        XCTAssertLessThan(worst, 0.1, "relative error of the 8-bit absmax")
    }

    /// The 4-bit round trip with double quantization equals the codes dequantized with the restored
    /// absmax (the checkpoint path), and stays within the 4-bit error of the restored absmax.
    func testFourBitRoundTripWithDoubleQuantization() throws {
        var rng = SystemRandomNumberGenerator()
        let n = 64 * 300 + 37
        let x = (0..<n).map { _ in Float.random(in: -1...1, using: &rng) * Float.random(in: 0.001...0.05, using: &rng) }
        for quantType in BitsAndBytes4Bit.QuantType.allCases {
            let plain = try Quantizer.fourBitRoundTrip(x, quantType: quantType, doubleQuant: false)
            let dq = try Quantizer.fourBitRoundTrip(x, quantType: quantType, doubleQuant: true)
            let q = try x.withUnsafeBufferPointer { try Quantizer.fourBit($0, blockSize: 64, table: quantType.table) }
            let nested = try Quantizer.doubleQuantize(absmax: q.absmax)
            let restored = BitsAndBytes4Bit.nestedAbsmax(
                codes: nested.codes, nestedAbsmax: nested.nestedAbsmax, nestedQuantMap: BitsAndBytes4Bit.dynamicMap,
                nestedBlockSize: 256, offset: nested.offset)
            let table = quantType.table
            for i in 0..<n {
                let code = Int(i % 2 == 0 ? q.packed[i / 2] >> 4 : q.packed[i / 2] & 0xF)
                XCTAssertEqual(plain[i], table[code] * q.absmax[i / 64], "\(quantType) plain \(i)")
                XCTAssertEqual(dq[i], table[code] * restored[i / 64], "\(quantType) double-quantized \(i)")
            }
            XCTAssertNotEqual(plain, dq, "\(quantType): double quantization changes the scales")
        }
        XCTAssertEqual(try Quantizer.nf4RoundTrip(x), try Quantizer.fourBitRoundTrip(x, quantType: .nf4, doubleQuant: false))
    }
}
