/// Bulk conversion between f32 and the 16-bit float formats.
///
/// bf16 is the upper half of a binary32: widening is a 16-bit shift; narrowing rounds to nearest,
/// ties to even (add 0x7FFF plus the lowest kept bit, then truncate), and keeps NaN a quiet NaN.
/// f16 is IEEE binary16 through Swift's `Float16`, which rounds to nearest even and keeps NaN and
/// infinities. The loops are branch-free so the compiler vectorizes them.
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

    /// dst[i] = Float(f16 src[i]).
    @inlinable
    public static func convertF16ToF32(_ src: UnsafePointer<UInt16>, _ dst: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { dst[i] = Float(Float16(bitPattern: src[i])) }
    }

    /// dst[i] = f16(src[i]), round to nearest even.
    @inlinable
    public static func convertF32ToF16(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<UInt16>, count: Int) {
        for i in 0..<count { dst[i] = Float16(src[i]).bitPattern }
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
