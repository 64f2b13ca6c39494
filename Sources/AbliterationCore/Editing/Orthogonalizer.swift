import Foundation
import TensorKit

/// How a weight matrix meets the residual stream, which decides what a "residual vector" of it is.
public enum ResidualOrientation: String, Equatable, Sendable, Codable {
    /// A matrix that writes into the residual stream, stored as Hugging Face does, (hidden, in):
    /// `o_proj`, `down_proj`. Its columns are the vectors it writes. (A GGUF tensor has the same
    /// row-major shape once read as a `StoredTensor`.)
    case writesToResidual
    /// An embedding (vocab, hidden): its rows are the vectors it writes.
    case embedding
    /// A matrix that reads the (normalized) residual stream, (out, hidden): `q_proj`, `k_proj`, `v_proj`,
    /// `gate_proj`, `up_proj`. Its rows are the vectors it reads with (`InputOrthogonalizer`).
    case readsFromResidual
}

/// What an edit did, enough to undo it: W = W′/k + s·r̂·p̃ᵀ (columns) or E = E′/k + s·p̃·r̂ᵀ (rows);
/// for a row-normalized edit (`NormPreservation.rows`) Wᵢ = nᵢ(W′ᵢ/kᵢ + s·r̂ᵢ·ũ) per row i.
public struct OrthogonalizationRecord: Equatable, Sendable, Codable {
    /// Which side of the matrix was edited (columns or rows).
    public let orientation: ResidualOrientation
    /// The edited matrix's shape.
    public let shape: [Int]
    /// s.
    public let scale: Float
    /// r̂ in f32, as used.
    public let direction: [Float]
    /// p̃ = r̂·w per residual vector (columns of (hidden, in), rows of (vocab, hidden)), rounded to f32;
    /// for a row-normalized edit ũ = Σᵢ (r̂ᵢ/nᵢ)Wᵢ (in).
    public let projections: [Float]
    /// k per residual vector for a norm-preserving edit, per row (hidden) for a row-normalized one, nil
    /// otherwise.
    public let vectorScales: [Float]?
    /// nᵢ = ‖Wᵢ‖ per row (hidden) for a row-normalized edit, nil otherwise.
    public var rowNorms: [Float]? = nil

    /// What the edit kept of the weight's norms.
    public var norms: NormPreservation { rowNorms != nil ? .rows : vectorScales != nil ? .vectors : .none }
}

/// Removes a direction from what a weight matrix can write into the residual stream.
///
/// For W (hidden, in): W ← W − s·r̂(r̂ᵀW). For an embedding E (vocab, hidden): E ← E − s·(E r̂)r̂ᵀ.
/// With `norms` `.vectors`, each residual vector w keeps its norm: w′ = ‖w‖·normalize(w − s(r̂·w)r̂)
/// (grimjim's norm-preserving refinement, applied per written vector); with `.rows`, the edit runs on
/// the row-normalized matrix and each row gets its norm back (heretic's "full" row normalization,
/// `NormPreservation`; writers only, three passes).
///
/// Storage may be f32, bf16 or f16; the math is f32 with f64 accumulation of the r̂ᵀW products, the
/// result is rounded to the input's dtype, and rows the edit does not change (r̂ᵢ = 0 for a (hidden, in)
/// matrix, r̂·e = 0 for an embedding row) keep their bits. It works in place on one tensor with O(vectors)
/// scratch: two streaming passes for a (hidden, in) matrix (r̂ᵀW, then the rank-1 update), one for an
/// embedding (each row's dot product and update while the row is in cache). Columns or rows are split
/// between `threadCount` workers; the result does not depend on the thread count.
public struct Orthogonalizer: Sendable {
    /// r̂, unit norm in f64 before rounding to f32.
    public let direction: [Float]
    /// s (1 removes the direction entirely).
    public let scale: Float
    /// What the edit keeps of the weight's norms (`NormPreservation`).
    public let norms: NormPreservation
    /// Whether each residual vector keeps its norm: w′ = ‖w‖·normalize(w − s(r̂·w)r̂).
    public var normPreserving: Bool { norms == .vectors }
    /// Worker threads for one tensor.
    public var threadCount: Int

    /// An orthogonalizer for `direction` (any nonzero finite vector; it is normalised in f64).
    public init(direction: [Double], scale: Float = 1, norms: NormPreservation = .none, threadCount: Int? = nil) throws {
        guard !direction.isEmpty else { throw AbliterationError.degenerate("orthogonalizer: empty direction") }
        if let i = direction.firstIndex(where: { !$0.isFinite }) {
            throw AbliterationError.degenerate("orthogonalizer: direction component \(i) is \(direction[i])")
        }
        guard scale.isFinite else { throw AbliterationError.invalidInput("orthogonalizer: scale \(scale) is not finite") }
        let n = VectorMath.norm(direction)
        guard n > 0 else { throw AbliterationError.degenerate("orthogonalizer: direction has zero norm") }
        self.direction = direction.map { Float($0 / n) }
        self.scale = scale
        self.norms = norms
        self.threadCount = max(1, threadCount ?? ProcessInfo.processInfo.activeProcessorCount)
    }

    /// As `init(direction: [Double], …)`, the components widened to f64 before normalising.
    public init(direction: [Float], scale: Float = 1, norms: NormPreservation = .none, threadCount: Int? = nil) throws {
        try self.init(direction: direction.map(Double.init), scale: scale, norms: norms, threadCount: threadCount)
    }

    /// An orthogonalizer for a measured direction: r̂ = `direction.unit64`, rounded to f32.
    public init(_ direction: RefusalDirection, scale: Float = 1, norms: NormPreservation = .none, threadCount: Int? = nil) throws {
        try self.init(direction: direction.unit64, scale: scale, norms: norms, threadCount: threadCount)
    }

    // MARK: - Tensors

    /// Edits `tensor` in place (see the type's notes for the math and rounding) and returns what undoes it.
    ///
    /// `orientation` says which side of the matrix is the residual stream: a `.writesToResidual` matrix
    /// must have shape (hidden, in), an `.embedding` (vocab, hidden), with hidden = `direction.count`.
    @discardableResult
    public func apply<T: OrthogonalizableScalar>(
        to tensor: inout Tensor<T>, orientation: ResidualOrientation, name: String = "tensor"
    ) throws -> OrthogonalizationRecord {
        let shape = tensor.shape
        return try tensor.scalars.withUnsafeMutableBufferPointer {
            try edit($0.baseAddress, shape: shape, orientation: orientation, name: name)
        }
    }

    /// Edits raw row-major bytes of `dtype` (f32, bf16 or f16) and `shape` in place.
    @discardableResult
    public func apply(
        to bytes: UnsafeMutableRawBufferPointer, dtype: DType, shape: [Int], orientation: ResidualOrientation,
        name: String = "tensor"
    ) throws -> OrthogonalizationRecord {
        try Orthogonalizer.checkBytes(bytes.count, dtype: dtype, shape: shape, name: name)
        switch dtype {
        case .f32: return try edit(bytes.baseAddress?.assumingMemoryBound(to: Float.self), shape: shape, orientation: orientation, name: name)
        case .bf16: return try edit(bytes.baseAddress?.assumingMemoryBound(to: BFloat16.self), shape: shape, orientation: orientation, name: name)
        case .f16: return try edit(bytes.baseAddress?.assumingMemoryBound(to: Float16.self), shape: shape, orientation: orientation, name: name)
        default: throw AbliterationError.unsupported("\(name): cannot orthogonalize a \(dtype.rawValue) tensor (need F32, BF16 or F16)")
        }
    }

    /// Runs the kernels on `base` seen as its concrete type, so that they are specialized when the caller
    /// is generic (an unspecialized `apply<T>` from another module).
    private func edit<T: OrthogonalizableScalar>(
        _ base: UnsafeMutablePointer<T>?, shape: [Int], orientation: ResidualOrientation, name: String
    ) throws -> OrthogonalizationRecord {
        let raw = base.map(UnsafeMutableRawPointer.init)
        if T.self == BFloat16.self { return try editKernels(raw?.assumingMemoryBound(to: BFloat16.self), shape, orientation, name) }
        if T.self == Float.self { return try editKernels(raw?.assumingMemoryBound(to: Float.self), shape, orientation, name) }
        if T.self == Float16.self { return try editKernels(raw?.assumingMemoryBound(to: Float16.self), shape, orientation, name) }
        return try editKernels(base, shape, orientation, name)
    }

    private func editKernels<T: OrthogonalizableScalar>(
        _ base: UnsafeMutablePointer<T>?, _ shape: [Int], _ orientation: ResidualOrientation, _ name: String
    ) throws -> OrthogonalizationRecord {
        let (rows, cols, vectors) = try Orthogonalizer.geometry(shape, orientation, hidden: direction.count, name: name)
        if norms == .rows { return try editRowNormalized(base, rows, cols, orientation, name) }
        var projections = [Float](repeating: 0, count: vectors)
        var scales = [Float](repeating: 1, count: vectors)
        if let base, rows > 0, cols > 0 {
            direction.withUnsafeBufferPointer { r in
                projections.withUnsafeMutableBufferPointer { p in
                    scales.withUnsafeMutableBufferPointer { k in
                        switch orientation {
                        case .writesToResidual:
                            OrthogonalizationKernels.editColumns(
                                base, rows: rows, cols: cols, direction: r.baseAddress!, scale: scale,
                                normPreserving: normPreserving, projections: p.baseAddress!, scales: k.baseAddress!,
                                threads: threadCount)
                        case .embedding, .readsFromResidual:
                            OrthogonalizationKernels.editRows(
                                base, rows: rows, cols: cols, direction: r.baseAddress!, scale: scale,
                                normPreserving: normPreserving, projections: p.baseAddress!, scales: k.baseAddress!,
                                threads: threadCount)
                        }
                    }
                }
            }
        }
        return OrthogonalizationRecord(
            orientation: orientation, shape: shape, scale: scale, direction: direction, projections: projections,
            vectorScales: normPreserving ? scales : nil)
    }

    /// The `.rows` edit of a (hidden, in) writer (`NormPreservation`).
    private func editRowNormalized<T: OrthogonalizableScalar>(
        _ base: UnsafeMutablePointer<T>?, _ rows: Int, _ cols: Int, _ orientation: ResidualOrientation, _ name: String
    ) throws -> OrthogonalizationRecord {
        guard orientation == .writesToResidual else {
            throw AbliterationError.unsupported(
                "\(name): row normalization applies to a weight that writes the residual (hidden, in), not to \(orientation == .embedding ? "an embedding" : "a weight that reads it")")
        }
        var u = [Float](repeating: 0, count: cols)
        var scales = [Float](repeating: 1, count: rows)
        var rowNorms = [Float](repeating: 0, count: rows)
        if let base, rows > 0, cols > 0 {
            direction.withUnsafeBufferPointer { r in
                u.withUnsafeMutableBufferPointer { u in
                    scales.withUnsafeMutableBufferPointer { k in
                        rowNorms.withUnsafeMutableBufferPointer { n in
                            OrthogonalizationKernels.editRowNormalized(
                                base, rows: rows, cols: cols, direction: r.baseAddress!, scale: scale,
                                u: u.baseAddress!, rowNorms: n.baseAddress!, scales: k.baseAddress!, threads: threadCount)
                        }
                    }
                }
            }
        }
        return OrthogonalizationRecord(
            orientation: orientation, shape: [rows, cols], scale: scale, direction: direction, projections: u,
            vectorScales: scales, rowNorms: rowNorms)
    }

    // MARK: - Undo

    /// Restores a tensor edited with `record` (to within one rounding of its dtype):
    /// w = w′/k + s·p̃·r̂ per residual vector (k = 1 without norm preservation). Elements the edit left
    /// unchanged are left unchanged. The shape must be the recorded one.
    public static func undo<T: OrthogonalizableScalar>(
        _ record: OrthogonalizationRecord, on tensor: inout Tensor<T>, name: String = "tensor", threadCount: Int? = nil
    ) throws {
        let shape = tensor.shape
        try tensor.scalars.withUnsafeMutableBufferPointer { try revert(record, $0.baseAddress, shape: shape, name: name, threads: threadCount) }
    }

    /// Restores raw row-major bytes of `dtype` (f32, bf16 or f16) and `shape` edited with `record`.
    public static func undo(
        _ record: OrthogonalizationRecord, bytes: UnsafeMutableRawBufferPointer, dtype: DType, shape: [Int],
        name: String = "tensor", threadCount: Int? = nil
    ) throws {
        try checkBytes(bytes.count, dtype: dtype, shape: shape, name: name)
        switch dtype {
        case .f32: try revert(record, bytes.baseAddress?.assumingMemoryBound(to: Float.self), shape: shape, name: name, threads: threadCount)
        case .bf16: try revert(record, bytes.baseAddress?.assumingMemoryBound(to: BFloat16.self), shape: shape, name: name, threads: threadCount)
        case .f16: try revert(record, bytes.baseAddress?.assumingMemoryBound(to: Float16.self), shape: shape, name: name, threads: threadCount)
        default: throw AbliterationError.unsupported("\(name): cannot undo on a \(dtype.rawValue) tensor (need F32, BF16 or F16)")
        }
    }

    /// As `edit`: the kernels run on the concrete type.
    private static func revert<T: OrthogonalizableScalar>(
        _ record: OrthogonalizationRecord, _ base: UnsafeMutablePointer<T>?, shape: [Int], name: String, threads: Int?
    ) throws {
        let raw = base.map(UnsafeMutableRawPointer.init)
        if T.self == BFloat16.self { return try revertKernels(record, raw?.assumingMemoryBound(to: BFloat16.self), shape, name, threads) }
        if T.self == Float.self { return try revertKernels(record, raw?.assumingMemoryBound(to: Float.self), shape, name, threads) }
        if T.self == Float16.self { return try revertKernels(record, raw?.assumingMemoryBound(to: Float16.self), shape, name, threads) }
        try revertKernels(record, base, shape, name, threads)
    }

    private static func revertKernels<T: OrthogonalizableScalar>(
        _ record: OrthogonalizationRecord, _ base: UnsafeMutablePointer<T>?, _ shape: [Int], _ name: String, _ threads: Int?
    ) throws {
        guard shape == record.shape else {
            throw AbliterationError.mismatch("\(name): shape \(shape) differs from the recorded edit's \(record.shape)")
        }
        let (rows, cols, vectors) = try geometry(shape, record.orientation, hidden: record.direction.count, name: name)
        let threads = max(1, threads ?? ProcessInfo.processInfo.activeProcessorCount)
        if let n = record.rowNorms {
            guard record.orientation == .writesToResidual, n.count == rows, record.projections.count == cols,
                  let k = record.vectorScales, k.count == rows else {
                throw AbliterationError.mismatch("\(name): row-normalized record does not fit shape \(shape)")
            }
            guard let base, rows > 0, cols > 0 else { return }
            OrthogonalizationKernels.undoRowNormalized(
                base, rows: rows, cols: cols, direction: record.direction, scale: record.scale,
                u: record.projections, rowNorms: n, scales: k, threads: threads)
            return
        }
        guard record.projections.count == vectors, record.vectorScales.map({ $0.count == vectors }) ?? true else {
            throw AbliterationError.mismatch("\(name): record holds \(record.projections.count) projections for \(vectors) vectors")
        }
        guard let base, rows > 0, cols > 0 else { return }
        record.direction.withUnsafeBufferPointer { r in
            record.projections.withUnsafeBufferPointer { p in
                let run = { (k: UnsafePointer<Float>?) in
                    switch record.orientation {
                    case .writesToResidual:
                        OrthogonalizationKernels.undoColumns(
                            base, rows: rows, cols: cols, direction: r.baseAddress!, scale: record.scale,
                            projections: p.baseAddress!, scales: k, threads: threads)
                    case .embedding, .readsFromResidual:
                        OrthogonalizationKernels.undoRows(
                            base, rows: rows, cols: cols, direction: r.baseAddress!, scale: record.scale,
                            projections: p.baseAddress!, scales: k, threads: threads)
                    }
                }
                if let ks = record.vectorScales { ks.withUnsafeBufferPointer { run($0.baseAddress!) } } else { run(nil) }
            }
        }
    }

    // MARK: - Norms (for the --dry-run listing)

    /// Frobenius norm √(Σ w²), accumulated in f64.
    package static func frobeniusNorm<T: OrthogonalizableScalar>(_ tensor: Tensor<T>) -> Double {
        tensor.scalars.withUnsafeBufferPointer { b in
            guard let base = b.baseAddress else { return 0 }
            let raw = UnsafeRawPointer(base)
            if T.self == BFloat16.self { return OrthogonalizationKernels.frobeniusNorm(raw.assumingMemoryBound(to: BFloat16.self), count: b.count) }
            if T.self == Float.self { return OrthogonalizationKernels.frobeniusNorm(raw.assumingMemoryBound(to: Float.self), count: b.count) }
            if T.self == Float16.self { return OrthogonalizationKernels.frobeniusNorm(raw.assumingMemoryBound(to: Float16.self), count: b.count) }
            return OrthogonalizationKernels.frobeniusNorm(base, count: b.count)
        }
    }

    /// Frobenius norm of raw f32/bf16/f16 bytes.
    package static func frobeniusNorm(bytes: UnsafeRawBufferPointer, dtype: DType, name: String = "tensor") throws -> Double {
        guard let base = bytes.baseAddress else { return 0 }
        switch dtype {
        case .f32: return OrthogonalizationKernels.frobeniusNorm(base.assumingMemoryBound(to: Float.self), count: bytes.count / 4)
        case .bf16: return OrthogonalizationKernels.frobeniusNorm(base.assumingMemoryBound(to: BFloat16.self), count: bytes.count / 2)
        case .f16: return OrthogonalizationKernels.frobeniusNorm(base.assumingMemoryBound(to: Float16.self), count: bytes.count / 2)
        default: throw AbliterationError.unsupported("\(name): no norm for a \(dtype.rawValue) tensor")
        }
    }

    /// The Frobenius norm an edit of this orthogonalizer would leave, from the original's norm and the
    /// record's projections: ‖W′‖² = ‖W‖² − Σ (2s − s²‖r̂‖²)·p̃² without norm preservation (exact in real
    /// arithmetic), and ‖W‖ with either kind of it.
    package static func predictedNorm(before: Double, record: OrthogonalizationRecord) -> Double {
        if record.norms != .none { return before }
        let s = Double(record.scale)
        let rr = record.direction.reduce(0.0) { $0 + Double($1) * Double($1) }
        let removed = record.projections.reduce(0.0) { $0 + Double($1) * Double($1) } * (2 * s - s * s * rr)
        return max(0, before * before - removed).squareRoot()
    }

    // MARK: - Checks

    /// (rows, cols, residual vectors) of a rank-2 shape for the orientation; the hidden side must match.
    static func geometry(_ shape: [Int], _ orientation: ResidualOrientation, hidden: Int, name: String) throws -> (Int, Int, Int) {
        guard shape.count == 2, shape.allSatisfy({ $0 >= 0 }) else {
            throw AbliterationError.dimensionMismatch("\(name): shape \(shape) is not a matrix")
        }
        let (rows, cols) = (shape[0], shape[1])
        switch orientation {
        case .writesToResidual:
            guard rows == hidden else {
                throw AbliterationError.dimensionMismatch(
                    "\(name): shape \(shape) does not write to a residual of size \(hidden) (expected [\(hidden), in])")
            }
            return (rows, cols, cols)
        case .embedding:
            guard cols == hidden else {
                throw AbliterationError.dimensionMismatch(
                    "\(name): embedding shape \(shape) does not have hidden size \(hidden) (expected [vocab, \(hidden)])")
            }
            return (rows, cols, rows)
        case .readsFromResidual:
            guard cols == hidden else {
                throw AbliterationError.dimensionMismatch(
                    "\(name): shape \(shape) does not read a residual of size \(hidden) (expected [out, \(hidden)])")
            }
            return (rows, cols, rows)
        }
    }

    static func checkBytes(_ count: Int, dtype: DType, shape: [Int], name: String) throws {
        guard let n = Tensor<Float>.elementCount(shape), shape.allSatisfy({ $0 >= 0 }) else {
            throw AbliterationError.dimensionMismatch("\(name): shape \(shape) overflows")
        }
        let (need, o) = n.multipliedReportingOverflow(by: dtype.byteSize)
        guard !o, need == count else {
            throw AbliterationError.dimensionMismatch("\(name): \(count) bytes for \(dtype.rawValue) shape \(shape) (need \(need))")
        }
    }
}
