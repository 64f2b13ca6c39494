import Dispatch
import Foundation
import TensorKit

/// y (m, out) = x (m, in) · Wᵀ for a weight W (out, in) held in any stored type.
///
/// - Many tokens (prompt processing): W is widened to f32 in scratch, by row blocks on all threads,
///   then one sgemm over every token of the batch.
/// - Few tokens (decoding): W is streamed by row blocks small enough to stay in cache; each thread
///   widens its blocks and takes the dot products at once, so the f32 copy of W never goes to memory
///   and no sgemm packing pass is made over it.
enum LinearKernels {
    /// Below this many tokens the streamed path is used.
    static let streamedMaxTokens = 4

    /// Worker threads for row-block loops (the BLAS thread count, at least 1).
    static var workers: Int { max(1, BLAS.threadCount) }

    /// Widens rows firstRow..<firstRow + rowCount of `name` into `destination` on all threads.
    static func dequantizeParallel(
        _ weights: ModelWeights, _ name: String, rowCount: Int, rowLength: Int, into destination: UnsafeMutablePointer<Float>,
        firstRow: Int = 0
    ) throws {
        let n = workers
        if n == 1 || rowCount < 2 * n {
            try weights.dequantizeRows(name, firstRow..<(firstRow + rowCount), into: destination)
            return
        }
        let failure = FirstError()
        DispatchQueue.concurrentPerform(iterations: n) { w in
            let lo = rowCount * w / n, hi = rowCount * (w + 1) / n
            do {
                try weights.dequantizeRows(name, (firstRow + lo)..<(firstRow + hi), into: destination + lo * rowLength)
            } catch { failure.record(error) }
        }
        try failure.check()
    }

    /// The streamed product for few tokens: y[t, o] = x[t] · W[o], row blocks spread over threads.
    static func streamed(
        _ weights: ModelWeights, _ name: String, x: UnsafePointer<Float>, tokens m: Int, inSize: Int, outSize: Int,
        into y: UnsafeMutablePointer<Float>
    ) throws {
        let blockRows = max(1, 16_384 / inSize)
        let blocks = (outSize + blockRows - 1) / blockRows
        let n = min(workers, blocks)
        let failure = FirstError()
        DispatchQueue.concurrentPerform(iterations: n) { w in
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: blockRows * inSize)
            defer { scratch.deallocate() }
            var b = w
            while b < blocks {
                let lo = b * blockRows, hi = min(outSize, lo + blockRows)
                do { try weights.dequantizeRows(name, lo..<hi, into: scratch) } catch { failure.record(error); return }
                for t in 0..<m {
                    let xt = x + t * inSize, yt = y + t * outSize
                    for o in lo..<hi { yt[o] = BLAS.sdot(count: inSize, xt, scratch + (o - lo) * inSize) }
                }
                b += n
            }
        }
        try failure.check()
    }

    /// y (m, out) += s · (x (m, in) · Aᵀ) · Bᵀ: the LoRA term of a linear layer, computed unmerged as
    /// two sgemms through the (m, r) product Ax, for prompts and decoding alike.
    static func addLowRank(
        _ u: LowRankUpdate, x: UnsafePointer<Float>, tokens m: Int, into y: UnsafeMutablePointer<Float>
    ) {
        let r = u.rank, inSize = u.inSize, outSize = u.outSize
        let ax = UnsafeMutablePointer<Float>.allocate(capacity: m * r)  // (m, r)
        defer { ax.deallocate() }
        u.a.withUnsafeBufferPointer { a in
            BLAS.sgemm(
                transposeA: false, transposeB: true, m: m, n: r, k: inSize,
                a: x, lda: inSize, b: a.baseAddress!, ldb: inSize, c: ax, ldc: r)
        }
        u.b.withUnsafeBufferPointer { b in
            BLAS.sgemm(
                transposeA: false, transposeB: true, m: m, n: outSize, k: r, alpha: u.scale,
                a: ax, lda: r, b: b.baseAddress!, ldb: r, beta: 1, c: y, ldc: outSize)
        }
    }

    /// W[rows] (rows.count, in) += s · B[rows] (rows.count, r) · A (r, in): the update merged into rows of
    /// its weight with one sgemm (over all rows, the very call a merge at load made).
    static func addLowRankRows(_ u: LowRankUpdate, rows: Range<Int>, into w: UnsafeMutablePointer<Float>) {
        let r = u.rank, inSize = u.inSize
        u.b.withUnsafeBufferPointer { b in
            u.a.withUnsafeBufferPointer { a in
                BLAS.sgemm(
                    transposeA: false, transposeB: false, m: rows.count, n: inSize, k: r, alpha: u.scale,
                    a: b.baseAddress! + rows.lowerBound * r, lda: r, b: a.baseAddress!, ldb: inSize,
                    beta: 1, c: w, ldc: inSize)
            }
        }
    }
}

/// The first error thrown by any of several threads.
final class FirstError: @unchecked Sendable {
    private let lock = NSLock()
    private var error: Error?
    func record(_ e: Error) {
        lock.lock(); defer { lock.unlock() }
        if error == nil { error = e }
    }
    func check() throws {
        lock.lock(); defer { lock.unlock() }
        if let error { throw error }
    }
}
