import XCTest
@testable import TensorKit

final class PrecisionTests: XCTestCase {
    /// Every f16 bit pattern widens exactly as Swift's Float16 → Float does (NaNs: NaN, same sign and payload).
    func testF16WideningExhaustive() {
        let all = (0...0xFFFF).map { UInt16($0) }
        var out = [Float](repeating: 0, count: all.count)
        all.withUnsafeBufferPointer { s in out.withUnsafeMutableBufferPointer { Precision.convertF16ToF32(s.baseAddress!, $0.baseAddress!, count: all.count) } }
        for (i, h) in all.enumerated() {
            let reference = Float(Float16(bitPattern: h))
            XCTAssertEqual(Precision.float(fromF16Bits: h).bitPattern, out[i].bitPattern)
            if reference.isNaN {
                XCTAssertTrue(out[i].isNaN, "\(h)")
                XCTAssertEqual(out[i].sign, reference.sign, "\(h)")
                XCTAssertEqual((out[i].bitPattern >> 13) & 0x3FF, UInt32(h & 0x3FF), "payload of \(h)")
            } else {
                XCTAssertEqual(out[i].bitPattern, reference.bitPattern, "f16 \(String(h, radix: 16))")
            }
        }
    }

    /// Every bf16 bit pattern widens to the f32 with those 16 bits on top.
    func testBF16WideningExhaustive() {
        let all = (0...0xFFFF).map { UInt16($0) }
        var out = [Float](repeating: 0, count: all.count)
        all.withUnsafeBufferPointer { s in out.withUnsafeMutableBufferPointer { Precision.convertBF16ToF32(s.baseAddress!, $0.baseAddress!, count: all.count) } }
        for (i, h) in all.enumerated() {
            XCTAssertEqual(out[i].bitPattern, UInt32(h) << 16)
        }
        // And narrowing them back is the identity (NaNs stay NaN).
        var back = [UInt16](repeating: 0, count: all.count)
        out.withUnsafeBufferPointer { s in back.withUnsafeMutableBufferPointer { Precision.convertF32ToBF16(s.baseAddress!, $0.baseAddress!, count: all.count) } }
        for (i, h) in all.enumerated() {
            if out[i].isNaN { XCTAssertTrue(BFloat16(bitPattern: back[i]).floatValue.isNaN) } else { XCTAssertEqual(back[i], h) }
        }
    }

    /// f32 → f16 against Float16(Float) on the edge cases and on a dense sweep of bit patterns, including
    /// every f16 value, every midpoint between consecutive f16 values (ties to even) and its neighbours.
    func testF16Narrowing() {
        var inputs: [Float] = [0, -0, .infinity, -.infinity, .nan, -.nan, Float(bitPattern: 0x7F80_0001), 65504, 65519.99, 65520,
                               -65520, 1e10, Float.greatestFiniteMagnitude, 6.1035156e-05, 5.9604645e-08, 2.9802322e-08,
                               2.9802326e-08, 1e-8, 1e-30, .leastNonzeroMagnitude, 1.0009765625, 1.00048828125, 1.00146484375]
        for h in 0..<0x7C00 {
            let v = Float(Float16(bitPattern: UInt16(h)))
            let next = Float(Float16(bitPattern: UInt16(h + 1)))
            let mid = (v + next) / 2  // exact in f32
            inputs += [v, mid, mid.nextUp, mid.nextDown, -mid]
        }
        for i in stride(from: 0, to: Int(UInt32.max), by: 65_521) { inputs.append(Float(bitPattern: UInt32(i))) }
        var out = [UInt16](repeating: 0, count: inputs.count)
        inputs.withUnsafeBufferPointer { s in out.withUnsafeMutableBufferPointer { Precision.convertF32ToF16(s.baseAddress!, $0.baseAddress!, count: inputs.count) } }
        for (i, x) in inputs.enumerated() {
            let reference = Float16(x)
            XCTAssertEqual(Precision.f16Bits(x), out[i])
            if x.isNaN {
                XCTAssertTrue(Float16(bitPattern: out[i]).isNaN, "\(x)")
                XCTAssertEqual(out[i] & 0x8000, reference.bitPattern & 0x8000)
                XCTAssertEqual(out[i] & 0x0200, 0x0200, "quiet")
            } else {
                XCTAssertEqual(out[i], reference.bitPattern, "f32 \(x) (\(String(x.bitPattern, radix: 16)))")
            }
        }
        XCTAssertEqual(Precision.f16Bits(65520), 0x7C00, "overflow rounds to inf")
        XCTAssertEqual(Precision.f16Bits(1.00048828125), 0x3C00, "tie to even (down)")
        XCTAssertEqual(Precision.f16Bits(1.00146484375), 0x3C02, "tie to even (up)")
    }

    /// f32 → bf16: ties to even, overflow to inf, NaN stays NaN, subnormals round like normals.
    func testBF16Narrowing() {
        func reference(_ x: Float) -> UInt16 {
            // round to nearest even on the top 16 bits, computed with integers in 64 bits
            let b = UInt64(x.bitPattern)
            let lower = b & 0xFFFF, upper = b >> 16
            let up = lower > 0x8000 || (lower == 0x8000 && upper & 1 == 1)
            return UInt16(truncatingIfNeeded: up ? upper + 1 : upper)
        }
        var inputs: [Float] = [0, -0, .infinity, -.infinity, Float.greatestFiniteMagnitude, -Float.greatestFiniteMagnitude,
                               Float(bitPattern: 0x3F80_8000), Float(bitPattern: 0x3F81_8000), Float(bitPattern: 0x3F80_8001),
                               Float(bitPattern: 0x0000_8000), Float(bitPattern: 0x0001_8000), Float(bitPattern: 0x007F_FFFF),
                               .leastNonzeroMagnitude, Float(bitPattern: 0x7F7F_8000)]
        for i in stride(from: 0, to: Int(UInt32.max), by: 4093) { inputs.append(Float(bitPattern: UInt32(i))) }
        var out = [UInt16](repeating: 0, count: inputs.count)
        inputs.withUnsafeBufferPointer { s in out.withUnsafeMutableBufferPointer { Precision.convertF32ToBF16(s.baseAddress!, $0.baseAddress!, count: inputs.count) } }
        for (i, x) in inputs.enumerated() {
            XCTAssertEqual(out[i], Precision.bf16Bits(x))
            if x.isNaN {
                XCTAssertTrue(BFloat16(bitPattern: out[i]).floatValue.isNaN, "\(x.bitPattern)")
                XCTAssertEqual(out[i] & 0x8000, UInt16(x.bitPattern >> 16) & 0x8000)
            } else {
                XCTAssertEqual(out[i], reference(x), "f32 bits \(String(x.bitPattern, radix: 16))")
            }
        }
        XCTAssertEqual(Precision.bf16Bits(Float.greatestFiniteMagnitude), 0x7F80, "overflow rounds to inf")
        XCTAssertEqual(Precision.bf16Bits(Float(bitPattern: 0x3F80_8000)), 0x3F80, "tie to even (down)")
        XCTAssertEqual(Precision.bf16Bits(Float(bitPattern: 0x3F81_8000)), 0x3F82, "tie to even (up)")
        XCTAssertEqual(Precision.bf16Bits(Float(bitPattern: 0x7F80_0001)), 0x7FC0, "signalling NaN becomes quiet")
    }
}

final class PrecisionBytesTests: XCTestCase {
    func testBytesMatchTheElementwiseConversions() throws {
        let values: [Float] = [0, -0, 1, -2.5, 3.14159, .infinity, -.infinity, 65504, 1e-8, 1.0009765625]
        let bf16 = try Precision.bytes(values, as: .bf16)
        let f16 = try Precision.bytes(values, as: .f16)
        let f32 = try Precision.bytes(values, as: .f32)
        for (i, v) in values.enumerated() {
            XCTAssertEqual(UInt16(bf16[2 * i]) | UInt16(bf16[2 * i + 1]) << 8, Precision.bf16Bits(v))
            XCTAssertEqual(UInt16(f16[2 * i]) | UInt16(f16[2 * i + 1]) << 8, Float16(v).bitPattern)
            XCTAssertEqual(Array(f32[(4 * i)..<(4 * i + 4)]), withUnsafeBytes(of: v.bitPattern.littleEndian) { Array($0) })
        }
        XCTAssertThrowsError(try Precision.bytes(values, as: .i32))
    }
}
