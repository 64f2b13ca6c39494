/// The GGML block dequantization kernels, one per block type: `(source, destination, blockCount)`.
///
/// Each kernel decodes `blockCount` consecutive blocks laid out as in `GGMLBlockLayout` and writes
/// `blockCount · blockSize` f32 values. The arithmetic is ggml's `dequantize_row_*` (ggml-quants.c) in
/// f32 with the same order of operations, so results are bit-identical to ggml and gguf-py:
///
///     Q4_0  x = d·(q − 8)            Q4_1  x = d·q + m
///     Q5_0  x = d·(q − 16)           Q5_1  x = d·q + m
///     Q8_0  x = d·q
///     Q4_K  x = (d·sc)·q − (dmin·m)  (sc, m: 6-bit, per 32 values)
///     Q5_K  x = (d·sc)·q − (dmin·m)  (q has 5 bits)
///     Q6_K  x = (d·sc)·(q − 32)      (sc: int8, per 16 values)
///
/// Kernels are pure functions over raw memory: no allocation, no bounds checks (the caller validates
/// sizes, see `Dequantization.dequantize`). Sources need no alignment.
public enum GGMLBlocks {
    public typealias Kernel = (UnsafeRawPointer, UnsafeMutablePointer<Float>, Int) -> Void

    /// The block types with a kernel here.
    public static let supportedTypes: [GGMLType] = [.q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q4_K, .q5_K, .q6_K]

    /// The dequantization kernel for `type`, nil when this library has none.
    public static func kernel(for type: GGMLType) -> Kernel? {
        switch type {
        case .q4_0: return dequantizeQ4_0
        case .q4_1: return dequantizeQ4_1
        case .q5_0: return dequantizeQ5_0
        case .q5_1: return dequantizeQ5_1
        case .q8_0: return dequantizeQ8_0
        case .q4_K: return dequantizeQ4_K
        case .q5_K: return dequantizeQ5_K
        case .q6_K: return dequantizeQ6_K
        default: return nil
        }
    }

    // MARK: helpers

    /// The f16 at `p` (little-endian, any alignment) widened to f32.
    @inline(__always)
    static func half(_ p: UnsafeRawPointer) -> Float {
        Precision.float(fromF16Bits: p.loadUnaligned(as: UInt16.self))
    }

    /// ggml's `get_scale_min_k4`: the 6-bit scale and min of sub-block `j` (0..<8) from the 12 packed bytes
    /// `q` of a Q4_K/Q5_K block. Bytes 0–3 hold scales 0–3 in their low 6 bits, bytes 4–7 mins 0–3; scales
    /// and mins 4–7 keep their low 4 bits in the low/high nibble of bytes 8–11 and their top 2 bits in the
    /// top 2 bits of bytes 0–3 (scales) and 4–7 (mins):
    ///
    ///     j < 4:  sc = q[j] & 63,                          m = q[j+4] & 63
    ///     j ≥ 4:  sc = (q[j+4] & 15) | (q[j−4] >> 6) << 4,  m = (q[j+4] >> 4) | (q[j] >> 6) << 4
    @inline(__always)
    public static func scaleMinK4(_ j: Int, _ q: UnsafePointer<UInt8>) -> (scale: UInt8, min: UInt8) {
        if j < 4 {
            return (q[j] & 63, q[j + 4] & 63)
        }
        return ((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4))
    }

    // MARK: 32-value blocks

    /// Q4_0: 18-byte blocks `d, qs[16]`; y[j] = d·(lo(qs[j]) − 8), y[j+16] = d·(hi(qs[j]) − 8).
    public static func dequantizeQ4_0(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ blockCount: Int) {
        for b in 0..<blockCount {
            let block = src + b * 18
            let d = half(block)
            let qs = (block + 2).assumingMemoryBound(to: UInt8.self)
            let y = dst + b * 32
            for j in 0..<16 {
                y[j] = d * Float(Int32(qs[j] & 0xF) - 8)
                y[j + 16] = d * Float(Int32(qs[j] >> 4) - 8)
            }
        }
    }

    /// Q4_1: 20-byte blocks `d, m, qs[16]`; y[j] = d·lo(qs[j]) + m, y[j+16] = d·hi(qs[j]) + m.
    public static func dequantizeQ4_1(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ blockCount: Int) {
        for b in 0..<blockCount {
            let block = src + b * 20
            let d = half(block)
            let m = half(block + 2)
            let qs = (block + 4).assumingMemoryBound(to: UInt8.self)
            let y = dst + b * 32
            for j in 0..<16 {
                y[j] = d * Float(qs[j] & 0xF) + m
                y[j + 16] = d * Float(qs[j] >> 4) + m
            }
        }
    }

    /// Q5_0: 22-byte blocks `d, qh[4], qs[16]`; with h = qh as little-endian u32, value j has
    /// q = lo(qs[j]) | bit_j(h) << 4 and value j+16 has q = hi(qs[j]) | bit_{j+16}(h) << 4; y = d·(q − 16).
    public static func dequantizeQ5_0(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ blockCount: Int) {
        for b in 0..<blockCount {
            let block = src + b * 22
            let d = half(block)
            let qh = (block + 2).loadUnaligned(as: UInt32.self)
            let qs = (block + 6).assumingMemoryBound(to: UInt8.self)
            let y = dst + b * 32
            for j in 0..<16 {
                let h0 = Int32(truncatingIfNeeded: (qh >> UInt32(j)) & 1) << 4
                let h1 = Int32(truncatingIfNeeded: (qh >> UInt32(j + 16)) & 1) << 4
                y[j] = d * Float((Int32(qs[j] & 0xF) | h0) - 16)
                y[j + 16] = d * Float((Int32(qs[j] >> 4) | h1) - 16)
            }
        }
    }

    /// Q5_1: 24-byte blocks `d, m, qh[4], qs[16]`; q as in Q5_0; y = d·q + m.
    public static func dequantizeQ5_1(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ blockCount: Int) {
        for b in 0..<blockCount {
            let block = src + b * 24
            let d = half(block)
            let m = half(block + 2)
            let qh = (block + 4).loadUnaligned(as: UInt32.self)
            let qs = (block + 8).assumingMemoryBound(to: UInt8.self)
            let y = dst + b * 32
            for j in 0..<16 {
                let h0 = Int32(truncatingIfNeeded: (qh >> UInt32(j)) & 1) << 4
                let h1 = Int32(truncatingIfNeeded: (qh >> UInt32(j + 16)) & 1) << 4
                y[j] = d * Float(Int32(qs[j] & 0xF) | h0) + m
                y[j + 16] = d * Float(Int32(qs[j] >> 4) | h1) + m
            }
        }
    }

    /// Q8_0: 34-byte blocks `d, qs[32]` (int8); y[j] = d·qs[j].
    public static func dequantizeQ8_0(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ blockCount: Int) {
        for b in 0..<blockCount {
            let block = src + b * 34
            let d = half(block)
            let qs = (block + 2).assumingMemoryBound(to: Int8.self)
            let y = dst + b * 32
            for j in 0..<32 {
                y[j] = d * Float(qs[j])
            }
        }
    }

    // MARK: K-quants (256-value super-blocks)

    /// Q4_K: 144-byte blocks `d, dmin, scales[12], qs[128]`. For sub-block pair p in 0..<4, with
    /// (sc₁, m₁) = scaleMinK4(2p), (sc₂, m₂) = scaleMinK4(2p+1) and l in 0..<32:
    /// y[64p + l] = (d·sc₁)·lo(qs[32p+l]) − dmin·m₁, y[64p + 32 + l] = (d·sc₂)·hi(qs[32p+l]) − dmin·m₂.
    public static func dequantizeQ4_K(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ blockCount: Int) {
        for b in 0..<blockCount {
            let block = src + b * 144
            let d = half(block)
            let dmin = half(block + 2)
            let scales = (block + 4).assumingMemoryBound(to: UInt8.self)
            let qs = (block + 16).assumingMemoryBound(to: UInt8.self)
            let y = dst + b * 256
            for p in 0..<4 {
                let (sc1, m1) = scaleMinK4(2 * p, scales)
                let (sc2, m2) = scaleMinK4(2 * p + 1, scales)
                let d1 = d * Float(sc1), min1 = dmin * Float(m1)
                let d2 = d * Float(sc2), min2 = dmin * Float(m2)
                let q = qs + 32 * p
                let y1 = y + 64 * p, y2 = y + 64 * p + 32
                for l in 0..<32 {
                    y1[l] = d1 * Float(q[l] & 0xF) - min1
                    y2[l] = d2 * Float(q[l] >> 4) - min2
                }
            }
        }
    }

    /// Q5_K: 176-byte blocks `d, dmin, scales[12], qh[32], qs[128]`. As Q4_K with a 5th bit per value:
    /// y[64p + l] uses q = lo(qs[32p+l]) | bit_{2p}(qh[l]) << 4, y[64p + 32 + l] uses
    /// q = hi(qs[32p+l]) | bit_{2p+1}(qh[l]) << 4.
    public static func dequantizeQ5_K(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ blockCount: Int) {
        for b in 0..<blockCount {
            let block = src + b * 176
            let d = half(block)
            let dmin = half(block + 2)
            let scales = (block + 4).assumingMemoryBound(to: UInt8.self)
            let qh = (block + 16).assumingMemoryBound(to: UInt8.self)
            let qs = (block + 48).assumingMemoryBound(to: UInt8.self)
            let y = dst + b * 256
            for p in 0..<4 {
                let (sc1, m1) = scaleMinK4(2 * p, scales)
                let (sc2, m2) = scaleMinK4(2 * p + 1, scales)
                let d1 = d * Float(sc1), min1 = dmin * Float(m1)
                let d2 = d * Float(sc2), min2 = dmin * Float(m2)
                let q = qs + 32 * p
                let s1 = UInt8(2 * p), s2 = UInt8(2 * p + 1)
                let y1 = y + 64 * p, y2 = y + 64 * p + 32
                for l in 0..<32 {
                    let h1 = ((qh[l] >> s1) & 1) << 4
                    let h2 = ((qh[l] >> s2) & 1) << 4
                    y1[l] = d1 * Float((q[l] & 0xF) | h1) - min1
                    y2[l] = d2 * Float((q[l] >> 4) | h2) - min2
                }
            }
        }
    }

    /// Q6_K: 210-byte blocks `ql[128], qh[64], scales[16] (int8), d`. For half h in 0..<2 with
    /// L = ql + 64h, H = qh + 32h, S = scales + 8h, Y = y + 128h and l in 0..<32, i = l / 16:
    ///
    ///     Y[l]      = (d·S[i])   · ((lo(L[l])    | ((H[l] >> 0) & 3) << 4) − 32)
    ///     Y[l + 32] = (d·S[i+2]) · ((lo(L[l+32]) | ((H[l] >> 2) & 3) << 4) − 32)
    ///     Y[l + 64] = (d·S[i+4]) · ((hi(L[l])    | ((H[l] >> 4) & 3) << 4) − 32)
    ///     Y[l + 96] = (d·S[i+6]) · ((hi(L[l+32]) | ((H[l] >> 6) & 3) << 4) − 32)
    public static func dequantizeQ6_K(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ blockCount: Int) {
        for b in 0..<blockCount {
            let block = src + b * 210
            let d = half(block + 208)
            let scales = (block + 192).assumingMemoryBound(to: Int8.self)
            for h in 0..<2 {
                let ql = (block + 64 * h).assumingMemoryBound(to: UInt8.self)
                let qh = (block + 128 + 32 * h).assumingMemoryBound(to: UInt8.self)
                let s = scales + 8 * h
                let y = dst + b * 256 + 128 * h
                for i in 0..<2 {
                    let d0 = d * Float(s[i]), d1 = d * Float(s[i + 2])
                    let d2 = d * Float(s[i + 4]), d3 = d * Float(s[i + 6])
                    for l in (16 * i)..<(16 * i + 16) {
                        let hb = qh[l]
                        let q0 = Int32((ql[l] & 0xF) | ((hb & 3) << 4)) - 32
                        let q1 = Int32((ql[l + 32] & 0xF) | (((hb >> 2) & 3) << 4)) - 32
                        let q2 = Int32((ql[l] >> 4) | (((hb >> 4) & 3) << 4)) - 32
                        let q3 = Int32((ql[l + 32] >> 4) | (((hb >> 6) & 3) << 4)) - 32
                        y[l] = d0 * Float(q0)
                        y[l + 32] = d1 * Float(q1)
                        y[l + 64] = d2 * Float(q2)
                        y[l + 96] = d3 * Float(q3)
                    }
                }
            }
        }
    }
}
