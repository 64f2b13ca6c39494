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
