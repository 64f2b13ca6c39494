/// Encoders from f32 to every GGML type a GGUF export writes: the plain types (F32, F16, BF16), the
/// 32-value blocks (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0) and the K-quants (Q4_K, Q5_K, Q6_K, see `KQuantizer`).
///
/// The block encoders follow ggml's reference quantizers (`quantize_row_*_ref` in ggml-quants.c, the
/// functions llama.cpp's `llama-quantize` runs when it has no importance matrix) operation by operation in
/// f32, so their bytes equal gguf-py's `gguf.quants.quantize` for Q4_0…Q8_0 (pinned by fixtures). Per
/// block of 32 values x, with f16(·) round-to-nearest-even and trunc toward zero:
///
///     Q4_0  m = the x of largest |x| (first on ties), d = m / −8, id = d ≠ 0 ? 1/d : 0,
///           q = min(15, trunc(x·id + 8.5))                                 x ≈ f16(d)·(q − 8)
///     Q4_1  d = (max − min)/15, id as above, q = min(15, trunc((x − min)·id + 0.5))
///                                                                          x ≈ f16(d)·q + f16(min)
///     Q5_0  m as Q4_0, d = m / −16, q = min(31, trunc(x·id + 16.5))          x ≈ f16(d)·(q − 16)
///     Q5_1  d = (max − min)/31, q = min(31, trunc((x − min)·id + 0.5))        x ≈ f16(d)·q + f16(min)
///     Q8_0  d = max|x|/127, q = round(x·id) (half away from zero)           x ≈ f16(d)·q
///
/// The codes use the f32 d, before its rounding to f16. Packing is `GGMLBlockLayout`'s.
///
/// Inputs must be finite: `encode` refuses NaN and ±inf, naming the tensor and index (ggml would write
/// garbage scales for them).
public enum GGMLQuantizer {
    /// (values, destination, blockCount): encodes blockCount · blockSize values.
    public typealias Kernel = (UnsafePointer<Float>, UnsafeMutableRawPointer, Int) -> Void

    /// The types `encode` writes.
    public static let supportedTypes: [GGMLType] = [.f32, .f16, .bf16, .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q4_K, .q5_K, .q6_K]

    /// The block kernel of a quantized `type`, nil for plain and unsupported types.
    public static func kernel(for type: GGMLType) -> Kernel? {
        switch type {
        case .q4_0: return quantizeQ4_0
        case .q4_1: return quantizeQ4_1
        case .q5_0: return quantizeQ5_0
        case .q5_1: return quantizeQ5_1
        case .q8_0: return quantizeQ8_0
        case .q4_K: return KQuantizer.quantizeQ4_K
        case .q5_K: return KQuantizer.quantizeQ5_K
        case .q6_K: return KQuantizer.quantizeQ6_K
        default: return nil
        }
    }

    /// `values` encoded as `type`: `type.byteCount(elements:)` bytes. The count must be a whole number of
    /// blocks; `tensor` names the tensor in errors.
    public static func encode(_ values: UnsafeBufferPointer<Float>, as type: GGMLType, tensor: String = "?") throws -> [UInt8] {
        guard supportedTypes.contains(type) else {
            throw TensorKitError.unsupportedType(file: "GGUF export", tensor: tensor, type: "\(type.name) (writable: \(supportedTypes.map(\.name).joined(separator: ", ")))")
        }
        guard values.count % type.blockSize == 0 else {
            throw TensorKitError.invalidBlockData(
                type: type.name, reason: "tensor '\(tensor)': \(values.count) values is not a multiple of the block size \(type.blockSize)")
        }
        if let bad = values.firstIndex(where: { !$0.isFinite }) {
            throw TensorKitError.invalidBlockData(
                type: type.name, reason: "tensor '\(tensor)': value \(bad) is \(values[bad]); only finite values can be encoded")
        }
        guard let byteCount = StorageType.ggml(type).byteCount(elements: values.count) else {
            throw TensorKitError.invalidBlockData(type: type.name, reason: "tensor '\(tensor)': byte size of \(values.count) values overflows")
        }
        var out = [UInt8](repeating: 0, count: byteCount)
        guard let x = values.baseAddress, !values.isEmpty else { return out }
        out.withUnsafeMutableBytes { raw in
            let dst = raw.baseAddress!
            switch type {
            case .f32:
                dst.copyMemory(from: x, byteCount: values.count * 4)
            case .f16:
                Precision.convertF32ToF16(x, dst.assumingMemoryBound(to: UInt16.self), count: values.count)
            case .bf16:
                Precision.convertF32ToBF16(x, dst.assumingMemoryBound(to: UInt16.self), count: values.count)
            default:
                kernel(for: type)!(x, dst, values.count / type.blockSize)
            }
        }
        return out
    }

    /// `encode` of an array.
    public static func encode(_ values: [Float], as type: GGMLType, tensor: String = "?") throws -> [UInt8] {
        try values.withUnsafeBufferPointer { try encode($0, as: type, tensor: tensor) }
    }

    // MARK: helpers

    /// C's float → integer conversion (truncation toward zero) for the in-range values the encoders
    /// produce; out-of-range values saturate instead of being undefined.
    @inline(__always)
    static func truncated(_ f: Float) -> Int32 {
        f >= 2_147_483_520 ? Int32.max : (f <= -2_147_483_648 ? Int32.min : Int32(f.rounded(.towardZero)))
    }

    @inline(__always)
    static func storeHalf(_ value: Float, _ p: UnsafeMutableRawPointer) {
        p.storeBytes(of: Precision.f16Bits(value).littleEndian, as: UInt16.self)
    }

    /// (value of largest magnitude, first on ties) of 32 values, as ggml's `amax < |v|` scan finds it.
    @inline(__always)
    static func signedAbsMax(_ x: UnsafePointer<Float>) -> Float {
        var amax: Float = 0, m: Float = 0
        for j in 0..<32 where amax < abs(x[j]) {
            amax = abs(x[j])
            m = x[j]
        }
        return m
    }

    @inline(__always)
    static func minMax(_ x: UnsafePointer<Float>) -> (min: Float, max: Float) {
        var lo = Float.greatestFiniteMagnitude, hi = -Float.greatestFiniteMagnitude
        for j in 0..<32 {
            if x[j] < lo { lo = x[j] }
            if x[j] > hi { hi = x[j] }
        }
        return (lo, hi)
    }

    // MARK: 32-value blocks

    /// Q4_0 (18 bytes per block): `d`, then qs[j] = q[j] | q[j+16] << 4.
    public static func quantizeQ4_0(_ src: UnsafePointer<Float>, _ dst: UnsafeMutableRawPointer, _ blockCount: Int) {
        for b in 0..<blockCount {
            let x = src + 32 * b
            let block = dst + 18 * b
            let d = signedAbsMax(x) / -8
            let id: Float = d != 0 ? 1 / d : 0
            storeHalf(d, block)
            let qs = (block + 2).assumingMemoryBound(to: UInt8.self)
            for j in 0..<16 {
                let q0 = min(15, truncated(x[j] * id + 8.5))
                let q1 = min(15, truncated(x[j + 16] * id + 8.5))
                qs[j] = UInt8(truncatingIfNeeded: q0) | UInt8(truncatingIfNeeded: q1) << 4
            }
        }
    }

    /// Q4_1 (20 bytes per block): `d`, `m` (= min), then the nibbles as Q4_0.
    public static func quantizeQ4_1(_ src: UnsafePointer<Float>, _ dst: UnsafeMutableRawPointer, _ blockCount: Int) {
        for b in 0..<blockCount {
            let x = src + 32 * b
            let block = dst + 20 * b
            let (lo, hi) = minMax(x)
            let d = (hi - lo) / 15
            let id: Float = d != 0 ? 1 / d : 0
            storeHalf(d, block)
            storeHalf(lo, block + 2)
            let qs = (block + 4).assumingMemoryBound(to: UInt8.self)
            for j in 0..<16 {
                let q0 = min(15, truncated((x[j] - lo) * id + 0.5))
                let q1 = min(15, truncated((x[j + 16] - lo) * id + 0.5))
                qs[j] = UInt8(truncatingIfNeeded: q0) | UInt8(truncatingIfNeeded: q1) << 4
            }
        }
    }

    /// Q5_0 (22 bytes per block): `d`, `qh` (bit j = 5th bit of value j, little-endian u32), then the low
    /// nibbles as Q4_0.
    public static func quantizeQ5_0(_ src: UnsafePointer<Float>, _ dst: UnsafeMutableRawPointer, _ blockCount: Int) {
        for b in 0..<blockCount {
            let x = src + 32 * b
            let block = dst + 22 * b
            let d = signedAbsMax(x) / -16
            let id: Float = d != 0 ? 1 / d : 0
            storeHalf(d, block)
            var qh: UInt32 = 0
            let qs = (block + 6).assumingMemoryBound(to: UInt8.self)
            for j in 0..<16 {
                let q0 = UInt32(truncatingIfNeeded: min(31, truncated(x[j] * id + 16.5)))
                let q1 = UInt32(truncatingIfNeeded: min(31, truncated(x[j + 16] * id + 16.5)))
                qs[j] = UInt8(truncatingIfNeeded: (q0 & 0xF) | (q1 & 0xF) << 4)
                qh |= ((q0 & 0x10) >> 4) << UInt32(j)
                qh |= ((q1 & 0x10) >> 4) << UInt32(j + 16)
            }
            (block + 2).storeBytes(of: qh.littleEndian, as: UInt32.self)
        }
    }

    /// Q5_1 (24 bytes per block): `d`, `m` (= min), `qh`, then the low nibbles.
    public static func quantizeQ5_1(_ src: UnsafePointer<Float>, _ dst: UnsafeMutableRawPointer, _ blockCount: Int) {
        for b in 0..<blockCount {
            let x = src + 32 * b
            let block = dst + 24 * b
            let (lo, hi) = minMax(x)
            let d = (hi - lo) / 31
            let id: Float = d != 0 ? 1 / d : 0
            storeHalf(d, block)
            storeHalf(lo, block + 2)
            var qh: UInt32 = 0
            let qs = (block + 8).assumingMemoryBound(to: UInt8.self)
            for j in 0..<16 {
                let q0 = UInt32(truncatingIfNeeded: min(31, truncated((x[j] - lo) * id + 0.5)))
                let q1 = UInt32(truncatingIfNeeded: min(31, truncated((x[j + 16] - lo) * id + 0.5)))
                qs[j] = UInt8(truncatingIfNeeded: (q0 & 0xF) | (q1 & 0xF) << 4)
                qh |= ((q0 & 0x10) >> 4) << UInt32(j)
                qh |= ((q1 & 0x10) >> 4) << UInt32(j + 16)
            }
            (block + 4).storeBytes(of: qh.littleEndian, as: UInt32.self)
        }
    }

    /// Q8_0 (34 bytes per block): `d`, then 32 int8 codes (the arithmetic `Quantizer.q8_0` documents; it calls this).
    public static func quantizeQ8_0(_ src: UnsafePointer<Float>, _ dst: UnsafeMutableRawPointer, _ blockCount: Int) {
        for b in 0..<blockCount {
            let x = src + 32 * b
            let block = dst + 34 * b
            var amax: Float = 0
            for j in 0..<32 { amax = max(amax, abs(x[j])) }
            let d = amax / 127
            let id: Float = d != 0 ? 1 / d : 0
            storeHalf(d, block)
            let qs = (block + 2).assumingMemoryBound(to: Int8.self)
            for j in 0..<32 {
                qs[j] = Int8(truncatingIfNeeded: truncated((x[j] * id).rounded(.toNearestOrAwayFromZero)))
            }
        }
    }
}
