/// The numbers of the method's write-up for one layer, from the harmful mean μ_H and harmless mean μ_A.
///
/// With r = μ_H − μ_A, â = μ_A/‖μ_A‖ and r′ = r − (r·â)â:
/// - `harmfulNorm` ‖μ_H‖, `harmlessNorm` ‖μ_A‖, `directionNorm` ‖r‖;
/// - `cosDirectionHarmful` cos(r, μ_H), `cosDirectionHarmless` cos(r, μ_A), `cosHarmfulHarmless` cos(μ_H, μ_A)
///   (on instruction-tuned models typically cos(r, μ_H) > 0 and cos(r, μ_A) < 0);
/// - `projectionRemovedFraction` = (‖r‖ − ‖r′‖)/‖r‖ = 1 − √(1 − cos²(r, μ_A)), the share of ‖r‖ the
///   projection takes away;
/// - `separation` = (μ_H − μ_A)·r̂′ / σ, r̂′ = r′/‖r′‖, σ² = Σᵢ r̂′ᵢ² s²ᵢ with sᵢ² the pooled per-component variance
///   (M₂_H + M₂_A)/(n_H + n_A − 2). This is a diagonal estimate of the pooled spread along r̂′ (covariances
///   between components are not tracked); nil without at least three vectors or with zero spread.
public struct RefusalDiagnostics: Equatable, Sendable, Codable {
    public let layer: Int?
    public let harmfulNorm: Double
    public let harmlessNorm: Double
    public let directionNorm: Double
    public let cosDirectionHarmful: Double
    public let cosDirectionHarmless: Double
    public let cosHarmfulHarmless: Double
    public let projectionRemovedFraction: Double
    public let separation: Double?

    /// Diagnostics from the two means alone (no separation score).
    public init(harmful: [Double], harmless: [Double], layer: Int? = nil) throws {
        try self.init(harmful: harmful, harmless: harmless, pooledVariance: nil, layer: layer)
    }

    /// Diagnostics from two running means, including the separation score.
    public init(harmful: RunningMean, harmless: RunningMean, layer: Int? = nil) throws {
        var pooled: [Double]? = nil
        let dof = harmful.count + harmless.count - 2
        if dof > 0, harmful.dimension == harmless.dimension {
            pooled = (0..<harmful.dimension).map {
                (harmful.sumOfSquaredDeviations[$0] + harmless.sumOfSquaredDeviations[$0]) / Double(dof)
            }
        }
        try self.init(harmful: harmful.mean, harmless: harmless.mean, pooledVariance: pooled, layer: layer)
    }

    init(harmful: [Double], harmless: [Double], pooledVariance: [Double]?, layer: Int?) throws {
        let label = RefusalDirection.prefix(layer)
        try RefusalDirection.check([("harmful mean", harmful), ("harmless mean", harmless)], label: label)
        let r = RefusalDirection.difference(harmful, harmless)
        self.layer = layer
        harmfulNorm = VectorMath.norm(harmful)
        harmlessNorm = VectorMath.norm(harmless)
        directionNorm = VectorMath.norm(r)
        cosDirectionHarmful = VectorMath.cosine(r, harmful)
        cosDirectionHarmless = VectorMath.cosine(r, harmless)
        cosHarmfulHarmless = VectorMath.cosine(harmful, harmless)
        let projected = try RefusalDirection.projected(harmful: harmful, harmless: harmless, layer: layer)
        projectionRemovedFraction = directionNorm == 0 ? 0 : (directionNorm - projected.norm) / directionNorm
        if let v = pooledVariance {
            var spread = 0.0
            for i in v.indices { spread += projected.unit64[i] * projected.unit64[i] * v[i] }
            let gap = VectorMath.dot(r, projected.unit64)
            separation = spread > 0 ? gap / spread.squareRoot() : nil
        } else {
            separation = nil
        }
    }
}
