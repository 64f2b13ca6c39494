import Foundation

/// Which direction a residual-writing weight is orthogonalized against.
///
/// A block that adds its output y = Wx to the residual as it is writes r̂ᵀy along the refusal direction,
/// and orthogonalizing W against r̂ removes it. A block that normalizes its output first (Gemma 2 and 3:
/// `post_attention_layernorm(o_proj(·))`, `post_feedforward_layernorm(down_proj(·))`) adds
/// g ⊙ y / rms(y), whose component along r̂ is
///
///     r̂ᵀ(g ⊙ y) / rms(y) = (g ⊙ r̂)ᵀy / rms(y),
///
/// so the plain edit leaves (g ⊙ r̂)ᵀy ≠ 0 wherever g is not constant. Orthogonalizing against
/// u = (g ⊙ r̂) / ‖g ⊙ r̂‖ instead gives uᵀ(W′x) = (1 − s)·uᵀ(Wx) for every input x, so at scale 1 the
/// block writes nothing along r̂, exactly (the rms is a positive scalar and does not change the zero).
public enum EditDirectionMode: String, CaseIterable, Sendable, Codable {
    /// Norm-aware for weights whose output is normalized before the residual add, plain for the rest.
    case automatic = "auto"
    /// Always r̂ (the write-up's and grimjim's edit).
    case plain
    /// u = normalize(g ⊙ r̂) where the output is normalized; refused for a weight that has no output norm.
    case normAware = "norm-aware"
}

/// The edit direction for an output norm with gain g.
public enum NormAwareDirection {
    /// u = (g ⊙ r̂) / ‖g ⊙ r̂‖ in f64, for a unit (or any nonzero) r̂ and the norm's effective gain g
    /// (Gemma's 1 + w). Throws when the sizes differ, g has a non-finite entry, or g ⊙ r̂ is zero.
    public static func direction(_ r: [Double], gain: [Float]) throws -> [Double] {
        guard r.count == gain.count else {
            throw AbliterationError.dimensionMismatch(
                "norm-aware direction: gain has \(gain.count) entries for a direction of \(r.count)")
        }
        if let i = gain.firstIndex(where: { !$0.isFinite }) {
            throw AbliterationError.degenerate("norm-aware direction: output norm gain \(i) is \(gain[i])")
        }
        let scaled = zip(r, gain).map { $0 * Double($1) }
        let n = VectorMath.norm(scaled)
        guard n > 0, n.isFinite else {
            throw AbliterationError.degenerate("norm-aware direction: g ⊙ r̂ is zero (the output norm's gain vanishes on r̂)")
        }
        return scaled.map { $0 / n }
    }
}
