/// Small Float64 vector helpers for the direction math (hidden-size vectors; no BLAS needed).
enum VectorMath {
    /// Σ aᵢbᵢ.
    @inlinable static func dot(_ a: [Double], _ b: [Double]) -> Double {
        var s = 0.0
        for i in a.indices { s += a[i] * b[i] }
        return s
    }

    /// ‖a‖₂, scaled so that large or tiny components neither overflow nor underflow.
    static func norm(_ a: [Double]) -> Double {
        let m = a.reduce(0.0) { max($0, abs($1)) }
        if m == 0 || !m.isFinite { return m }
        var s = 0.0
        for x in a { let y = x / m; s += y * y }
        return m * s.squareRoot()
    }

    /// a − c·b.
    @inlinable static func subtract(_ a: [Double], _ c: Double, _ b: [Double]) -> [Double] {
        var out = a
        for i in out.indices { out[i] -= c * b[i] }
        return out
    }

    /// aᵀb / (‖a‖‖b‖), or 0 when either is zero.
    static func cosine(_ a: [Double], _ b: [Double]) -> Double {
        let na = norm(a), nb = norm(b)
        return na == 0 || nb == 0 ? 0 : dot(a, b) / (na * nb)
    }

    /// v with its components along the orthonormal vectors `basis` removed, by two passes of
    /// modified Gram–Schmidt (the second pass removes the rounding residue of the first).
    static func removingComponents(of v: [Double], along basis: [[Double]]) -> [Double] {
        var out = v
        for _ in 0..<2 {
            for e in basis { out = subtract(out, dot(out, e), e) }
        }
        return out
    }
}
