/// RMSNorm: y = x / √(mean(x²) + ε) · g, with g the *effective* weight.
///
/// Llama/Qwen use g = w; Gemma computes (1 + w), and its GGUF files store 1 + w already. The runtime
/// always holds the effective g (see `ModelWeights`), so one kernel serves every architecture.
/// The mean of squares is accumulated in Double; the scaling is done in f32 as PyTorch does.
enum Normalization {
    /// Normalizes `rows` rows of length `dim` from `x` into `y` (which may alias `x`).
    static func rmsNorm(
        _ x: UnsafePointer<Float>, weight g: UnsafePointer<Float>, epsilon: Float,
        rows: Int, dim: Int, into y: UnsafeMutablePointer<Float>
    ) {
        for r in 0..<rows {
            let xr = x + r * dim, yr = y + r * dim
            var sumSquares = 0.0
            for i in 0..<dim { sumSquares += Double(xr[i]) * Double(xr[i]) }
            let meanSquare = Float(sumSquares / Double(dim))
            let inverse = 1 / (meanSquare + epsilon).squareRoot()
            for i in 0..<dim { yr[i] = g[i] * (xr[i] * inverse) }
        }
    }
}
