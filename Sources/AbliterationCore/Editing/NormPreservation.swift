/// What an edit of a residual-writing weight W (hidden, in) keeps of W's norms.
///
/// With r̂ the unit edit direction and s the scale:
///
/// - `none`: W′ = W − s·r̂(r̂ᵀW), the write-up's edit.
/// - `vectors`: each written vector (a column w of W, a row of an embedding) keeps its norm,
///   w′ = ‖w‖·normalize(w − s(r̂·w)r̂) (grimjim's norm-preserving refinement).
/// - `rows`: heretic's "full" row normalization. Each row Wᵢ (one residual coordinate, over the inputs) is
///   scaled to unit norm, Ŵ = diag(1/n)W with nᵢ = ‖Wᵢ‖; the edit runs on Ŵ, Ê = Ŵ − s·r̂(r̂ᵀŴ); each row
///   is scaled back to its original norm:
///
///       W′ᵢ = nᵢ · Êᵢ / ‖Êᵢ‖,   Êᵢ = Wᵢ/nᵢ − s·r̂ᵢ·ũ,   ũ = Ŵᵀr̂ = Σᵢ (r̂ᵢ/nᵢ)Wᵢ.
///
///   ‖Êᵢ‖² = 1 − 2s·r̂ᵢ(Wᵢ·ũ)/nᵢ + s²r̂ᵢ²‖ũ‖², so the edit is a rank-1 update and a scale per row,
///   W′ᵢ = kᵢ(Wᵢ/nᵢ − s·r̂ᵢ·ũ) with kᵢ = nᵢ/‖Êᵢ‖, undone by Wᵢ = nᵢ(W′ᵢ/kᵢ + s·r̂ᵢ·ũ). Rows with
///   r̂ᵢ = 0 are unchanged. Every row keeps its norm, so ‖W′‖ = ‖W‖; what W′ still writes along r̂ is
///   not zero at s = 1 (the rescaling puts some back), which heretic's search offsets with scales above 1.
///   Only for a weight that writes the residual.
public enum NormPreservation: String, CaseIterable, Sendable, Codable {
    case none
    case vectors
    case rows
}
