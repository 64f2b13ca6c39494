/// Linear algebra and elementwise basics on f32 tensors.
extension Tensor where Scalar == Float {
    /// op(A)·op(B) for rank-2 tensors, through `cblas_sgemm`.
    ///
    /// With `transposeA`, A is stored (k, m) and used as its transpose; with `transposeB`,
    /// B is stored (n, k). The result has shape (m, n).
    public static func matmul(
        _ a: Tensor<Float>, _ b: Tensor<Float>, transposeA: Bool = false, transposeB: Bool = false
    ) throws -> Tensor<Float> {
        guard a.rank == 2, b.rank == 2 else {
            throw TensorKitError.shapeMismatch(operation: "matmul", reason: "ranks \(a.rank), \(b.rank); need 2, 2")
        }
        let (m, ka) = transposeA ? (a.shape[1], a.shape[0]) : (a.shape[0], a.shape[1])
        let (kb, n) = transposeB ? (b.shape[1], b.shape[0]) : (b.shape[0], b.shape[1])
        guard ka == kb else {
            throw TensorKitError.shapeMismatch(
                operation: "matmul", reason: "op(A) \([m, ka]) · op(B) \([kb, n]): inner sizes differ")
        }
        var c = Tensor<Float>(zeros: [m, n])
        if m == 0 || n == 0 || ka == 0 { return c }
        a.scalars.withUnsafeBufferPointer { pa in
            b.scalars.withUnsafeBufferPointer { pb in
                c.scalars.withUnsafeMutableBufferPointer { pc in
                    BLAS.sgemm(
                        transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: ka,
                        a: pa.baseAddress!, lda: a.shape[1], b: pb.baseAddress!, ldb: b.shape[1],
                        c: pc.baseAddress!, ldc: n)
                }
            }
        }
        return c
    }

    /// A·x for a rank-2 A (rows, cols) and a vector x (cols), or Aᵀ·x with `transpose`.
    public static func matvec(_ a: Tensor<Float>, _ x: [Float], transpose: Bool = false) throws -> [Float] {
        guard a.rank == 2 else {
            throw TensorKitError.shapeMismatch(operation: "matvec", reason: "rank \(a.rank); need 2")
        }
        let (rows, cols) = (a.shape[0], a.shape[1])
        guard x.count == (transpose ? rows : cols) else {
            throw TensorKitError.shapeMismatch(
                operation: "matvec", reason: "A \([rows, cols])\(transpose ? "ᵀ" : "") · x (\(x.count))")
        }
        var y = [Float](repeating: 0, count: transpose ? cols : rows)
        if rows == 0 || cols == 0 { return y }
        a.scalars.withUnsafeBufferPointer { pa in
            x.withUnsafeBufferPointer { px in
                y.withUnsafeMutableBufferPointer { py in
                    BLAS.sgemv(
                        transpose: transpose, rows: rows, cols: cols, a: pa.baseAddress!, lda: cols,
                        x: px.baseAddress!, y: py.baseAddress!)
                }
            }
        }
        return y
    }

    /// The transpose of a rank-2 tensor.
    public func transposed() -> Tensor<Float> {
        precondition(rank == 2, "transposed() needs rank 2, got \(shape)")
        let (r, c) = (shape[0], shape[1])
        var out = [Float](repeating: 0, count: count)
        for i in 0..<r { for j in 0..<c { out[j * r + i] = scalars[i * c + j] } }
        return try! Tensor(shape: [c, r], scalars: out)
    }

    /// Elementwise sum; shapes must match.
    public static func + (lhs: Tensor<Float>, rhs: Tensor<Float>) -> Tensor<Float> {
        precondition(lhs.shape == rhs.shape, "shapes \(lhs.shape) and \(rhs.shape) differ")
        var out = lhs
        for i in 0..<out.count { out.scalars[i] += rhs.scalars[i] }
        return out
    }

    /// Elementwise difference; shapes must match.
    public static func - (lhs: Tensor<Float>, rhs: Tensor<Float>) -> Tensor<Float> {
        precondition(lhs.shape == rhs.shape, "shapes \(lhs.shape) and \(rhs.shape) differ")
        var out = lhs
        for i in 0..<out.count { out.scalars[i] -= rhs.scalars[i] }
        return out
    }

    /// Every element multiplied by `s`.
    public static func * (s: Float, t: Tensor<Float>) -> Tensor<Float> {
        var out = t
        for i in 0..<out.count { out.scalars[i] *= s }
        return out
    }

    /// Σ of all elements, accumulated in Double.
    public func sum() -> Double { scalars.reduce(0.0) { $0 + Double($1) } }

    /// Frobenius norm √(Σ x²), accumulated in Double.
    public func norm() -> Double { scalars.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot() }

    /// Largest |x|.
    public func maxAbs() -> Float { scalars.reduce(0) { max($0, abs($1)) } }

    /// The elements narrowed to bf16 (round to nearest even).
    public func toBF16() -> Tensor<BFloat16> {
        try! Tensor<BFloat16>(shape: shape, scalars: Precision.bf16(from: scalars))
    }

    /// The elements narrowed to f16 (round to nearest even).
    public func toF16() -> Tensor<Float16> {
        try! Tensor<Float16>(shape: shape, scalars: scalars.map { Float16($0) })
    }
}

extension Tensor where Scalar == BFloat16 {
    /// The elements widened to f32 (exact).
    public func toF32() -> Tensor<Float> {
        try! Tensor<Float>(shape: shape, scalars: Precision.float32(fromBF16: scalars))
    }
}

extension Tensor where Scalar == Float16 {
    /// The elements widened to f32 (exact).
    public func toF32() -> Tensor<Float> {
        try! Tensor<Float>(shape: shape, scalars: scalars.map { Float($0) })
    }
}
