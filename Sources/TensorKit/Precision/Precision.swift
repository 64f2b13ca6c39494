/// Bulk conversion between f32 and the 16-bit float formats.
///
/// bf16 is the upper half of a binary32: widening is a 16-bit shift; narrowing rounds to nearest,
/// ties to even (add 0x7FFF plus the lowest kept bit, then truncate), and keeps NaN a quiet NaN.
///
/// f16 (IEEE binary16) is converted with integer and f32 arithmetic only, so the loops vectorize and
/// need no F16C instructions nor compiler-rt calls:
/// - widening: a finite half with magnitude bits e·m (15 bits) becomes the f32 with bits `em << 13`
///   multiplied by 2¹¹² (exact, covers subnormals); e = 31 (inf/NaN) sets the f32 exponent to 255 and
///   keeps the 10 mantissa bits (NaN payloads are kept, a signalling NaN stays signalling).
/// - narrowing, round to nearest even: |x| ≥ 2¹⁶ → inf; NaN → quiet NaN keeping the top 9 payload bits
///   (as compiler-rt's `__truncsfhf2`); |x| < 2⁻¹⁴ (f16 subnormal or zero) → the low bits of |x| + 0.5 in
///   f32 (the f32 adder rounds to nearest even at the f16 subnormal spacing 2⁻²⁴); otherwise rebias the
///   exponent by −112, add 0xFFF plus the lowest kept bit and drop 13 mantissa bits (a carry can round up
///   into the next exponent or to inf, which is right).
public enum Precision {
    /// bf16 bits of `x`, rounded to nearest even; NaN maps to a quiet NaN with the same sign.
    @inlinable @inline(__always)
    public static func bf16Bits(_ x: Float) -> UInt16 {
        let bits = x.bitPattern
        let rounded = (bits &+ 0x7FFF &+ ((bits >> 16) & 1)) >> 16
        let isNaN = (bits & 0x7FFF_FFFF) > 0x7F80_0000
        return isNaN ? UInt16(truncatingIfNeeded: (bits >> 16) | 0x0040) : UInt16(truncatingIfNeeded: rounded)
    }

    /// dst[i] = Float(bf16 src[i]).
    @inlinable
    public static func convertBF16ToF32(_ src: UnsafePointer<UInt16>, _ dst: UnsafeMutablePointer<Float>, count: Int) {
        let d = UnsafeMutableRawPointer(dst).assumingMemoryBound(to: UInt32.self)
        for i in 0..<count { d[i] = UInt32(src[i]) << 16 }
    }

    /// dst[i] = bf16(src[i]), round to nearest even.
    @inlinable
    public static func convertF32ToBF16(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<UInt16>, count: Int) {
        let s = UnsafeRawPointer(src).assumingMemoryBound(to: UInt32.self)
        for i in 0..<count {
            let bits = s[i]
            let rounded = (bits &+ 0x7FFF &+ ((bits >> 16) & 1)) >> 16
            let nan = (bits & 0x7FFF_FFFF) > 0x7F80_0000
            dst[i] = UInt16(truncatingIfNeeded: nan ? ((bits >> 16) | 0x0040) : rounded)
        }
    }

    /// The f32 bits of the f16 with bits `h` (exact).
    @inlinable @inline(__always)
    public static func f32Bits(fromF16Bits h: UInt16) -> UInt32 {
        let h32 = UInt32(h)
        let sign = (h32 & 0x8000) << 16
        let em = (h32 & 0x7FFF) << 13
        let finite = (Float(bitPattern: em) * Float(bitPattern: 0x7780_0000)).bitPattern  // · 2¹¹²
        let special = em | 0x7F80_0000
        return sign | (em >= 0x0F80_0000 ? special : finite)
    }

    /// The f16 with bits `h`, widened to f32 (exact).
    @inlinable @inline(__always)
    public static func float(fromF16Bits h: UInt16) -> Float {
        Float(bitPattern: f32Bits(fromF16Bits: h))
    }

    /// f16 bits of `x`, rounded to nearest even; overflow gives ±inf, NaN a quiet NaN with the same sign.
    @inlinable @inline(__always)
    public static func f16Bits(_ x: Float) -> UInt16 {
        let bits = x.bitPattern
        let sign = (bits >> 16) & 0x8000
        let a = bits & 0x7FFF_FFFF
        let nan = 0x7E00 | ((a >> 13) & 0x1FF)
        let subnormal = (Float(bitPattern: a) + 0.5).bitPattern &- 0x3F00_0000
        let normal = (a &+ 0xC800_0FFF &+ ((a >> 13) & 1)) >> 13
        let magnitude = a > 0x7F80_0000 ? nan : (a >= 0x4780_0000 ? 0x7C00 : (a < 0x3880_0000 ? subnormal : normal))
        return UInt16(truncatingIfNeeded: sign | magnitude)
    }

    /// dst[i] = Float(f16 src[i]).
    @inlinable
    public static func convertF16ToF32(_ src: UnsafePointer<UInt16>, _ dst: UnsafeMutablePointer<Float>, count: Int) {
        let d = UnsafeMutableRawPointer(dst).assumingMemoryBound(to: UInt32.self)
        for i in 0..<count { d[i] = f32Bits(fromF16Bits: src[i]) }
    }

    /// dst[i] = f16(src[i]), round to nearest even.
    @inlinable
    public static func convertF32ToF16(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<UInt16>, count: Int) {
        for i in 0..<count { dst[i] = f16Bits(src[i]) }
    }

    /// Widens an array of bf16 values.
    public static func float32(fromBF16 values: [BFloat16]) -> [Float] {
        var out = [Float](repeating: 0, count: values.count)
        values.withUnsafeBufferPointer { s in
            out.withUnsafeMutableBufferPointer { d in
                s.withMemoryRebound(to: UInt16.self) { s16 in
                    if let sb = s16.baseAddress, let db = d.baseAddress {
                        convertBF16ToF32(sb, db, count: values.count)
                    }
                }
            }
        }
        return out
    }

    /// Narrows an array of f32 values to bf16.
    public static func bf16(from values: [Float]) -> [BFloat16] {
        var out = [BFloat16](repeating: .zero, count: values.count)
        values.withUnsafeBufferPointer { s in
            out.withUnsafeMutableBufferPointer { d in
                d.withMemoryRebound(to: UInt16.self) { d16 in
                    if let sb = s.baseAddress, let db = d16.baseAddress {
                        convertF32ToBF16(sb, db, count: values.count)
                    }
                }
            }
        }
        return out
    }
}

extension Precision {
    /// `values` encoded as little-endian bytes of `dtype` (F32, F16 or BF16), written straight into the
    /// byte array (no intermediate array of the narrow type).
    public static func bytes(_ values: [Float], as dtype: DType) throws -> [UInt8] {
        guard let width = [DType.f32: 4, .f16: 2, .bf16: 2][dtype] else {
            throw TensorKitError.unsupportedType(file: "", tensor: "", type: dtype.rawValue)
        }
        var out = [UInt8](repeating: 0, count: values.count * width)
        guard !values.isEmpty else { return out }
        values.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBytes { dst in
                switch dtype {
                case .bf16: convertF32ToBF16(src.baseAddress!, dst.baseAddress!.assumingMemoryBound(to: UInt16.self), count: values.count)
                case .f16: convertF32ToF16(src.baseAddress!, dst.baseAddress!.assumingMemoryBound(to: UInt16.self), count: values.count)
                default: dst.copyMemory(from: UnsafeRawBufferPointer(src))
                }
            }
        }
        return out
    }
}
