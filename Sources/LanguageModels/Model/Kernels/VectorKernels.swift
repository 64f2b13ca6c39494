/// Small f32 vector kernels on raw pointers, written so the compiler emits SIMD code.
///
/// Reductions use eight independent SIMD8 accumulators (so they vectorize without reassociation
/// flags); elementwise loops are plain and vectorize as they are.
enum VectorKernels {
    /// Σ a[i]·b[i] over `count` elements.
    @inline(__always)
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
        var acc0 = SIMD8<Float>(), acc1 = SIMD8<Float>()
        var i = 0
        let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
        while i + 16 <= count {
            acc0 += ra.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
                * rb.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
            acc1 += ra.loadUnaligned(fromByteOffset: (i + 8) * 4, as: SIMD8<Float>.self)
                * rb.loadUnaligned(fromByteOffset: (i + 8) * 4, as: SIMD8<Float>.self)
            i += 16
        }
        var sum = (acc0 + acc1).sum()
        while i < count { sum += a[i] * b[i]; i += 1 }
        return sum
    }

    /// y[i] += alpha · x[i].
    @inline(__always)
    static func axpy(_ alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { y[i] += alpha * x[i] }
    }

    /// y[i] += x[i].
    @inline(__always)
    static func add(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { y[i] += x[i] }
    }

    /// x[i] *= s.
    @inline(__always)
    static func scale(_ x: UnsafeMutablePointer<Float>, by s: Float, count: Int) {
        for i in 0..<count { x[i] *= s }
    }

    /// Index of the largest element (the first one on ties, as `torch.argmax`).
    static func argmax(_ x: UnsafePointer<Float>, count: Int) -> Int {
        var best = 0
        var bestValue = -Float.infinity
        for i in 0..<count where x[i] > bestValue {
            best = i
            bestValue = x[i]
        }
        return best
    }

    /// Whether every element is finite.
    static func allFinite(_ x: UnsafePointer<Float>, count: Int) -> Bool {
        for i in 0..<count where !x[i].isFinite { return false }
        return true
    }

    /// y_r ← y_r − s·u(uᵀy_r) for each of `rows` rows of `y` (rows, count), u unit; uᵀy in f64.
    static func removeComponent(_ u: UnsafePointer<Float>, scale s: Float, from y: UnsafeMutablePointer<Float>, rows: Int, count: Int) {
        for r in 0..<rows {
            let row = y + r * count
            var d = 0.0
            for i in 0..<count { d += Double(u[i]) * Double(row[i]) }
            let alpha = -s * Float(d)
            axpy(alpha, u, row, count: count)
        }
    }

    /// Each row y ← g ⊙ y − s·v(aᵀy), aᵀy accumulated in f64 (the row-normalized edit as an edit of the
    /// output, `ResidualWriteEdit.RowScaling`).
    static func scaleAndRemoveComponent(
        gains g: UnsafePointer<Float>, reading a: UnsafePointer<Float>, writing v: UnsafePointer<Float>, scale s: Float,
        from y: UnsafeMutablePointer<Float>, rows: Int, count: Int
    ) {
        for r in 0..<rows {
            let row = y + r * count
            var d = 0.0
            for i in 0..<count { d += Double(a[i]) * Double(row[i]) }
            let t = s * Float(d)
            for i in 0..<count { row[i] = g[i] * row[i] - t * v[i] }
        }
    }
}
