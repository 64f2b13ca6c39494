/// A refusal direction measured at one layer, from the mean residual of harmful prompts μ_H and of
/// harmless prompts μ_A (both at the same layer, same hidden size).
///
/// - `conventional`: r = μ_H − μ_A.
/// - `projected`: r′ = r − (r·â)â with â = μ_A/‖μ_A‖, so only the part of r orthogonal to the
///   harmless mean is removed from the model (grimjim, "Projected Abliteration", 2025).
/// - `biprojected` (grimjim's biprojection, `sharded_ablate.py` of llm-abliteration): the projected r′
///   measured at residual index m, applied to block ℓ, then loses its component along the unit harmless
///   mean b̂ = μ_A(t)/‖μ_A(t)‖ of the residual t that block reads (t = ℓ, Hugging Face
///   `hidden_states[ℓ]`): r″ = r′ − (r′·b̂)b̂. Two projections in sequence, not the projector onto
///   span{μ_A(m), μ_A(t)}: r″ ⟂ μ_A(t) exactly, and r″·â = −(r′·b̂)(b̂·â) is in general not zero.
///   When t = m, b̂ = â and r″ = r′.
///
/// All of it is computed in Float64, each projection in two Gram–Schmidt passes; `unit` = r/‖r‖ is then
/// rounded to f32 for editing. Degenerate input — hidden sizes that differ, NaN/Inf, a zero harmless mean
/// where one is projected out, a zero direction — throws `AbliterationError`.
public struct RefusalDirection: Equatable, Sendable, Codable {
    /// r, r′ or r″ as described above.
    public enum Method: String, Equatable, Sendable, Codable, CaseIterable {
        case conventional, projected, biprojected
    }

    /// How the direction was formed.
    public let method: Method
    /// The unnormalised direction (r, r′ or r″), Float64.
    public let vector: [Double]
    /// ‖vector‖.
    public let norm: Double
    /// r̂ = vector/‖vector‖ in Float64.
    public let unit64: [Double]
    /// r̂ rounded to f32: what the orthogonalizer removes.
    public var unit: [Float] { unit64.map { Float($0) } }
    /// The hidden size.
    public var hiddenSize: Int { vector.count }

    init(method: Method, vector: [Double], label: String) throws {
        let n = VectorMath.norm(vector)
        guard n.isFinite else { throw AbliterationError.degenerate("\(label)direction is not finite") }
        guard n > 0 else { throw AbliterationError.degenerate("\(label)\(method.rawValue) refusal direction is zero") }
        self.method = method
        self.vector = vector
        self.norm = n
        self.unit64 = vector.map { $0 / n }
    }

    /// r = μ_H − μ_A.
    public static func conventional(harmful: [Double], harmless: [Double], layer: Int? = nil) throws -> RefusalDirection {
        try conventional(harmful: harmful, harmless: harmless, label: prefix(layer))
    }

    static func conventional(harmful: [Double], harmless: [Double], label: String) throws -> RefusalDirection {
        try check([("harmful mean", harmful), ("harmless mean", harmless)], label: label)
        return try RefusalDirection(method: .conventional, vector: difference(harmful, harmless), label: label)
    }

    /// r′ = r − (r·â)â, â = μ_A/‖μ_A‖.
    public static func projected(harmful: [Double], harmless: [Double], layer: Int? = nil) throws -> RefusalDirection {
        try projected(harmful: harmful, harmless: harmless, label: prefix(layer))
    }

    static func projected(harmful: [Double], harmless: [Double], label: String) throws -> RefusalDirection {
        try check([("harmful mean", harmful), ("harmless mean", harmless)], label: label)
        let basis = try orthonormalBasis([harmless], names: ["harmless mean"], label: label)
        let r = VectorMath.removingComponents(of: difference(harmful, harmless), along: basis)
        return try RefusalDirection(method: .projected, vector: r, label: label)
    }

    /// r″ = r′ − (r′·b̂)b̂: the projected direction r′ = r − (r·â)â of this layer (â = μ_A/‖μ_A‖), then
    /// its component along b̂ = `targetHarmless`/‖`targetHarmless`‖ removed, where `targetHarmless` is the
    /// harmless mean of the residual the edited block reads. `vector` is r″ formed from the unnormalised
    /// r′ (grimjim normalises r′ first, which scales r″ and leaves `unit` the same). r″ ⟂ `targetHarmless`;
    /// when `targetHarmless` is parallel to μ_A this equals `projected`.
    public static func biprojected(
        harmful: [Double], harmless: [Double], targetHarmless: [Double], layer: Int? = nil, targetLayer: Int? = nil
    ) throws -> RefusalDirection {
        try biprojected(
            harmful: harmful, harmless: harmless, targetHarmless: targetHarmless, label: prefix(layer),
            targetName: targetLayer.map { "harmless mean of target residual \($0)" } ?? "target harmless mean")
    }

    static func biprojected(
        harmful: [Double], harmless: [Double], targetHarmless: [Double], label: String, targetName: String
    ) throws -> RefusalDirection {
        try check(
            [("harmful mean", harmful), ("harmless mean", harmless), ("target harmless mean", targetHarmless)],
            label: label)
        let measured = try orthonormalBasis([harmless], names: ["harmless mean"], label: label)
        let target = try orthonormalBasis([targetHarmless], names: [targetName], label: label)
        let projected = VectorMath.removingComponents(of: difference(harmful, harmless), along: measured)
        let r = VectorMath.removingComponents(of: projected, along: target)
        return try RefusalDirection(method: .biprojected, vector: r, label: label)
    }

    /// The direction of `method` from two running means (and, for `biprojected`, the harmless mean of the
    /// residual the edited block reads).
    public static func make(
        _ method: Method, harmful: RunningMean, harmless: RunningMean, targetHarmless: RunningMean? = nil,
        layer: Int? = nil, targetLayer: Int? = nil
    ) throws -> RefusalDirection {
        guard harmful.count > 0, harmless.count > 0 else {
            throw AbliterationError.degenerate(
                "\(prefix(layer))no vectors measured (harmful \(harmful.count), harmless \(harmless.count))")
        }
        switch method {
        case .conventional: return try conventional(harmful: harmful.mean, harmless: harmless.mean, layer: layer)
        case .projected: return try projected(harmful: harmful.mean, harmless: harmless.mean, layer: layer)
        case .biprojected:
            guard let t = targetHarmless else {
                throw AbliterationError.invalidInput("\(prefix(layer))biprojected direction needs the harmless mean of the target block's input residual")
            }
            return try biprojected(
                harmful: harmful.mean, harmless: harmless.mean, targetHarmless: t.mean, layer: layer, targetLayer: targetLayer)
        }
    }

    // MARK: - Checks

    static func prefix(_ layer: Int?) -> String { layer.map { "layer \($0): " } ?? "" }

    static func check(_ vectors: [(String, [Double])], label: String) throws {
        let n = vectors[0].1.count
        guard n > 0 else { throw AbliterationError.dimensionMismatch("\(label)\(vectors[0].0) is empty") }
        for (name, v) in vectors {
            guard v.count == n else {
                throw AbliterationError.dimensionMismatch(
                    "\(label)\(name) has hidden size \(v.count), \(vectors[0].0) has \(n)")
            }
            if let i = v.firstIndex(where: { !$0.isFinite }) {
                throw AbliterationError.degenerate("\(label)\(name) component \(i) is \(v[i])")
            }
        }
    }

    static func difference(_ a: [Double], _ b: [Double]) -> [Double] {
        var out = a
        for i in out.indices { out[i] -= b[i] }
        return out
    }

    /// Orthonormal vectors spanning `vectors` (Gram–Schmidt, twice). The first must be nonzero; a later one
    /// that lies in the span of the earlier ones (residual below 1e-12 of its norm) adds nothing.
    static func orthonormalBasis(_ vectors: [[Double]], names: [String], label: String) throws -> [[Double]] {
        var basis: [[Double]] = []
        for (v, name) in zip(vectors, names) {
            let n = VectorMath.norm(v)
            guard n > 0 else { throw AbliterationError.degenerate("\(label)\(name) has zero norm") }
            let rest = VectorMath.removingComponents(of: v, along: basis)
            let m = VectorMath.norm(rest)
            if m <= 1e-12 * n { continue }
            basis.append(rest.map { $0 / m })
        }
        return basis
    }
}

extension RefusalDirection {
    /// Float overloads: the means widened to Float64.
    public static func conventional(harmful: [Float], harmless: [Float], layer: Int? = nil) throws -> RefusalDirection {
        try conventional(harmful: harmful.map(Double.init), harmless: harmless.map(Double.init), layer: layer)
    }

    public static func projected(harmful: [Float], harmless: [Float], layer: Int? = nil) throws -> RefusalDirection {
        try projected(harmful: harmful.map(Double.init), harmless: harmless.map(Double.init), layer: layer)
    }

    public static func biprojected(
        harmful: [Float], harmless: [Float], targetHarmless: [Float], layer: Int? = nil, targetLayer: Int? = nil
    ) throws -> RefusalDirection {
        try biprojected(
            harmful: harmful.map(Double.init), harmless: harmless.map(Double.init),
            targetHarmless: targetHarmless.map(Double.init), layer: layer, targetLayer: targetLayer)
    }
}
