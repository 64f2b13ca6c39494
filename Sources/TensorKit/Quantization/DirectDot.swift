/// Dot products taken straight from stored weight rows, with no f32 copy of the row: the kernels of a
/// decoding step, where each weight value is used once per token and reading it is the whole cost.
///
/// Two families, as ggml's `vec_dot_*` (ggml-cpu/quants.c):
///
/// - f32 activations (`kernel(for:)`): s = Σᵢ wᵢ·xᵢ, where wᵢ is exactly the f32 value
///   `Dequantization.dequantize` writes for the row (same operations in the same order per value),
///   and all of them sum in one order, `dotF32`'s: value i goes to lane i mod 16 of accumulator
///   (i / 16) mod 2, in increasing i, then the two accumulators reduce as a tree (`reduce`: t = a₀ + a₁,
///   then halves added, 16 → 8 → 4 → 2 → 1 lanes), then a scalar tail past the last whole 32.
///   So each kernel gives bit for bit `dotF32` of the widened row (a dense weight and its packed
///   form give the same products), and differs from a sequential dot only by the summation order.
/// - 8-bit activations (`quantizedKernel(for:)`, GGUF block types): x is first quantized to ggml's
///   `Q8_0`/`Q8_1` blocks of 32 (`QuantizedActivation`) or `Q8_K` blocks of 256, then each block's dot
///   product is an exact integer sum, scaled by the two blocks' scales. This is what llama.cpp's CPU
///   backend computes for these weights:
///
///       Q4_0·Q8_0  s += (d_w·d_x) · Σ (q−8)·x_q            Q5_0·Q8_0  s += (d_w·d_x) · Σ (q−16)·x_q
///       Q8_0·Q8_0  s += (d_w·d_x) · Σ q·x_q                Q4_1·Q8_1  s += (d_w·d_x) · Σ q·x_q + m_w·s_x
///       Q4_K·Q8_K  s += (d_w·d_x) · Σⱼ scⱼ·Σ q·x_q − (dmin_w·d_x) · Σⱼ mⱼ·Σ x_q   (j: sub-blocks of 32)
///       Q6_K·Q8_K  s += (d_w·d_x) · Σⱼ scⱼ·Σ (q−32)·x_q                              (j: sub-blocks of 16)
///
/// Kernels are pure functions over raw memory: no allocation, no bounds checks; rows need no alignment.
/// `count` is the row length, a whole number of blocks for the GGML types.
public enum DirectDot {
    /// s = Σᵢ wᵢ·xᵢ over the `count` values of the stored row at `row` and the f32 vector `x`.
    public typealias Kernel = (_ row: UnsafeRawPointer, _ x: UnsafePointer<Float>, _ count: Int) -> Float
    /// s = Σᵢ wᵢ·x̂ᵢ over the row at `row` and a quantized activation (`QuantizedActivation`), x̂ = d·x_q
    /// (for Q4_1 the min term m·Σx̂ of each block is taken as m·s, s the block sum rounded to f16, as ggml).
    public typealias QuantizedKernel = (_ row: UnsafeRawPointer, _ x: QuantizedActivation, _ count: Int) -> Float

    /// The f32-activation kernel for rows stored as `type`, nil when there is none: the AVX2 one
    /// (`NativeDot`) where the CPU has it, else the portable one. Both give the same bits.
    public static func kernel(for type: StorageType) -> Kernel? {
        NativeDot.kernel(for: type) ?? portableKernel(for: type)
    }

    /// The portable Swift kernel for rows stored as `type` (baseline SIMD), nil when there is none.
    public static func portableKernel(for type: StorageType) -> Kernel? {
        switch type {
        case .dense(.f32), .ggml(.f32): return dotF32
        case .dense(.bf16), .ggml(.bf16): return dotBF16
        case .dense(.f16), .ggml(.f16): return dotF16
        case .ggml(.q4_0): return dotQ4_0
        case .ggml(.q4_1): return dotQ4_1
        case .ggml(.q5_0): return dotQ5_0
        case .ggml(.q8_0): return dotQ8_0
        case .ggml(.q4_K): return dotQ4_K
        case .ggml(.q6_K): return dotQ6_K
        default: return nil
        }
    }

    /// The activation blocks ggml pairs with a weight type (its `vec_dot_type`), nil when this library
    /// has no integer kernel for the type.
    public static func activationKind(for type: StorageType) -> QuantizedActivation.Kind? {
        switch type {
        case .ggml(.q4_0), .ggml(.q5_0), .ggml(.q8_0): return .q8_0
        case .ggml(.q4_1): return .q8_1
        case .ggml(.q4_K), .ggml(.q6_K): return .q8_K
        default: return nil
        }
    }

    /// The integer kernel for rows stored as `type` (activation quantized as `activationKind(for:)`).
    public static func quantizedKernel(for type: StorageType) -> QuantizedKernel? {
        switch type {
        case .ggml(.q4_0): return dotQ4_0Q8_0
        case .ggml(.q4_1): return dotQ4_1Q8_1
        case .ggml(.q5_0): return dotQ5_0Q8_0
        case .ggml(.q8_0): return dotQ8_0Q8_0
        case .ggml(.q4_K): return dotQ4_KQ8_K
        case .ggml(.q6_K): return dotQ6_KQ8_K
        default: return nil
        }
    }

    // MARK: helpers

    @inline(__always)
    static func floats(_ p: UnsafePointer<Float>) -> SIMD16<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self)
    }

    /// The lanes of a0 + a1 summed as a tree: t = a0 + a1, then t₈ = t[0..<8] + t[8..<16],
    /// t₄ = t₈[0..<4] + t₈[4..<8], t₂ = t₄[0..<2] + t₄[2..<4], t₂[0] + t₂[1]. Every f32 kernel ends with
    /// it, native ones included (a sequential sum of the 16 lanes is a 16-add dependency chain per row,
    /// as long as a whole short row's products).
    @inline(__always)
    public static func reduce(_ a0: SIMD16<Float>, _ a1: SIMD16<Float>) -> Float {
        let t = a0 + a1
        let t8 = t.lowHalf + t.highHalf
        let t4 = t8.lowHalf + t8.highHalf
        let t2 = t4.lowHalf + t4.highHalf
        return t2[0] + t2[1]
    }

    // Lane conversions written as loops over the lanes: the standard library's SIMD conversion
    // initializers are out-of-line calls, these inline into vector code.

    /// 16 bytes as f32.
    @inline(__always)
    static func float(_ v: SIMD16<UInt8>) -> SIMD16<Float> {
        var r = SIMD16<Float>()
        for j in 0..<16 { r[j] = Float(v[j]) }
        return r
    }

    /// 16 Int32 as f32 (exact below 2²⁴).
    @inline(__always)
    static func float(_ v: SIMD16<Int32>) -> SIMD16<Float> {
        var r = SIMD16<Float>()
        for j in 0..<16 { r[j] = Float(v[j]) }
        return r
    }

    @inline(__always)
    static func int32(_ v: SIMD16<Int8>) -> SIMD16<Int32> {
        var r = SIMD16<Int32>()
        for j in 0..<16 { r[j] = Int32(v[j]) }
        return r
    }

    @inline(__always)
    static func int32(_ v: SIMD16<UInt8>) -> SIMD16<Int32> {
        var r = SIMD16<Int32>()
        for j in 0..<16 { r[j] = Int32(v[j]) }
        return r
    }

    @inline(__always)
    static func uint32(_ v: SIMD16<UInt16>) -> SIMD16<UInt32> {
        var r = SIMD16<UInt32>()
        for j in 0..<16 { r[j] = UInt32(v[j]) }
        return r
    }

    /// Values 0–15 of 16 bytes, low nibbles, as f32.
    @inline(__always)
    static func lowNibbles(_ q: SIMD16<UInt8>) -> SIMD16<Float> { float(q & 0xF) }

    @inline(__always)
    static func highNibbles(_ q: SIMD16<UInt8>) -> SIMD16<Float> { float(q &>> 4) }

    /// Byte k of the result is 16 when bit k of the byte `b` is set, else 0: the byte spread over the 8
    /// lanes ((b·0x0101…) & 0x8040…0201 keeps bit k in lane k; + 0x7F carries it to the lane's top bit).
    @inline(__always)
    static func spreadBits(_ b: UInt32) -> UInt64 {
        let lanes = (UInt64(b & 0xFF) &* 0x0101_0101_0101_0101) & 0x8040_2010_0804_0201
        return ((lanes &+ 0x7F7F_7F7F_7F7F_7F7F) & 0x8080_8080_8080_8080) &>> 3
    }

    /// Bits `shift`…`shift`+15 of `h` as 16 lanes of 0 or 16 (the 5th bit of Q5 values).
    @inline(__always)
    static func fifthBits(_ h: UInt32, _ shift: UInt32) -> SIMD16<UInt8> {
        unsafeBitCast(SIMD2<UInt64>(spreadBits(h &>> shift), spreadBits(h &>> (shift &+ 8))), to: SIMD16<UInt8>.self)
    }

    // MARK: f32 activations, dense rows

    /// f32 rows: s = Σ wᵢ·xᵢ.
    public static func dotF32(_ row: UnsafeRawPointer, _ x: UnsafePointer<Float>, _ count: Int) -> Float {
        var a0 = SIMD16<Float>(), a1 = SIMD16<Float>()
        var i = 0
        while i &+ 32 <= count {
            a0 += row.loadUnaligned(fromByteOffset: 4 &* i, as: SIMD16<Float>.self) * floats(x + i)
            a1 += row.loadUnaligned(fromByteOffset: 4 &* (i &+ 16), as: SIMD16<Float>.self) * floats(x + (i &+ 16))
            i &+= 32
        }
        var s = reduce(a0, a1)
        let w = row.assumingMemoryBound(to: Float.self)
        while i < count { s += w[i] * x[i]; i &+= 1 }
        return s
    }

    /// bf16 rows: wᵢ is the f32 with bits `bf16ᵢ << 16` (exact widening).
    public static func dotBF16(_ row: UnsafeRawPointer, _ x: UnsafePointer<Float>, _ count: Int) -> Float {
        var a0 = SIMD16<Float>(), a1 = SIMD16<Float>()
        var i = 0
        while i &+ 32 <= count {
            let h0 = row.loadUnaligned(fromByteOffset: 2 &* i, as: SIMD16<UInt16>.self)
            let h1 = row.loadUnaligned(fromByteOffset: 2 &* (i &+ 16), as: SIMD16<UInt16>.self)
            let w0 = unsafeBitCast(uint32(h0) &<< 16, to: SIMD16<Float>.self)
            let w1 = unsafeBitCast(uint32(h1) &<< 16, to: SIMD16<Float>.self)
            a0 += w0 * floats(x + i)
            a1 += w1 * floats(x + (i &+ 16))
            i &+= 32
        }
        var s = reduce(a0, a1)
        let h = row.assumingMemoryBound(to: UInt16.self)
        while i < count { s += Float(bitPattern: UInt32(h[i]) << 16) * x[i]; i &+= 1 }
        return s
    }

    /// f16 rows: wᵢ widened exactly as `Precision.f32Bits(fromF16Bits:)` (vectorized here).
    public static func dotF16(_ row: UnsafeRawPointer, _ x: UnsafePointer<Float>, _ count: Int) -> Float {
        @inline(__always) func widen(_ offset: Int) -> SIMD16<Float> {
            let h = uint32(row.loadUnaligned(fromByteOffset: 2 &* offset, as: SIMD16<UInt16>.self))
            let sign = (h & 0x8000) &<< 16
            let em = (h & 0x7FFF) &<< 13
            let finite = unsafeBitCast(unsafeBitCast(em, to: SIMD16<Float>.self) * Float(bitPattern: 0x7780_0000), to: SIMD16<UInt32>.self)
            let special = em | 0x7F80_0000
            // All ones where the exponent is 31 (em ≥ 0x0F80_0000, i.e. bit 28 of em + 0x0080_0000), else 0.
            let isSpecial = SIMD16<UInt32>() &- ((em &+ 0x0080_0000) &>> 28)
            return unsafeBitCast(sign | (finite & ~isSpecial) | (special & isSpecial), to: SIMD16<Float>.self)
        }
        var a0 = SIMD16<Float>(), a1 = SIMD16<Float>()
        var i = 0
        while i &+ 32 <= count {
            a0 += widen(i) * floats(x + i)
            a1 += widen(i &+ 16) * floats(x + (i &+ 16))
            i &+= 32
        }
        var s = reduce(a0, a1)
        let h = row.assumingMemoryBound(to: UInt16.self)
        while i < count { s += Precision.float(fromF16Bits: h[i]) * x[i]; i &+= 1 }
        return s
    }

    // MARK: f32 activations, GGML blocks (wᵢ as `GGMLBlocks.dequantize*` computes it)

    /// Q4_0: wⱼ = d·(lo(qs[j]) − 8), wⱼ₊₁₆ = d·(hi(qs[j]) − 8).
    public static func dotQ4_0(_ row: UnsafeRawPointer, _ x: UnsafePointer<Float>, _ count: Int) -> Float {
        var a0 = SIMD16<Float>(), a1 = SIMD16<Float>()
        for b in 0..<(count / 32) {
            let block = row + b &* 18
            let d = GGMLBlocks.half(block)
            let q = (block + 2).loadUnaligned(as: SIMD16<UInt8>.self)
            let xb = x + b &* 32
            a0 += d * (lowNibbles(q) - 8) * floats(xb)
            a1 += d * (highNibbles(q) - 8) * floats(xb + 16)
        }
        return reduce(a0, a1)
    }

    /// Q4_1: wⱼ = d·lo(qs[j]) + m, wⱼ₊₁₆ = d·hi(qs[j]) + m.
    public static func dotQ4_1(_ row: UnsafeRawPointer, _ x: UnsafePointer<Float>, _ count: Int) -> Float {
        var a0 = SIMD16<Float>(), a1 = SIMD16<Float>()
        for b in 0..<(count / 32) {
            let block = row + b &* 20
            let d = GGMLBlocks.half(block), m = GGMLBlocks.half(block + 2)
            let q = (block + 4).loadUnaligned(as: SIMD16<UInt8>.self)
            let xb = x + b &* 32
            a0 += (d * lowNibbles(q) + m) * floats(xb)
            a1 += (d * highNibbles(q) + m) * floats(xb + 16)
        }
        return reduce(a0, a1)
    }

    /// Q5_0: wⱼ = d·((lo(qs[j]) | bitⱼ(qh) << 4) − 16), wⱼ₊₁₆ with hi(qs[j]) and bitⱼ₊₁₆(qh).
    public static func dotQ5_0(_ row: UnsafeRawPointer, _ x: UnsafePointer<Float>, _ count: Int) -> Float {
        var a0 = SIMD16<Float>(), a1 = SIMD16<Float>()
        for b in 0..<(count / 32) {
            let block = row + b &* 22
            let d = GGMLBlocks.half(block)
            let qh = (block + 2).loadUnaligned(as: UInt32.self)
            let q = (block + 6).loadUnaligned(as: SIMD16<UInt8>.self)
            let xb = x + b &* 32
            a0 += d * (float((q & 0xF) | fifthBits(qh, 0)) - 16) * floats(xb)
            a1 += d * (float((q &>> 4) | fifthBits(qh, 16)) - 16) * floats(xb + 16)
        }
        return reduce(a0, a1)
    }

    /// Q8_0: wⱼ = d·qs[j].
    public static func dotQ8_0(_ row: UnsafeRawPointer, _ x: UnsafePointer<Float>, _ count: Int) -> Float {
        var a0 = SIMD16<Float>(), a1 = SIMD16<Float>()
        for b in 0..<(count / 32) {
            let block = row + b &* 34
            let d = GGMLBlocks.half(block)
            let q0 = int32((block + 2).loadUnaligned(as: SIMD16<Int8>.self))
            let q1 = int32((block + 18).loadUnaligned(as: SIMD16<Int8>.self))
            let xb = x + b &* 32
            a0 += d * float(q0) * floats(xb)
            a1 += d * float(q1) * floats(xb + 16)
        }
        return reduce(a0, a1)
    }

    /// Q4_K: for sub-block pair p and l in 0..<32, w₆₄ₚ₊ₗ = (d·sc₂ₚ)·lo(qs[32p+l]) − dmin·m₂ₚ and
    /// w₆₄ₚ₊₃₂₊ₗ = (d·sc₂ₚ₊₁)·hi(qs[32p+l]) − dmin·m₂ₚ₊₁.
    public static func dotQ4_K(_ row: UnsafeRawPointer, _ x: UnsafePointer<Float>, _ count: Int) -> Float {
        var a0 = SIMD16<Float>(), a1 = SIMD16<Float>()
        for b in 0..<(count / 256) {
            let block = row + b &* 144
            let d = GGMLBlocks.half(block), dmin = GGMLBlocks.half(block + 2)
            let scales = (block + 4).assumingMemoryBound(to: UInt8.self)
            for p in 0..<4 {
                let (sc1, m1) = GGMLBlocks.scaleMinK4(2 &* p, scales)
                let (sc2, m2) = GGMLBlocks.scaleMinK4(2 &* p &+ 1, scales)
                let d1 = d * Float(sc1), min1 = dmin * Float(m1)
                let d2 = d * Float(sc2), min2 = dmin * Float(m2)
                let q = block + 16 + 32 &* p
                let xb = x + b &* 256 + 64 &* p
                let v0 = q.loadUnaligned(as: SIMD16<UInt8>.self), v1 = q.loadUnaligned(fromByteOffset: 16, as: SIMD16<UInt8>.self)
                a0 += (d1 * lowNibbles(v0) - min1) * floats(xb)
                a1 += (d1 * lowNibbles(v1) - min1) * floats(xb + 16)
                a0 += (d2 * highNibbles(v0) - min2) * floats(xb + 32)
                a1 += (d2 * highNibbles(v1) - min2) * floats(xb + 48)
            }
        }
        return reduce(a0, a1)
    }

    /// The 6-bit values of Q6_K half `h`, group k (0..<4), lanes l₀..l₀+15: (lo/hi nibble of L) | (2 bits of H) << 4.
    @inline(__always)
    static func q6Values(_ ql: UnsafeRawPointer, _ qh: UnsafeRawPointer, k: Int, l0: Int) -> SIMD16<Int32> {
        let low = ql.loadUnaligned(fromByteOffset: l0 &+ 32 &* (k & 1), as: SIMD16<UInt8>.self)
        let nib = k < 2 ? (low & 0xF) : (low &>> 4)
        let high = (qh.loadUnaligned(fromByteOffset: l0, as: SIMD16<UInt8>.self) &>> UInt8(2 &* k)) & 3
        return int32(nib | (high &<< 4)) &- 32
    }

    /// Q6_K: value 128h + 32k + l has w = (d·scales[8h + 2k + l/16])·(q − 32) (see `GGMLBlockLayout.q6_K`).
    public static func dotQ6_K(_ row: UnsafeRawPointer, _ x: UnsafePointer<Float>, _ count: Int) -> Float {
        var a0 = SIMD16<Float>(), a1 = SIMD16<Float>()
        for b in 0..<(count / 256) {
            let block = row + b &* 210
            let d = GGMLBlocks.half(block + 208)
            let scales = (block + 192).assumingMemoryBound(to: Int8.self)
            for h in 0..<2 {
                let ql = block + 64 &* h, qh = block + 128 + 32 &* h
                let xh = x + b &* 256 + 128 &* h
                for k in 0..<4 {
                    let s0 = d * Float(scales[8 &* h &+ 2 &* k]), s1 = d * Float(scales[8 &* h &+ 2 &* k &+ 1])
                    a0 += s0 * float(q6Values(ql, qh, k: k, l0: 0)) * floats(xh + 32 &* k)
                    a1 += s1 * float(q6Values(ql, qh, k: k, l0: 16)) * floats(xh + (32 &* k &+ 16))
                }
            }
        }
        return reduce(a0, a1)
    }

    // MARK: 8-bit activations (exact integer sums per block)

    /// Q4_0 · Q8_0.
    public static func dotQ4_0Q8_0(_ row: UnsafeRawPointer, _ x: QuantizedActivation, _ count: Int) -> Float {
        var acc = SIMD16<Float>()
        for b in 0..<(count / 32) {
            let block = row + b &* 18
            let q = (block + 2).loadUnaligned(as: SIMD16<UInt8>.self)
            let y = UnsafeRawPointer(x.qs + b &* 32)
            let p = (int32(q & 0xF) &- 8) &* int32(y.loadUnaligned(as: SIMD16<Int8>.self))
                &+ (int32(q &>> 4) &- 8) &* int32(y.loadUnaligned(fromByteOffset: 16, as: SIMD16<Int8>.self))
            acc += (GGMLBlocks.half(block) * x.d[b]) * float(p)
        }
        return acc.sum()
    }

    /// Q4_1 · Q8_1.
    public static func dotQ4_1Q8_1(_ row: UnsafeRawPointer, _ x: QuantizedActivation, _ count: Int) -> Float {
        var acc = SIMD16<Float>()
        var mins: Float = 0
        for b in 0..<(count / 32) {
            let block = row + b &* 20
            let q = (block + 4).loadUnaligned(as: SIMD16<UInt8>.self)
            let y = UnsafeRawPointer(x.qs + b &* 32)
            let p = int32(q & 0xF) &* int32(y.loadUnaligned(as: SIMD16<Int8>.self))
                &+ int32(q &>> 4) &* int32(y.loadUnaligned(fromByteOffset: 16, as: SIMD16<Int8>.self))
            acc += (GGMLBlocks.half(block) * x.d[b]) * float(p)
            mins += GGMLBlocks.half(block + 2) * x.s[b]
        }
        return acc.sum() + mins
    }

    /// Q5_0 · Q8_0.
    public static func dotQ5_0Q8_0(_ row: UnsafeRawPointer, _ x: QuantizedActivation, _ count: Int) -> Float {
        var acc = SIMD16<Float>()
        for b in 0..<(count / 32) {
            let block = row + b &* 22
            let qh = (block + 2).loadUnaligned(as: UInt32.self)
            let q = (block + 6).loadUnaligned(as: SIMD16<UInt8>.self)
            let y = UnsafeRawPointer(x.qs + b &* 32)
            let lo = int32((q & 0xF) | fifthBits(qh, 0)) &- 16
            let hi = int32((q &>> 4) | fifthBits(qh, 16)) &- 16
            let p = lo &* int32(y.loadUnaligned(as: SIMD16<Int8>.self))
                &+ hi &* int32(y.loadUnaligned(fromByteOffset: 16, as: SIMD16<Int8>.self))
            acc += (GGMLBlocks.half(block) * x.d[b]) * float(p)
        }
        return acc.sum()
    }

    /// Q8_0 · Q8_0.
    public static func dotQ8_0Q8_0(_ row: UnsafeRawPointer, _ x: QuantizedActivation, _ count: Int) -> Float {
        var acc = SIMD16<Float>()
        for b in 0..<(count / 32) {
            let block = row + b &* 34
            let y = UnsafeRawPointer(x.qs + b &* 32)
            let p = int32((block + 2).loadUnaligned(as: SIMD16<Int8>.self)) &* int32(y.loadUnaligned(as: SIMD16<Int8>.self))
                &+ int32((block + 18).loadUnaligned(as: SIMD16<Int8>.self))
                &* int32(y.loadUnaligned(fromByteOffset: 16, as: SIMD16<Int8>.self))
            acc += (GGMLBlocks.half(block) * x.d[b]) * float(p)
        }
        return acc.sum()
    }

    /// Q4_K · Q8_K.
    public static func dotQ4_KQ8_K(_ row: UnsafeRawPointer, _ x: QuantizedActivation, _ count: Int) -> Float {
        var sum: Float = 0
        for b in 0..<(count / 256) {
            let block = row + b &* 144
            let scales = (block + 4).assumingMemoryBound(to: UInt8.self)
            let y = UnsafeRawPointer(x.qs + b &* 256)
            let bsums = x.bsums + b &* 16
            var sumi: Int32 = 0, summ: Int32 = 0
            for p in 0..<4 {
                let (sc1, m1) = GGMLBlocks.scaleMinK4(2 &* p, scales)
                let (sc2, m2) = GGMLBlocks.scaleMinK4(2 &* p &+ 1, scales)
                let q = block + 16 + 32 &* p
                let yp = y + 64 &* p
                let v0 = q.loadUnaligned(as: SIMD16<UInt8>.self), v1 = q.loadUnaligned(fromByteOffset: 16, as: SIMD16<UInt8>.self)
                let lo = int32(v0 & 0xF) &* int32(yp.loadUnaligned(as: SIMD16<Int8>.self))
                    &+ int32(v1 & 0xF) &* int32(yp.loadUnaligned(fromByteOffset: 16, as: SIMD16<Int8>.self))
                let hi = int32(v0 &>> 4) &* int32(yp.loadUnaligned(fromByteOffset: 32, as: SIMD16<Int8>.self))
                    &+ int32(v1 &>> 4) &* int32(yp.loadUnaligned(fromByteOffset: 48, as: SIMD16<Int8>.self))
                sumi &+= Int32(sc1) &* lo.wrappedSum() &+ Int32(sc2) &* hi.wrappedSum()
                let s1 = Int32(bsums[4 &* p]) &+ Int32(bsums[4 &* p &+ 1])
                let s2 = Int32(bsums[4 &* p &+ 2]) &+ Int32(bsums[4 &* p &+ 3])
                summ &+= Int32(m1) &* s1 &+ Int32(m2) &* s2
            }
            let dx = x.d[b]
            sum += (GGMLBlocks.half(block) * dx) * Float(sumi) - (GGMLBlocks.half(block + 2) * dx) * Float(summ)
        }
        return sum
    }

    /// Q6_K · Q8_K.
    public static func dotQ6_KQ8_K(_ row: UnsafeRawPointer, _ x: QuantizedActivation, _ count: Int) -> Float {
        var sum: Float = 0
        for b in 0..<(count / 256) {
            let block = row + b &* 210
            let scales = (block + 192).assumingMemoryBound(to: Int8.self)
            var sumi: Int32 = 0
            for h in 0..<2 {
                let ql = block + 64 &* h, qh = block + 128 + 32 &* h
                let y = UnsafeRawPointer(x.qs + b &* 256 + 128 &* h)
                for k in 0..<4 {
                    let p0 = q6Values(ql, qh, k: k, l0: 0) &* int32(y.loadUnaligned(fromByteOffset: 32 &* k, as: SIMD16<Int8>.self))
                    let p1 = q6Values(ql, qh, k: k, l0: 16)
                        &* int32(y.loadUnaligned(fromByteOffset: 32 &* k &+ 16, as: SIMD16<Int8>.self))
                    sumi &+= Int32(scales[8 &* h &+ 2 &* k]) &* p0.wrappedSum() &+ Int32(scales[8 &* h &+ 2 &* k &+ 1]) &* p1.wrappedSum()
                }
            }
            sum += (GGMLBlocks.half(block + 208) * x.d[b]) * Float(sumi)
        }
        return sum
    }

    // MARK: bitsandbytes 4-bit

    /// bitsandbytes NF4/FP4: s = Σᵢ wᵢ·xᵢ over the `count` values starting at flat index `first` of the
    /// packed weight, wᵢ = round(table[code(i)] · absmax[i / blockSize]) with the round to `dtype`
    /// (`.bf16`, `.f16`, or none for `.f32`), exactly the values `BitsAndBytes4Bit.dequantize` followed by
    /// that rounding gives. Codes as there: code(2j) = packed[j] >> 4, code(2j+1) = packed[j] & 15.
    /// Each block's 16 possible values are rounded once into a table (`scratch`: 16 + 32 floats); the
    /// values are decoded 32 at a time and summed in `dotF32`'s order.
    public static func dotBitsAndBytes4Bit(
        packed: UnsafePointer<UInt8>, absmax: UnsafePointer<Float>, blockSize: Int, table: UnsafePointer<Float>,
        dtype: DType, first: Int, count: Int, x: UnsafePointer<Float>, scratch: UnsafeMutablePointer<Float>
    ) -> Float {
        let lut = scratch, w = scratch + 16
        var blockEnd = first  // the table holds block (blockEnd − 1) / blockSize
        @inline(__always) func value(_ i: Int) -> Float {
            if i >= blockEnd {
                let block = i / blockSize
                blockEnd = (block + 1) * blockSize
                let scale = absmax[block]
                for k in 0..<16 {
                    let v = table[k] * scale
                    switch dtype {
                    case .bf16: lut[k] = Float(bitPattern: UInt32(Precision.bf16Bits(v)) << 16)
                    case .f16: lut[k] = Precision.float(fromF16Bits: Precision.f16Bits(v))
                    default: lut[k] = v
                    }
                }
            }
            let byte = packed[i &>> 1]
            return lut[Int(i & 1 == 0 ? byte &>> 4 : byte & 0xF)]
        }
        var a0 = SIMD16<Float>(), a1 = SIMD16<Float>()
        var i = 0
        while i &+ 32 <= count {
            for j in 0..<32 { w[j] = value(first &+ i &+ j) }
            a0 += floats(w) * floats(x + i)
            a1 += floats(w + 16) * floats(x + (i &+ 16))
            i &+= 32
        }
        var s = reduce(a0, a1)
        while i < count { s += value(first &+ i) * x[i]; i &+= 1 }
        return s
    }
}

/// An f32 vector quantized to ggml's activation blocks, the form the integer kernels of `DirectDot` read:
///
/// - `q8_0` (blocks of 32): d = amax/127, x_q = round(x·127/amax) (nearest, ties to even), d stored as f16
///   (`d` holds its f32 value), as ggml's x86 `quantize_row_q8_0`;
/// - `q8_1` (blocks of 32): as `q8_0`, plus s = f16(d·Σ x_q) (`s`), as `quantize_row_q8_1`;
/// - `q8_K` (blocks of 256): with m the value of largest magnitude, x_q = min(127, round(−127/m · x)),
///   d = 1/(−127/m) in f32, and the sums of each 16 x_q (`bsums`), as `quantize_row_q8_K_ref`.
///
/// The dequantized value is x̂ᵢ = d·x_q,ᵢ (`dequantized()`).
public final class QuantizedActivation: @unchecked Sendable {
    public enum Kind: Sendable { case q8_0, q8_1, q8_K
        public var blockSize: Int { self == .q8_K ? 256 : 32 }
    }

    public let kind: Kind
    public let count: Int
    /// x_q, `count` values.
    public let qs: UnsafeMutablePointer<Int8>
    /// Per block: the scale d.
    public let d: UnsafeMutablePointer<Float>
    /// Per block (q8_1): f16(d·Σ x_q).
    public let s: UnsafeMutablePointer<Float>
    /// Per 16 values (q8_K): Σ x_q.
    public let bsums: UnsafeMutablePointer<Int16>

    /// Quantizes `x` (`count` values, a whole number of `kind.blockSize` blocks).
    public init(_ kind: Kind, _ x: UnsafePointer<Float>, count: Int) {
        precondition(count % kind.blockSize == 0, "\(count) values is not a whole number of \(kind.blockSize)-value blocks")
        self.kind = kind
        self.count = count
        let blocks = count / kind.blockSize
        qs = .allocate(capacity: max(count, 1))
        d = .allocate(capacity: max(blocks, 1))
        s = .allocate(capacity: max(blocks, 1))
        bsums = .allocate(capacity: max(count / 16, 1))
        switch kind {
        case .q8_0, .q8_1:
            for b in 0..<blocks {
                let xb = x + 32 * b, q = qs + 32 * b
                var amax: Float = 0
                for j in 0..<32 { amax = max(amax, abs(xb[j])) }
                let scale = amax / 127
                let inverse: Float = amax != 0 ? 127 / amax : 0
                var total: Int32 = 0
                for j in 0..<32 {
                    let v = Int8((xb[j] * inverse).rounded(.toNearestOrEven))
                    q[j] = v
                    total += Int32(v)
                }
                d[b] = Precision.float(fromF16Bits: Precision.f16Bits(scale))
                s[b] = Precision.float(fromF16Bits: Precision.f16Bits(scale * Float(total)))
            }
        case .q8_K:
            for b in 0..<blocks {
                let xb = x + 256 * b, q = qs + 256 * b
                var amax: Float = 0, m: Float = 0
                for j in 0..<256 where abs(xb[j]) > amax { amax = abs(xb[j]); m = xb[j] }
                s[b] = 0
                if amax == 0 {
                    d[b] = 0
                    q.update(repeating: 0, count: 256)
                    (bsums + 16 * b).update(repeating: 0, count: 16)
                    continue
                }
                let iscale = -127 / m
                for j in 0..<256 { q[j] = Int8(min(127, Int32((iscale * xb[j]).rounded(.toNearestOrEven)))) }
                for g in 0..<16 {
                    var total: Int16 = 0
                    for j in 0..<16 { total += Int16(q[16 * g + j]) }
                    bsums[16 * b + g] = total
                }
                d[b] = 1 / iscale
            }
        }
    }

    deinit {
        qs.deallocate(); d.deallocate(); s.deallocate(); bsums.deallocate()
    }

    /// x̂ᵢ = d·x_q,ᵢ.
    public func dequantized() -> [Float] {
        (0..<count).map { i in d[i / kind.blockSize] * Float(qs[i]) }
    }
}
