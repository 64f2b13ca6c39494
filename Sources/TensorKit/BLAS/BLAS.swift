import CBLAS

/// Thin, typed wrappers over OpenBLAS's CBLAS. This is the only file that imports CBLAS.
///
/// All matrices are row-major. `sgemm` computes C ← α·op(A)·op(B) + β·C with op(X) = X or Xᵀ,
/// op(A) of shape (m, k), op(B) of shape (k, n), C of shape (m, n).
public enum BLAS {
    /// The number of threads OpenBLAS uses for level-3 calls.
    public static var threadCount: Int {
        get { ready; return Int(openblas_get_num_threads()) }
        set { ready; openblas_set_num_threads(Int32(max(1, newValue))) }
    }

    /// The name of the kernels OpenBLAS runs ("SkylakeX", "Haswell", "Prescott", …).
    public static var coreName: String { ready; return String(cString: openblas_get_corename()) }

    /// The core type this process switched OpenBLAS to, nil when it kept OpenBLAS's own choice
    /// (`abl_openblas_choose_kernels` in `Sources/CBLAS/shim.h`: a DYNAMIC_ARCH OpenBLAS that does not
    /// know this CPU's model falls back to its SSE3 kernels; then the CPU's features decide instead).
    public static let switchedCore: String? = abl_openblas_choose_kernels().map { String(cString: $0) }

    /// Touched by every entry point before its first BLAS call, so the kernel choice above runs first,
    /// once, whichever thread comes first (a static let's initialization is atomic).
    @usableFromInline static var ready: Void { _ = switchedCore }

    /// C (m, n) ← α·op(A)·op(B) + β·C, row-major, with leading dimensions lda, ldb, ldc.
    @inlinable
    public static func sgemm(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        ready
        cblas_sgemm(
            CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// y (rows of op(A)) ← α·op(A)·x + β·y for a row-major A of shape (rows, cols).
    @inlinable
    public static func sgemv(
        transpose: Bool, rows: Int, cols: Int, alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int, x: UnsafePointer<Float>,
        beta: Float = 0, y: UnsafeMutablePointer<Float>
    ) {
        ready
        cblas_sgemv(
            CblasRowMajor, transpose ? CblasTrans : CblasNoTrans, Int32(rows), Int32(cols),
            alpha, a, Int32(lda), x, 1, beta, y, 1)
    }

    /// y (rows of op(A)) ← α·op(A)·x + β·y in double precision.
    @inlinable
    public static func dgemv(
        transpose: Bool, rows: Int, cols: Int, alpha: Double = 1,
        a: UnsafePointer<Double>, lda: Int, x: UnsafePointer<Double>,
        beta: Double = 0, y: UnsafeMutablePointer<Double>
    ) {
        ready
        cblas_dgemv(
            CblasRowMajor, transpose ? CblasTrans : CblasNoTrans, Int32(rows), Int32(cols),
            alpha, a, Int32(lda), x, 1, beta, y, 1)
    }

    /// A (rows, cols) ← α·x·yᵀ + A, the rank-1 update.
    @inlinable
    public static func sger(
        rows: Int, cols: Int, alpha: Float, x: UnsafePointer<Float>, y: UnsafePointer<Float>,
        a: UnsafeMutablePointer<Float>, lda: Int
    ) {
        ready
        cblas_sger(CblasRowMajor, Int32(rows), Int32(cols), alpha, x, 1, y, 1, a, Int32(lda))
    }

    /// Σ x[i]·y[i] in single precision.
    @inlinable
    public static func sdot(count: Int, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>) -> Float {
        ready
        return cblas_sdot(Int32(count), x, 1, y, 1)
    }
}
