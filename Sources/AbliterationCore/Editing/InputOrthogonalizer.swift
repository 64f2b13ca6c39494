import Foundation
import TensorKit

/// Removes a direction from what a weight matrix *reads* from the residual stream through an RMS norm.
///
/// A block reads the residual x through a norm with gain g: a reader W (out, hidden) computes
/// W(g ⊙ x̂), x̂ = x / rms(x). Removing r̂ from what it reads, W(g ⊙ (x̂ − s·r̂(r̂ᵀx̂))), is the
/// oblique rank-1 edit
///
///     W′ = W − s·(W a) bᵀ,   a = g ⊙ r̂,   b = r̂ ⊘ g   (bⱼ = 0 where gⱼ = 0),
///
/// since W′(g ⊙ x̂) = W(g ⊙ x̂) − s·(W a)·Σ_{gⱼ≠0} r̂ⱼx̂ⱼ: exact when no gain is 0 (a channel with gain 0
/// is read by nothing, and its share of r̂ᵀx̂ is left out of what is removed). Unlike the edit of a block's *output* (`Orthogonalizer`), no
/// post-norm stands between this edit and its effect: the reader sees g ⊙ (x̂ − s·r̂(r̂ᵀx̂)) for every
/// input with nonzero gains. (Removing r̂ from x before the norm would also change rms(x), a positive scalar per token that
/// this edit does not reproduce; query/key norms cancel it for q and k.)
///
/// Without a gain (g = 1) this is W′ = W − s·(W r̂)r̂ᵀ. Never norm-preserving. The record it returns
/// undoes it with `Orthogonalizer.undo` (orientation `.readsFromResidual`; its `direction` is b).
public struct InputOrthogonalizer: Sendable {
    /// r̂, unit norm in f64 before rounding to f32.
    public let direction: [Float]
    /// g, the input norm's effective gain (Gemma's 1 + w), nil for none.
    public let inputGain: [Float]?
    /// s (1 removes the direction from what the matrix reads entirely).
    public let scale: Float
    /// Worker threads for one tensor.
    public var threadCount: Int
    /// a = g ⊙ r̂: what each row's projection is read along.
    public let reading: [Float]
    /// b = r̂ ⊘ g: what each row loses, p·s along b.
    public let removing: [Float]

    /// An input orthogonalizer for `direction` (nonzero, finite; normalised in f64) read through a norm
    /// with gain `inputGain` (finite, the direction's size).
    public init(direction: [Double], inputGain: [Float]?, scale: Float = 1, threadCount: Int? = nil) throws {
        let plain = try Orthogonalizer(direction: direction, scale: scale, threadCount: threadCount)
        self.direction = plain.direction
        self.scale = scale
        self.threadCount = plain.threadCount
        self.inputGain = inputGain
        guard let g = inputGain else {
            reading = plain.direction
            removing = plain.direction
            return
        }
        guard g.count == direction.count else {
            throw AbliterationError.dimensionMismatch(
                "input orthogonalizer: input norm gain has \(g.count) entries for a direction of \(direction.count)")
        }
        if let i = g.firstIndex(where: { !$0.isFinite }) {
            throw AbliterationError.degenerate("input orthogonalizer: input norm gain \(i) is \(g[i])")
        }
        let r = plain.direction
        reading = zip(r, g).map { $0 * $1 }
        removing = zip(r, g).map { $1 == 0 ? 0 : $0 / $1 }
        guard reading.contains(where: { $0 != 0 }) else {
            throw AbliterationError.degenerate("input orthogonalizer: g ⊙ r̂ is zero (the input norm's gain vanishes on r̂)")
        }
    }

    /// Edits `tensor` (out, hidden) in place: every row w ← w − s·(a·w)·b, a·w accumulated in f64, the
    /// result rounded to the tensor's type; rows with a·w = 0 keep their bits.
    @discardableResult
    public func apply<T: OrthogonalizableScalar>(to tensor: inout Tensor<T>, name: String = "tensor") throws -> OrthogonalizationRecord {
        let shape = tensor.shape
        let (rows, cols, vectors) = try Orthogonalizer.geometry(shape, .readsFromResidual, hidden: direction.count, name: name)
        var projections = [Float](repeating: 0, count: vectors)
        var unused = [Float](repeating: 1, count: vectors)
        let threads = threadCount, s = scale
        tensor.scalars.withUnsafeMutableBufferPointer { w in
            guard let base = w.baseAddress, rows > 0, cols > 0 else { return }
            removing.withUnsafeBufferPointer { b in
                reading.withUnsafeBufferPointer { a in
                    projections.withUnsafeMutableBufferPointer { p in
                        unused.withUnsafeMutableBufferPointer { k in
                            OrthogonalizationKernels.editRows(
                                base, rows: rows, cols: cols, direction: b.baseAddress!, reading: a.baseAddress!, scale: s,
                                normPreserving: false, projections: p.baseAddress!, scales: k.baseAddress!, threads: threads)
                        }
                    }
                }
            }
        }
        return OrthogonalizationRecord(
            orientation: .readsFromResidual, shape: shape, scale: scale, direction: removing, projections: projections,
            vectorScales: nil)
    }
}
