import Foundation

/// Which of a block's two residual writes: the attention output (`o_proj`) or the MLP output (`down_proj`).
public enum ResidualWriter: String, Sendable, Hashable, CaseIterable {
    case attention
    case feedForward

    /// The block tensor whose output this is (`self_attn.o_proj.weight`, `mlp.down_proj.weight`).
    public var tensorSuffix: String {
        switch self {
        case .attention: return "self_attn.o_proj.weight"
        case .feedForward: return "mlp.down_proj.weight"
        }
    }
}

/// An edit of what blocks write into the residual stream, applied in the forward pass instead of to the
/// weights: for each chosen (block, writer) with unit direction u and scale s, the output y of `o_proj` or
/// `down_proj` becomes y − s·u(uᵀy), before any output norm of the block (Gemma 3's post-norms), for every
/// token, in prefill and in generation alike.
///
/// Since y = W x, this is exactly the output of the weight edit W ← W − s·u(uᵀW) (up to f32 rounding),
/// without a copy of any weight: memory is one direction per edited write, whatever the span.
///
/// A row-normalized edit (heretic's, W′ᵢ = kᵢ(Wᵢ/nᵢ − s·uᵢ·ũ) with ũ = Σᵢ (uᵢ/nᵢ)Wᵢ, nᵢ = ‖Wᵢ‖, kᵢ giving
/// row i its norm back) is one too, since ũ·x = Σᵢ (uᵢ/nᵢ)yᵢ: y′ = g ⊙ y − s·v(aᵀy) with gᵢ = kᵢ/nᵢ,
/// vᵢ = kᵢuᵢ, aᵢ = uᵢ/nᵢ on the edited rows (s·uᵢ ≠ 0, nᵢ > 0; elsewhere gᵢ = 1, vᵢ = 0, and aᵢ = 0 where
/// nᵢ = 0), three hidden-size vectors (`setRowNormalized`). grimjim's norm-preserving edit, each column
/// wⱼ ← kⱼ(wⱼ − s·u(uᵀwⱼ)), is W′ = (I − s·uuᵀ)·W·diag(k): the input x of `o_proj`/`down_proj` scaled by k
/// first, then the projection of the output (`setNormPreserving`). It cannot stand for an edit of the
/// embedding, which writes rows, not a linear map of an activation; that stays a weight edit.
public struct ResidualWriteEdit: Sendable, Equatable {
    public struct Key: Hashable, Sendable {
        public var layer: Int
        public var writer: ResidualWriter
        public init(layer: Int, writer: ResidualWriter) {
            self.layer = layer
            self.writer = writer
        }
    }

    /// A unit direction u (f32, normalised in f64) and the scale s; for a row-normalized edit, `rows`.
    public struct Projection: Sendable, Equatable {
        public let direction: [Float]
        public let scale: Float
        public var rows: RowScaling? = nil
        /// k for a norm-preserving edit: the input x of the writer becomes k ⊙ x (its in-size).
        public var inputScales: [Float]? = nil
    }

    /// y′ = gains ⊙ y − s·writing(readingᵀy): the row-normalized edit of one writer.
    public struct RowScaling: Sendable, Equatable {
        public let gains: [Float]
        public let reading: [Float]
        public let writing: [Float]
    }

    public private(set) var projections: [Key: Projection] = [:]

    public init() {}

    public var isEmpty: Bool { projections.isEmpty }

    /// Refuses a negative block, a scale that is not finite, and an empty or non-finite direction;
    /// returns the direction's norm (f64).
    private static func checked(layer: Int, writer: ResidualWriter, scale: Float, direction: [Double]) throws -> Double {
        guard layer >= 0 else { throw ModelError.layerOutOfRange("residual write edit: block \(layer) is negative") }
        guard scale.isFinite else { throw ModelError.invalidInput("residual write edit: scale \(scale) of block \(layer) is not finite") }
        guard !direction.isEmpty, direction.allSatisfy(\.isFinite) else {
            throw ModelError.invalidInput("residual write edit: the direction of block \(layer) \(writer.rawValue) is empty or not finite")
        }
        return direction.reduce(0.0) { $0 + $1 * $1 }.squareRoot()
    }

    /// As `checked`, refusing a zero direction too.
    private static func checkedNonzero(layer: Int, writer: ResidualWriter, scale: Float, direction: [Double]) throws -> Double {
        let norm = try checked(layer: layer, writer: writer, scale: scale, direction: direction)
        guard norm > 0 else { throw ModelError.invalidInput("residual write edit: the direction of block \(layer) \(writer.rawValue) is zero") }
        return norm
    }

    /// Sets the projection of block `layer`'s `writer` output: `direction` (any nonzero finite vector,
    /// normalised in f64 and rounded to f32 as the weight orthogonalizer does) removed at `scale`.
    public mutating func set(layer: Int, writer: ResidualWriter, direction: [Double], scale: Float) throws {
        let norm = try Self.checkedNonzero(layer: layer, writer: writer, scale: scale, direction: direction)
        projections[Key(layer: layer, writer: writer)] = Projection(direction: direction.map { Float($0 / norm) }, scale: scale)
    }

    /// Sets the row-normalized edit of block `layer`'s `writer` output from what the weight edit used and
    /// recorded: the f32 `direction` u, `scale` s, each row's norm nᵢ (`rowNorms`) and gain kᵢ (`rowScales`),
    /// all of the hidden size.
    public mutating func setRowNormalized(
        layer: Int, writer: ResidualWriter, direction u: [Float], scale s: Float, rowNorms n: [Float], rowScales k: [Float]
    ) throws {
        _ = try Self.checked(layer: layer, writer: writer, scale: s, direction: u.map(Double.init))
        guard n.count == u.count, k.count == u.count, n.allSatisfy({ $0.isFinite && $0 >= 0 }), k.allSatisfy(\.isFinite) else {
            throw ModelError.invalidInput(
                "residual write edit: the row-normalized edit of block \(layer) \(writer.rawValue) needs finite direction, row norms and row scales of one length")
        }
        var gains = [Float](repeating: 1, count: u.count), reading = [Float](repeating: 0, count: u.count)
        var writing = [Float](repeating: 0, count: u.count)
        for i in u.indices where n[i] > 0 {
            reading[i] = u[i] / n[i]
            if s * u[i] != 0 {
                gains[i] = k[i] / n[i]
                writing[i] = k[i] * u[i]
            }
        }
        projections[Key(layer: layer, writer: writer)] = Projection(
            direction: u, scale: s, rows: RowScaling(gains: gains, reading: reading, writing: writing))
    }

    /// Sets the norm-preserving edit of block `layer`'s `writer` from what the weight edit used and
    /// recorded: the f32 `direction` u (hidden size, kept as it is), `scale` s, and each column's gain kⱼ
    /// (`inputScales`, the writer's input size: checked against the model by `setResidualWriteEdit`).
    public mutating func setNormPreserving(
        layer: Int, writer: ResidualWriter, direction u: [Float], scale s: Float, inputScales k: [Float]
    ) throws {
        _ = try Self.checkedNonzero(layer: layer, writer: writer, scale: s, direction: u.map(Double.init))
        guard !k.isEmpty, k.allSatisfy(\.isFinite) else {
            throw ModelError.invalidInput("residual write edit: the column scales of block \(layer) \(writer.rawValue) are empty or not finite")
        }
        projections[Key(layer: layer, writer: writer)] = Projection(direction: u, scale: s, inputScales: k)
    }

    public func projection(layer: Int, writer: ResidualWriter) -> Projection? {
        projections[Key(layer: layer, writer: writer)]
    }
}

extension LanguageModel {
    /// The residual write edit the forward pass applies (nil: none). Set between calls; it applies to
    /// every later forward and generation until replaced. Refused when a direction's length is not the
    /// hidden size or a block is outside the model.
    public func setResidualWriteEdit(_ edit: ResidualWriteEdit?) throws {
        if let edit {
            for (key, p) in edit.projections {
                guard key.layer < configuration.layerCount else {
                    throw ModelError.layerOutOfRange(
                        "residual write edit: block \(key.layer) is outside 0..<\(configuration.layerCount)")
                }
                guard p.direction.count == configuration.hiddenSize else {
                    throw ModelError.invalidInput(
                        "residual write edit: block \(key.layer) \(key.writer.rawValue): direction of \(p.direction.count) components, hidden size \(configuration.hiddenSize)")
                }
                let inSize = key.writer == .attention ? configuration.queryWidth : configuration.intermediateSize
                if let k = p.inputScales, k.count != inSize {
                    throw ModelError.invalidInput(
                        "residual write edit: block \(key.layer) \(key.writer.rawValue): \(k.count) column scales for an input of \(inSize)")
                }
            }
        }
        lock.lock()
        defer { lock.unlock() }
        residualEdit = edit.flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The edit set by `setResidualWriteEdit`, if any.
    public var residualWriteEdit: ResidualWriteEdit? {
        lock.lock()
        defer { lock.unlock() }
        return residualEdit
    }
}
