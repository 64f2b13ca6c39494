/// Symmetric magnitude clipping ("winsorization") of one vector at a quantile of its magnitudes.
///
/// For x ∈ ℝⁿ and q ∈ [0, 1], let a = sort(|x₁|, …, |xₙ|) (0-based) and h = (n − 1)·q. The threshold is
/// the q-quantile of |x| with linear interpolation between order statistics,
///     t = a[⌊h⌋] + (h − ⌊h⌋)·(a[⌊h⌋ + 1] − a[⌊h⌋]),
/// which is `numpy.quantile(|x|, q, method="linear")` and `torch.quantile(|x|, q)`. Each component is
/// then clamped to [−t, t]. With q = 1 the vector is returned unchanged (infinities included).
///
/// It works on one vector at a time, so a measurement does not depend on how prompts are batched.
/// |x| is held in f32, the interpolation is done in f64, and the two order statistics are found by
/// selection (expected O(n), with a heap-sort fallback that bounds the worst case by O(n log n)).
public struct Winsorizer: Sendable, Equatable {
    /// The quantile q ∈ [0, 1].
    public let quantile: Double

    /// A winsorizer at quantile q; throws unless q is finite and in [0, 1].
    public init(quantile: Double) throws {
        guard quantile.isFinite, quantile >= 0, quantile <= 1 else {
            throw AbliterationError.invalidInput("winsorization quantile \(quantile) is not in [0, 1]")
        }
        self.quantile = quantile
    }

    /// The clipping threshold t of `vector` (the q-quantile of its magnitudes). Throws on NaN.
    public func threshold<C: Collection>(of vector: C) throws -> Float where C.Element == Float {
        var magnitudes = vector.map { abs($0) }  // (n)
        if magnitudes.isEmpty { return 0 }
        guard !magnitudes.contains(where: { $0.isNaN }) else {
            throw AbliterationError.degenerate("winsorizer: vector of \(magnitudes.count) values contains NaN")
        }
        let h = Double(magnitudes.count - 1) * quantile
        let lo = Int(h.rounded(.down))
        let frac = h - Double(lo)
        return magnitudes.withUnsafeMutableBufferPointer { a -> Float in
            let below = Selection.select(a, rank: lo)
            if lo + 1 >= a.count || frac == 0 { return below }
            // After selecting rank lo, a[lo+1...] holds the values ≥ a[lo]; their minimum is rank lo+1.
            var above = a[lo + 1]
            for i in (lo + 2)..<a.count where a[i] < above { above = a[i] }
            let aLo = Double(below), aHi = Double(above)
            return Float(aLo + frac * (aHi - aLo))
        }
    }

    /// Clamps every component of `vector` to [−t, t], t = `threshold(of: vector)`. Returns t.
    @discardableResult
    public func clip(_ vector: inout [Float]) throws -> Float {
        if quantile == 1 {
            guard !vector.contains(where: { $0.isNaN }) else {
                throw AbliterationError.degenerate("winsorizer: vector of \(vector.count) values contains NaN")
            }
            return vector.reduce(0) { max($0, abs($1)) }
        }
        let t = try threshold(of: vector)
        for i in vector.indices { vector[i] = min(max(vector[i], -t), t) }
        return t
    }

    /// `vector` with every component clamped to [−t, t].
    public func clipped(_ vector: [Float]) throws -> [Float] {
        var out = vector
        try clip(&out)
        return out
    }

    /// Clips each row of a (batch, dim) f32 tensor on its own, exactly as `clip` would one by one.
    public func clipRows(_ rows: inout [Float], rowLength: Int) throws {
        guard rowLength > 0 else { return }
        guard rows.count % rowLength == 0 else {
            throw AbliterationError.dimensionMismatch("winsorizer: \(rows.count) values are not rows of \(rowLength)")
        }
        var row = [Float](repeating: 0, count: rowLength)
        for r in 0..<(rows.count / rowLength) {
            let base = r * rowLength
            for i in 0..<rowLength { row[i] = rows[base + i] }
            try clip(&row)
            for i in 0..<rowLength { rows[base + i] = row[i] }
        }
    }
}

/// In-place order-statistic selection (introselect): Hoare partitioning around a median-of-three
/// pivot, falling back to a heap sort of the remaining range after 2·log₂(n) rounds.
enum Selection {
    /// Rearranges `a` so that a[rank] is the value of that rank in sorted order, everything before it
    /// is ≤ a[rank] and everything after it is ≥ a[rank]; returns a[rank]. No NaN in `a`.
    static func select(_ a: UnsafeMutableBufferPointer<Float>, rank: Int) -> Float {
        precondition(rank >= 0 && rank < a.count, "select: rank \(rank) of \(a.count)")
        var lo = 0, hi = a.count - 1
        var budget = 2 * (Int.bitWidth - a.count.leadingZeroBitCount) + 4
        while hi > lo {
            if budget == 0 {
                heapSort(a, lo, hi)
                return a[rank]
            }
            budget -= 1
            // Median of three to a[lo], so the pivot is a value of the range.
            let mid = lo + (hi - lo) / 2
            if a[mid] < a[lo] { a.swapAt(mid, lo) }
            if a[hi] < a[lo] { a.swapAt(hi, lo) }
            if a[hi] < a[mid] { a.swapAt(hi, mid) }
            let pivot = a[mid]
            // Hoare partition: [lo, j] ≤ pivot ≤ [j+1, hi].
            var i = lo - 1, j = hi + 1
            while true {
                repeat { i += 1 } while a[i] < pivot
                repeat { j -= 1 } while a[j] > pivot
                if i >= j { break }
                a.swapAt(i, j)
            }
            if rank <= j { hi = j } else { lo = j + 1 }
        }
        return a[rank]
    }

    /// Sorts a[lo...hi] ascending in place.
    static func heapSort(_ a: UnsafeMutableBufferPointer<Float>, _ lo: Int, _ hi: Int) {
        let n = hi - lo + 1
        func siftDown(_ start: Int, _ end: Int) {
            var root = start
            while 2 * root + 1 < end {
                var child = 2 * root + 1
                if child + 1 < end && a[lo + child] < a[lo + child + 1] { child += 1 }
                if a[lo + root] < a[lo + child] {
                    a.swapAt(lo + root, lo + child)
                    root = child
                } else { return }
            }
        }
        var start = n / 2 - 1
        while start >= 0 { siftDown(start, n); start -= 1 }
        var end = n - 1
        while end > 0 {
            a.swapAt(lo, lo + end)
            siftDown(0, end)
            end -= 1
        }
    }
}
