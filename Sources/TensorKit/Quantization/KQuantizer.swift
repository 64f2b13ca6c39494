/// ggml's reference K-quant encoders (`quantize_row_q4_K_ref`, `quantize_row_q5_K_ref`,
/// `quantize_row_q6_K_ref` in ggml-quants.c: what `llama-quantize` runs without an importance matrix),
/// followed operation by operation in f32 so the bytes match ggml's reference compiled without fused
/// multiply-add contraction. Per 256-value super-block:
///
/// **Q4_K / Q5_K** (nmax = 15 / 31). For each sub-block of 32 values x with weights
/// wᵢ = sqrt(Σx²/32) + |xᵢ|, `fitScaleMin` finds a scale s ≥ 0 and an offset m ≤ 0 with
/// x ≈ s·q + m, q ∈ 0…nmax: start from s = (max − min)/nmax over [min(0, min x), max x], then try
/// nstep + 1 candidate inverse scales (rmin + rdelta·k + nmax)/(max − min), each followed by the weighted
/// least-squares (s, m) for its codes (m clamped to ≤ 0), keeping the lowest Σw·(s·q + m − x)².
/// (rmin, rdelta, nstep) = (−1, 0.1, 20) for Q4_K and (−0.5, 0.1, 15) for Q5_K. Then
///
///     d = f16(max s / 63), dmin = f16(max(−m) / 63),
///     sc = min(63, round(63·s / max s)), mn = min(63, round(63·(−m) / max(−m)))   (6 bits each)
///     q = clamp(round((x + dmin·mn) / (d·sc)), 0, nmax)                          (sub-blocks with d·sc = 0
///                                                                                 keep the fit's codes)
///
/// **Q6_K**. For each sub-block of 16 values, `fitSymmetricScale` (ggml's `make_qx_quants` with
/// rmse_type 1) picks s minimizing Σx²·(x − s·l)² over l = clamp(round(x/s′), −32, 31) for
/// s′ = −max/(32 + 0.1·k), k = −9…9 (max: the value of largest |x|); then, with S the s of largest |s|,
///
///     d = f16(S / −128), scale = min(127, round(−128·s / S)) (int8), q = clamp(round(x / (d·scale)), −32, 31) + 32
///
/// and a super-block whose every |s| < 1e-15 is written as 210 zero bytes.
///
/// round(·) is ggml's `nearest_int` (add 1.5·2²³ and read the mantissa: round half to even for
/// |v| < 2²²). Packing is `GGMLBlockLayout`'s.
public enum KQuantizer {
    /// ggml's `GROUP_MAX_EPS`: a group whose largest |x| is below it is all zero.
    static let groupMaxEpsilon: Float = 1e-15

    /// ggml's `nearest_int`: the mantissa bits of v + 12582912 (round half to even for |v| < 2²²).
    @inline(__always)
    static func nearestInt(_ v: Float) -> Int32 {
        let shifted = v + 12_582_912
        return Int32(bitPattern: shifted.bitPattern & 0x007F_FFFF) - 0x0040_0000
    }

    @inline(__always)
    static func half(_ bits: UInt16) -> Float { Precision.float(fromF16Bits: bits) }

    /// ggml's `make_qkx2_quants`: codes `L` (0…nmax) for `n` values, returning (scale, −offset).
    /// `aux` is scratch for n codes.
    static func fitScaleMin(
        _ n: Int, _ nmax: Int32, _ x: UnsafePointer<Float>, _ weights: UnsafePointer<Float>,
        _ L: UnsafeMutablePointer<UInt8>, _ aux: UnsafeMutablePointer<UInt8>,
        rmin: Float, rdelta: Float, nstep: Int
    ) -> (scale: Float, negativeMin: Float) {
        var lo = x[0], hi = x[0]
        var sumW = weights[0]
        var sumX = sumW * x[0]
        for i in 1..<n {
            if x[i] < lo { lo = x[i] }
            if x[i] > hi { hi = x[i] }
            let w = weights[i]
            sumW += w
            sumX += w * x[i]
        }
        if lo > 0 { lo = 0 }
        if hi == lo {
            for i in 0..<n { L[i] = 0 }
            return (0, -lo)
        }
        let fnmax = Float(nmax)
        var iscale = fnmax / (hi - lo)
        var scale = 1 / iscale
        var bestError: Float = 0
        for i in 0..<n {
            let l = nearestInt(iscale * (x[i] - lo))
            L[i] = UInt8(truncatingIfNeeded: max(0, min(nmax, l)))
            let diff = scale * Float(L[i]) + lo - x[i]
            bestError += weights[i] * (diff * diff)
        }
        if nstep < 1 { return (scale, -lo) }
        for step in 0...nstep {
            iscale = (rmin + rdelta * Float(step) + fnmax) / (hi - lo)
            var sumL: Float = 0, sumL2: Float = 0, sumXL: Float = 0
            for i in 0..<n {
                let l = max(0, min(nmax, nearestInt(iscale * (x[i] - lo))))
                aux[i] = UInt8(truncatingIfNeeded: l)
                let w = weights[i]
                let fl = Float(l)
                sumL += w * fl
                sumL2 += w * fl * fl
                sumXL += w * fl * x[i]
            }
            let D = sumW * sumL2 - sumL * sumL
            if D > 0 {
                var thisScale = (sumW * sumXL - sumX * sumL) / D
                var thisMin = (sumL2 * sumX - sumL * sumXL) / D
                if thisMin > 0 {
                    thisMin = 0
                    thisScale = sumXL / sumL2
                }
                var error: Float = 0
                for i in 0..<n {
                    let diff = thisScale * Float(aux[i]) + thisMin - x[i]
                    error += weights[i] * (diff * diff)
                }
                if error < bestError {
                    for i in 0..<n { L[i] = aux[i] }
                    bestError = error
                    scale = thisScale
                    lo = thisMin
                }
            }
        }
        return (scale, -lo)
    }

    /// ggml's `make_qx_quants` with rmse_type 1 and no importance weights: codes `L` (0…2·nmax−1, i.e.
    /// l + nmax) for `n` values, returning the scale.
    static func fitSymmetricScale(_ n: Int, _ nmax: Int32, _ x: UnsafePointer<Float>, _ L: UnsafeMutablePointer<Int8>) -> Float {
        var top: Float = 0, amax: Float = 0
        for i in 0..<n {
            let ax = abs(x[i])
            if ax > amax { amax = ax; top = x[i] }
        }
        if amax < groupMaxEpsilon {
            for i in 0..<n { L[i] = 0 }
            return 0
        }
        let fnmax = Float(nmax)
        var iscale = Float(-nmax) / top
        var sumLX: Float = 0, sumL2: Float = 0
        for i in 0..<n {
            let l = max(-nmax, min(nmax - 1, nearestInt(iscale * x[i])))
            L[i] = Int8(truncatingIfNeeded: l + nmax)
            let w = x[i] * x[i]
            let fl = Float(l)
            sumLX += w * x[i] * fl
            sumL2 += w * fl * fl
        }
        var scale: Float = sumL2 != 0 ? sumLX / sumL2 : 0
        var best = scale * sumLX
        for step in -9...9 where step != 0 {
            iscale = -(fnmax + 0.1 * Float(step)) / top
            sumLX = 0
            sumL2 = 0
            for i in 0..<n {
                let l = max(-nmax, min(nmax - 1, nearestInt(iscale * x[i])))
                let w = x[i] * x[i]
                let fl = Float(l)
                sumLX += w * x[i] * fl
                sumL2 += w * fl * fl
            }
            if sumL2 > 0 && sumLX * sumLX > best * sumL2 {
                for i in 0..<n {
                    let l = max(-nmax, min(nmax - 1, nearestInt(iscale * x[i])))
                    L[i] = Int8(truncatingIfNeeded: nmax + l)
                }
                scale = sumLX / sumL2
                best = scale * sumLX
            }
        }
        return scale
    }

    /// The 6-bit scales and mins of a Q4_K/Q5_K block, packed into `scales[12]` as `GGMLBlocks.scaleMinK4`
    /// reads them, d and dmin stored at `block`; then the final codes into `L`. Shared by Q4_K and Q5_K.
    private static func packScalesAndRequantize(
        _ x: UnsafePointer<Float>, _ block: UnsafeMutableRawPointer, _ nmax: Int32,
        _ L: UnsafeMutablePointer<UInt8>, _ scratch: UnsafeMutablePointer<Float>, _ aux: UnsafeMutablePointer<UInt8>,
        rmin: Float, rdelta: Float, nstep: Int
    ) {
        // scratch: scales[8], mins[8], weights[32]; aux: 32 codes.
        let scales = scratch, mins = scratch + 8, w = scratch + 16
        var maxScale: Float = 0, maxMin: Float = 0
        for j in 0..<8 {
            let xs = x + 32 * j
            var sumX2: Float = 0
            for l in 0..<32 { sumX2 += xs[l] * xs[l] }
            let avX = (sumX2 / 32).squareRoot()
            for l in 0..<32 { w[l] = avX + abs(xs[l]) }
            let fit = fitScaleMin(32, nmax, xs, w, L + 32 * j, aux, rmin: rmin, rdelta: rdelta, nstep: nstep)
            scales[j] = fit.scale
            mins[j] = fit.negativeMin
            if fit.scale > maxScale { maxScale = fit.scale }
            if fit.negativeMin > maxMin { maxMin = fit.negativeMin }
        }
        let invScale: Float = maxScale > 0 ? 63 / maxScale : 0
        let invMin: Float = maxMin > 0 ? 63 / maxMin : 0
        let packed = (block + 4).assumingMemoryBound(to: UInt8.self)
        for j in 0..<12 { packed[j] = 0 }
        for j in 0..<8 {
            let ls = min(63, UInt8(truncatingIfNeeded: nearestInt(invScale * scales[j])))
            let lm = min(63, UInt8(truncatingIfNeeded: nearestInt(invMin * mins[j])))
            if j < 4 {
                packed[j] = ls
                packed[j + 4] = lm
            } else {
                packed[j + 4] = (ls & 0xF) | ((lm & 0xF) << 4)
                packed[j - 4] |= (ls >> 4) << 6
                packed[j] |= (lm >> 4) << 6
            }
        }
        let dBits = Precision.f16Bits(maxScale / 63), dminBits = Precision.f16Bits(maxMin / 63)
        block.storeBytes(of: dBits.littleEndian, as: UInt16.self)
        (block + 2).storeBytes(of: dminBits.littleEndian, as: UInt16.self)
        let d = half(dBits), dmin = half(dminBits)
        for j in 0..<8 {
            let (sc, m) = GGMLBlocks.scaleMinK4(j, UnsafePointer(packed))
            let dj = d * Float(sc)
            if dj == 0 { continue }
            let dm = dmin * Float(m)
            for i in 0..<32 {
                let l = nearestInt((x[32 * j + i] + dm) / dj)
                L[32 * j + i] = UInt8(truncatingIfNeeded: max(0, min(nmax, l)))
            }
        }
    }

    /// Q4_K (144 bytes per 256 values): `d`, `dmin`, `scales[12]`, `qs[128]` with qs[32p + l] =
    /// q[64p + l] | q[64p + 32 + l] << 4.
    public static func quantizeQ4_K(_ src: UnsafePointer<Float>, _ dst: UnsafeMutableRawPointer, _ blockCount: Int) {
        let L = UnsafeMutablePointer<UInt8>.allocate(capacity: 256 + 32)
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: 48)
        defer { L.deallocate(); scratch.deallocate() }
        let aux = L + 256
        do {
            for b in 0..<blockCount {
                let x = src + 256 * b
                let block = dst + 144 * b
                packScalesAndRequantize(x, block, 15, L, scratch, aux, rmin: -1, rdelta: 0.1, nstep: 20)
                let qs = (block + 16).assumingMemoryBound(to: UInt8.self)
                for p in 0..<4 {
                    for l in 0..<32 { qs[32 * p + l] = L[64 * p + l] | (L[64 * p + 32 + l] << 4) }
                }
            }
        }
    }

    /// Q5_K (176 bytes per 256 values): `d`, `dmin`, `scales[12]`, `qh[32]` (bit 2p of qh[l] = 5th bit of
    /// value 64p + l, bit 2p+1 that of 64p + 32 + l), `qs[128]` (low nibbles as Q4_K).
    public static func quantizeQ5_K(_ src: UnsafePointer<Float>, _ dst: UnsafeMutableRawPointer, _ blockCount: Int) {
        let L = UnsafeMutablePointer<UInt8>.allocate(capacity: 256 + 32)
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: 48)
        defer { L.deallocate(); scratch.deallocate() }
        let aux = L + 256
        do {
            for b in 0..<blockCount {
                let x = src + 256 * b
                let block = dst + 176 * b
                packScalesAndRequantize(x, block, 31, L, scratch, aux, rmin: -0.5, rdelta: 0.1, nstep: 15)
                let qh = (block + 16).assumingMemoryBound(to: UInt8.self)
                let qs = (block + 48).assumingMemoryBound(to: UInt8.self)
                for l in 0..<32 { qh[l] = 0 }
                var m1: UInt8 = 1, m2: UInt8 = 2
                for p in 0..<4 {
                    for l in 0..<32 {
                        var l1 = L[64 * p + l], l2 = L[64 * p + 32 + l]
                        if l1 > 15 { l1 -= 16; qh[l] |= m1 }
                        if l2 > 15 { l2 -= 16; qh[l] |= m2 }
                        qs[32 * p + l] = l1 | (l2 << 4)
                    }
                    m1 <<= 2
                    m2 <<= 2
                }
            }
        }
    }

    /// Q6_K (210 bytes per 256 values): `ql[128]`, `qh[64]`, `scales[16]` (int8), `d`, laid out as
    /// `GGMLBlockLayout.q6_K` describes.
    public static func quantizeQ6_K(_ src: UnsafePointer<Float>, _ dst: UnsafeMutableRawPointer, _ blockCount: Int) {
        var L = [Int8](repeating: 0, count: 256)
        var scales = [Float](repeating: 0, count: 16)
        L.withUnsafeMutableBufferPointer { Lb in
            let L = Lb.baseAddress!
            for b in 0..<blockCount {
                let x = src + 256 * b
                let block = dst + 210 * b
                var maxScale: Float = 0, maxAbsScale: Float = 0
                for ib in 0..<16 {
                    let s = fitSymmetricScale(16, 32, x + 16 * ib, L + 16 * ib)
                    scales[ib] = s
                    if abs(s) > maxAbsScale { maxAbsScale = abs(s); maxScale = s }
                }
                if maxAbsScale < groupMaxEpsilon {
                    block.initializeMemory(as: UInt8.self, repeating: 0, count: 210)
                    continue
                }
                let iscale = -128 / maxScale
                let dBits = Precision.f16Bits(1 / iscale)
                (block + 208).storeBytes(of: dBits.littleEndian, as: UInt16.self)
                let sc = (block + 192).assumingMemoryBound(to: Int8.self)
                for ib in 0..<16 { sc[ib] = Int8(truncatingIfNeeded: min(127, nearestInt(iscale * scales[ib]))) }
                let d = half(dBits)
                for j in 0..<16 {
                    let dj = d * Float(sc[j])
                    if dj == 0 { continue }
                    for i in 0..<16 {
                        let l = max(-32, min(31, nearestInt(x[16 * j + i] / dj)))
                        L[16 * j + i] = Int8(truncatingIfNeeded: l + 32)
                    }
                }
                let ql = (block).assumingMemoryBound(to: UInt8.self)
                let qh = (block + 128).assumingMemoryBound(to: UInt8.self)
                for h in 0..<2 {
                    let Lh = L + 128 * h
                    let qlh = ql + 64 * h, qhh = qh + 32 * h
                    for l in 0..<32 {
                        let q1 = UInt8(bitPattern: Lh[l]), q2 = UInt8(bitPattern: Lh[l + 32])
                        let q3 = UInt8(bitPattern: Lh[l + 64]), q4 = UInt8(bitPattern: Lh[l + 96])
                        qlh[l] = (q1 & 0xF) | ((q3 & 0xF) << 4)
                        qlh[l + 32] = (q2 & 0xF) | ((q4 & 0xF) << 4)
                        qhh[l] = (q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6)
                    }
                }
            }
        }
    }
}
