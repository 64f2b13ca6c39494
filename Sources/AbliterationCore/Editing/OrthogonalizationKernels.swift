import Dispatch
import TensorKit

/// An element type the orthogonalizer can edit in place: `Float`, `BFloat16` and `Float16`.
///
/// The edit never does arithmetic in the storage type. Each element is widened to f32 (`widen`, exact
/// for all three: bf16 and f16 values are all representable in f32), the products r̂ᵢ·wᵢⱼ are
/// accumulated in f64, the update is computed in f32, and the result is narrowed back (`narrow`,
/// round to nearest, ties to even; identity for f32). An element the edit does not change is not
/// narrowed and keeps its bits.
///
/// `Orthogonalizer` runs specialized kernels for the three types above. A conformance of another type
/// is accepted and runs through the same generic kernels, through its witnesses (slower).
public protocol OrthogonalizableScalar: TensorScalar {
    /// The value as f32, exactly.
    static func widen(_ x: Self) -> Float
    /// The nearest value of this type to `x` (round to nearest, ties to even).
    static func narrow(_ x: Float) -> Self
}

extension Float: OrthogonalizableScalar {
    @inline(__always) public static func widen(_ x: Float) -> Float { x }
    @inline(__always) public static func narrow(_ x: Float) -> Float { x }
}

extension BFloat16: OrthogonalizableScalar {
    @inline(__always) public static func widen(_ x: BFloat16) -> Float { Float(bitPattern: UInt32(x.bitPattern) << 16) }
    @inline(__always) public static func narrow(_ x: Float) -> BFloat16 { BFloat16(bitPattern: Precision.bf16Bits(x)) }
}

extension Float16: OrthogonalizableScalar {
    @inline(__always) public static func widen(_ x: Float16) -> Float { Float(x) }
    @inline(__always) public static func narrow(_ x: Float) -> Float16 { Float16(x) }
}

/// The rank-1 edit kernels. A "residual vector" w is a column of a (hidden, in) matrix or a row of a
/// (vocab, hidden) matrix. For each one, with r̂ the unit direction and s the scale:
///     p = r̂·w (f64 accumulation of exact f32 products),   u = w − s·p·r̂,
///     w′ = k·u,  k = ‖w‖/‖u‖ when preserving norms, else 1.
/// ‖u‖² is known without a second reduction: ‖u‖² = ‖w‖² − 2s·p̃·p + s²·p̃²·‖r̂‖², p̃ = Float(p).
/// Undo is w = w′/k + s·p̃·r̂. The f32 values p̃ and k are what the record keeps.
enum OrthogonalizationKernels {
    /// Edits the columns of a row-major (rows = hidden, cols) matrix in place. Writes p̃ into
    /// `projections` (cols) and, when `normPreserving`, k into `scales` (cols).
    static func editColumns<T: OrthogonalizableScalar>(
        _ w: UnsafeMutablePointer<T>, rows: Int, cols: Int, direction r: UnsafePointer<Float>, scale s: Float,
        normPreserving: Bool, projections: UnsafeMutablePointer<Float>, scales: UnsafeMutablePointer<Float>,
        threads: Int
    ) {
        let rr = directionNormSquared(r, rows)
        let tile = tileWidth(cols: cols, threads: threads)
        let tiles = (cols + tile - 1) / tile
        let workers = max(1, min(threads, tiles))
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            let acc = UnsafeMutablePointer<Double>.allocate(capacity: tile)  // (tile) Σ r_i w_ij
            let sq = UnsafeMutablePointer<Double>.allocate(capacity: tile)  // (tile) Σ w_ij²
            let k = UnsafeMutablePointer<Float>.allocate(capacity: tile)  // (tile)
            defer { acc.deallocate(); sq.deallocate(); k.deallocate() }
            var t = worker
            while t < tiles {
                let j0 = t * tile, n = min(tile, cols - j0)
                // Pass 1: p_j = Σ_i r_i w_ij (and ‖w_j‖²) over the tile's columns.
                acc.initialize(repeating: 0, count: n)
                sq.initialize(repeating: 0, count: n)
                var i = 0
                while i < rows {
                    if !normPreserving && i + 4 <= rows && r[i] != 0 && r[i + 1] != 0 && r[i + 2] != 0 && r[i + 3] != 0 {
                        // Four rows at once: acc_j += (r_i w_ij + r_i+1 w_i+1,j) + (…), one accumulator update.
                        let w0 = w + i * cols + j0, w1 = w0 + cols, w2 = w1 + cols, w3 = w2 + cols
                        let r0 = Double(r[i]), r1 = Double(r[i + 1]), r2 = Double(r[i + 2]), r3 = Double(r[i + 3])
                        for j in 0..<n {
                            let a = r0 * Double(T.widen(w0[j])) + r1 * Double(T.widen(w1[j]))
                            let b = r2 * Double(T.widen(w2[j])) + r3 * Double(T.widen(w3[j]))
                            acc[j] += a + b
                        }
                        i += 4
                        continue
                    }
                    let row = w + i * cols + j0
                    let ri = Double(r[i])
                    if normPreserving {
                        for j in 0..<n {
                            let x = Double(T.widen(row[j]))
                            acc[j] += ri * x
                            sq[j] += x * x
                        }
                    } else if ri != 0 {  // rows with r_i = 0 are not read (a NaN there stays out of p)
                        for j in 0..<n { acc[j] += ri * Double(T.widen(row[j])) }
                    }
                    i += 1
                }
                for j in 0..<n {
                    let pf = Float(acc[j])
                    projections[j0 + j] = pf
                    if normPreserving {
                        let kk = normScale(sq[j], acc[j], pf, s, rr)
                        k[j] = kk
                        scales[j0 + j] = kk
                    }
                }
                // Pass 2: w_ij ← k_j (w_ij − (s r_i) p̃_j); rows with s·r_i = 0 are left alone unless rescaled.
                let p = projections + j0
                for i in 0..<rows {
                    let row = w + i * cols + j0
                    let c = s * r[i]
                    if normPreserving {
                        for j in 0..<n { row[j] = T.narrow(k[j] * (T.widen(row[j]) - c * p[j])) }
                    } else if c != 0 {
                        for j in 0..<n { row[j] = T.narrow(T.widen(row[j]) - c * p[j]) }
                    }
                }
                t += workers
            }
        }
    }

    /// Reverses `editColumns`: w_ij ← w′_ij / k_j + (s r_i) p̃_j (k = 1 without `scales`).
    static func undoColumns<T: OrthogonalizableScalar>(
        _ w: UnsafeMutablePointer<T>, rows: Int, cols: Int, direction r: UnsafePointer<Float>, scale s: Float,
        projections p: UnsafePointer<Float>, scales: UnsafePointer<Float>?, threads: Int
    ) {
        forEachRowChunk(rows: rows, threads: threads) { chunk in
            for i in chunk {
                let row = w + i * cols
                let c = s * r[i]
                if let k = scales {
                    for j in 0..<cols { row[j] = T.narrow(T.widen(row[j]) / k[j] + c * p[j]) }
                } else if c != 0 {
                    for j in 0..<cols { row[j] = T.narrow(T.widen(row[j]) + c * p[j]) }
                }
            }
        }
    }

    /// The row-normalized edit (`NormPreservation.rows`) of a row-major (rows = hidden, cols) matrix, in
    /// three passes: nᵢ = ‖Wᵢ‖; ũ = Σᵢ (r̂ᵢ/ñᵢ)Wᵢ; then per row with cᵢ = s·r̂ᵢ ≠ 0 and nᵢ > 0,
    /// ‖Êᵢ‖² = ‖Wᵢ‖²/ñᵢ² − 2cᵢ(Wᵢ·ũ̃)/ñᵢ + cᵢ²‖ũ̃‖² and Wᵢ ← kᵢ(Wᵢ/ñᵢ − cᵢ·ũ̃), kᵢ = ñᵢ/‖Êᵢ‖ (ñ, ũ̃ the
    /// f32 values recorded; kᵢ = ñᵢ if Êᵢ vanishes). Other rows keep their bits, kᵢ = 1.
    static func editRowNormalized<T: OrthogonalizableScalar>(
        _ w: UnsafeMutablePointer<T>, rows: Int, cols: Int, direction r: UnsafePointer<Float>, scale s: Float,
        u: UnsafeMutablePointer<Float>, rowNorms n: UnsafeMutablePointer<Float>, scales k: UnsafeMutablePointer<Float>,
        threads: Int
    ) {
        let squares = UnsafeMutablePointer<Double>.allocate(capacity: rows)  // (rows) ‖Wᵢ‖²
        defer { squares.deallocate() }
        // Pass 0: row norms.
        forEachRowChunk(rows: rows, threads: threads) { chunk in
            for i in chunk {
                let row = w + i * cols
                var sq = 0.0
                for j in 0..<cols { let x = Double(T.widen(row[j])); sq += x * x }
                squares[i] = sq
                n[i] = Float(sq.squareRoot())
                k[i] = 1
            }
        }
        // Pass 1: ũ_j = Σᵢ (r̂ᵢ/ñᵢ) W_ij over column tiles; rows with r̂ᵢ = 0 or ñᵢ = 0 are not read.
        let tile = tileWidth(cols: cols, threads: threads)
        let tiles = (cols + tile - 1) / tile
        let workers = max(1, min(threads, tiles))
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            let acc = UnsafeMutablePointer<Double>.allocate(capacity: tile)  // (tile)
            defer { acc.deallocate() }
            var t = worker
            while t < tiles {
                let j0 = t * tile, m = min(tile, cols - j0)
                acc.initialize(repeating: 0, count: m)
                for i in 0..<rows where r[i] != 0 && n[i] > 0 {
                    let c = Double(r[i]) / Double(n[i])
                    let row = w + i * cols + j0
                    for j in 0..<m { acc[j] += c * Double(T.widen(row[j])) }
                }
                for j in 0..<m { u[j0 + j] = Float(acc[j]) }
                t += workers
            }
        }
        var uu = 0.0
        for j in 0..<cols { uu += Double(u[j]) * Double(u[j]) }
        // Pass 2: each row's dot product with ũ̃, then its update while it is in cache.
        forEachRowChunk(rows: rows, threads: threads) { chunk in
            for i in chunk {
                let c = s * r[i], ni = n[i]
                guard c != 0, ni > 0 else { continue }
                let row = w + i * cols
                var d = 0.0
                for j in 0..<cols { d += Double(T.widen(row[j])) * Double(u[j]) }
                let nd = Double(ni), cd = Double(c)
                let e2 = squares[i] / (nd * nd) - 2 * cd * d / nd + cd * cd * uu
                let ki: Float = e2 > 1e-24 ? Float(nd / e2.squareRoot()) : ni
                k[i] = ki
                let inv = 1 / ni
                for j in 0..<cols { row[j] = T.narrow(ki * (T.widen(row[j]) * inv - c * u[j])) }
            }
        }
    }

    /// Reverses `editRowNormalized`: Wᵢ ← ñᵢ(W′ᵢ/kᵢ + s·r̂ᵢ·ũ̃) for rows with s·r̂ᵢ ≠ 0 and ñᵢ > 0.
    static func undoRowNormalized<T: OrthogonalizableScalar>(
        _ w: UnsafeMutablePointer<T>, rows: Int, cols: Int, direction r: [Float], scale s: Float,
        u: [Float], rowNorms n: [Float], scales k: [Float], threads: Int
    ) {
        forEachRowChunk(rows: rows, threads: threads) { chunk in
            for i in chunk {
                let c = s * r[i], ni = n[i]
                guard c != 0, ni > 0 else { continue }
                let row = w + i * cols
                let ki = k[i]
                for j in 0..<cols { row[j] = T.narrow(ni * (T.widen(row[j]) / ki + c * u[j])) }
            }
        }
    }

    /// Edits the rows of a row-major (rows, cols = hidden) matrix in place, one pass per row.
    ///
    /// With `reading` a (default: r̂ itself) the projection is read along a and removed along r̂:
    /// p = a·w, w′ = w − s·p·r̂ (the oblique edit of a matrix that reads the residual through a norm,
    /// `InputOrthogonalizer`; never norm-preserving). Undo is the same as for a = r̂.
    static func editRows<T: OrthogonalizableScalar>(
        _ e: UnsafeMutablePointer<T>, rows: Int, cols: Int, direction r: UnsafePointer<Float>,
        reading: UnsafePointer<Float>? = nil, scale s: Float,
        normPreserving: Bool, projections: UnsafeMutablePointer<Float>, scales: UnsafeMutablePointer<Float>,
        threads: Int
    ) {
        precondition(reading == nil || !normPreserving, "an oblique row edit does not preserve norms")
        let a = reading ?? r
        let rr = directionNormSquared(r, cols)
        forEachRowChunk(rows: rows, threads: threads) { chunk in
            for v in chunk {
                let row = e + v * cols
                var d = 0.0, sq = 0.0
                for j in 0..<cols {
                    let x = Double(T.widen(row[j]))
                    d += Double(a[j]) * x
                    sq += x * x
                }
                let pf = Float(d)
                projections[v] = pf
                let c = s * pf
                if normPreserving {
                    let k = normScale(sq, d, pf, s, rr)
                    scales[v] = k
                    for j in 0..<cols { row[j] = T.narrow(k * (T.widen(row[j]) - c * r[j])) }
                } else if c != 0 {
                    for j in 0..<cols { row[j] = T.narrow(T.widen(row[j]) - c * r[j]) }
                }
            }
        }
    }

    /// Reverses `editRows`: e_vj ← e′_vj / k_v + (s p̃_v) r_j.
    static func undoRows<T: OrthogonalizableScalar>(
        _ e: UnsafeMutablePointer<T>, rows: Int, cols: Int, direction r: UnsafePointer<Float>, scale s: Float,
        projections p: UnsafePointer<Float>, scales: UnsafePointer<Float>?, threads: Int
    ) {
        forEachRowChunk(rows: rows, threads: threads) { chunk in
            for v in chunk {
                let row = e + v * cols
                let c = s * p[v]
                if let k = scales {
                    let kv = k[v]
                    for j in 0..<cols { row[j] = T.narrow(T.widen(row[j]) / kv + c * r[j]) }
                } else if c != 0 {
                    for j in 0..<cols { row[j] = T.narrow(T.widen(row[j]) + c * r[j]) }
                }
            }
        }
    }

    /// √(Σ x²) of `count` elements, accumulated in f64.
    static func frobeniusNorm<T: OrthogonalizableScalar>(_ x: UnsafePointer<T>, count: Int) -> Double {
        var s = 0.0
        for i in 0..<count {
            let v = Double(T.widen(x[i]))
            s += v * v
        }
        return s.squareRoot()
    }

    /// k = ‖w‖/‖u‖ with ‖u‖² = ‖w‖² − 2s·p̃·p + s²·p̃²·‖r̂‖²; 1 when w or u vanishes.
    @inline(__always)
    static func normScale(_ sq: Double, _ p: Double, _ pf: Float, _ s: Float, _ rr: Double) -> Float {
        let sd = Double(s), pd = Double(pf)
        let u2 = sq - 2 * sd * pd * p + sd * sd * pd * pd * rr
        guard sq > 0, u2 > sq * 1e-24 else { return 1 }
        return Float((sq / u2).squareRoot())
    }

    static func directionNormSquared(_ r: UnsafePointer<Float>, _ n: Int) -> Double {
        var s = 0.0
        for i in 0..<n { s += Double(r[i]) * Double(r[i]) }
        return s
    }

    /// Runs `body` on contiguous ranges of `rows` that together cover it, one per worker, at most
    /// `threads` at once.
    static func forEachRowChunk(rows: Int, threads: Int, _ body: (Range<Int>) -> Void) {
        let chunk = max(1, (rows + threads - 1) / max(1, threads))
        let workers = (rows + chunk - 1) / chunk
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            body((worker * chunk)..<min(rows, (worker + 1) * chunk))
        }
    }

    /// Columns per tile: the columns split evenly between the workers (a multiple of 16), so each
    /// worker streams long contiguous row segments (TLB- and prefetch-friendly).
    static func tileWidth(cols: Int, threads: Int) -> Int {
        let w = (cols + threads - 1) / max(1, threads)
        return min(max(16, (w + 15) / 16 * 16), max(cols, 1))
    }
}
