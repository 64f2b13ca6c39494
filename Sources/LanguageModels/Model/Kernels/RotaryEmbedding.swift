import Foundation

/// Rotary position embedding in Hugging Face's half-split ("NeoX") layout.
///
/// For a head vector x of size d and half = d/2, with angle θᵢ = p·fᵢ (p the token position,
/// fᵢ the inverse frequency of pair i):
///     y[i]        = x[i]·cos θᵢ − x[i+half]·sin θᵢ
///     y[i+half]   = x[i+half]·cos θᵢ + x[i]·sin θᵢ
/// The inverse frequencies are computed in f32 as transformers does (fᵢ = 1 / base^(2i/d)), then
/// rescaled by the RoPE scaling of the configuration.
struct RotaryEmbedding: Sendable {
    /// fᵢ for i in 0..<half.
    let inverseFrequencies: [Float]
    /// Multiplier on cos and sin (1 except for YaRN-style scalings, which are not supported).
    let attentionScaling: Float = 1

    init(headDim: Int, base: Double, scaling: RoPEScaling, frequencyFactors: [Float]? = nil) {
        let half = headDim / 2
        var f = [Float](repeating: 0, count: half)
        for i in 0..<half {
            let exponent = Float(2 * i) / Float(headDim)
            f[i] = 1 / powf(Float(base), exponent)
        }
        switch scaling {
        case .none:
            break
        case .linear(let factor):
            for i in 0..<half { f[i] /= Float(factor) }
        case .llama3(let factor, let low, let high, let original):
            // transformers' _compute_llama3_parameters: long wavelengths are divided by `factor`,
            // short ones kept, the band between interpolated smoothly.
            let lowWavelength = Float(original) / Float(low)
            let highWavelength = Float(original) / Float(high)
            for i in 0..<half {
                let wavelength = 2 * Float.pi / f[i]
                var scaled = wavelength > lowWavelength ? f[i] / Float(factor) : f[i]
                let isMedium = !(wavelength < highWavelength) && !(wavelength > lowWavelength)
                if isMedium {
                    let smooth = (Float(original) / wavelength - Float(low)) / (Float(high) - Float(low))
                    scaled = (1 - smooth) * scaled / Float(factor) + smooth * scaled
                }
                f[i] = scaled
            }
        }
        if let factors = frequencyFactors {
            for i in 0..<min(half, factors.count) { f[i] /= factors[i] }
        }
        inverseFrequencies = f
    }

    var half: Int { inverseFrequencies.count }

    /// cos and sin tables (positions.count, half) for the given positions.
    func tables(positions: [Int]) -> (cos: [Float], sin: [Float]) {
        let h = half
        var c = [Float](repeating: 0, count: positions.count * h)
        var s = [Float](repeating: 0, count: positions.count * h)
        for (t, p) in positions.enumerated() {
            let pf = Float(p)
            for i in 0..<h {
                let angle = Double(pf * inverseFrequencies[i])  // the f32 product, as in torch
                c[t * h + i] = Float(Foundation.cos(angle)) * attentionScaling
                s[t * h + i] = Float(Foundation.sin(angle)) * attentionScaling
            }
        }
        return (c, s)
    }

    /// Rotates `heads` head vectors of size 2·half in each of `tokens` rows of `x` (row stride
    /// `rowStride`), token t using row t of the cos/sin tables.
    static func apply(
        _ x: UnsafeMutablePointer<Float>, tokens: Int, heads: Int, headDim: Int, rowStride: Int,
        cos: UnsafePointer<Float>, sin: UnsafePointer<Float>
    ) {
        let half = headDim / 2
        for t in 0..<tokens {
            let ct = cos + t * half, st = sin + t * half
            for h in 0..<heads {
                let v = x + t * rowStride + h * headDim
                for i in 0..<half {
                    let a = v[i], b = v[i + half]
                    v[i] = a * ct[i] - b * st[i]
                    v[i + half] = b * ct[i] + a * st[i]
                }
            }
        }
    }
}
