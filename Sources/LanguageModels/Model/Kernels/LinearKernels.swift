import Dispatch
import Foundation
import TensorKit

/// y (m, out) = x (m, in) · Wᵀ for a weight W (out, in) held in any stored type.
///
/// - Many tokens (prompt processing): W is widened to f32 in scratch, by row blocks on all threads,
///   then one sgemm over every token of the batch.
/// - Few tokens (decoding): W is streamed by row blocks spread over threads, each row's dot products
///   taken straight from its stored bytes (`DirectDot`), so W is read once per step in its stored size
///   and never widened; storage without a direct kernel is widened a cache-sized row block at a time.
package enum LinearKernels {
    /// Up to this many tokens the streamed path is used (`abliterate bench runtime --streamed-max-tokens`
    /// sets it for measurements).
    package nonisolated(unsafe) static var streamedMaxTokens = 4

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
    ///
    /// Dot products are taken straight from the stored rows where `DirectDot` has a kernel for the
    /// storage (f32, bf16, f16, the GGML types of `DirectDot.kernel(for:)`, bitsandbytes NF4/FP4); for
    /// GGML types with an integer kernel, x is first quantized to ggml's 8-bit activation blocks when
    /// `quantizedActivations` is set, as llama.cpp does, for weights as read from their file (a weight the
    /// runtime quantized itself, `--quantize`, must compute what its dense round trip computes, and one with
    /// a LoRA update beside it what the merged weight computes: f32 activations, and the f32 kernels sum as
    /// `DirectDot.dotF32` does on the dense values).
    /// Other storage is widened a row block at a time.
    static func streamed(
        _ weights: ModelWeights, _ name: String, x: UnsafePointer<Float>, tokens m: Int, inSize: Int, outSize: Int,
        into y: UnsafeMutablePointer<Float>
    ) throws {
        switch try weights.entry(name).storage {
        case .stored(let t):
            let row = t.bytes.baseAddress!, stride = t.rowByteCount
            if quantizedActivations, weights.isAsLoaded(name), let kind = DirectDot.activationKind(for: t.type),
               let kernel = DirectDot.quantizedKernel(for: t.type) {
                let xq = (0..<m).map { QuantizedActivation(kind, x + $0 * inSize, count: inSize) }  // m × (in)
                forEachRowBlock(tokens: m, inSize: inSize, outSize: outSize) { _, t, o in
                    y[t * outSize + o] = kernel(row + o * stride, xq[t], inSize)
                }
                return
            }
            if let kernel = DirectDot.kernel(for: t.type) {
                forEachRowBlock(tokens: m, inSize: inSize, outSize: outSize) { _, t, o in
                    y[t * outSize + o] = kernel(row + o * stride, x + t * inSize, inSize)
                }
                return
            }
        case .dense(let values):
            let dot = DirectDot.kernel(for: .dense(.f32))!
            values.withUnsafeBytes { w in
                let row = w.baseAddress!
                forEachRowBlock(tokens: m, inSize: inSize, outSize: outSize) { _, t, o in
                    y[t * outSize + o] = dot(row + o * inSize * 4, x + t * inSize, inSize)
                }
            }
            return
        case .bitsAndBytes(let w):
            let packed = w.packed.bytes.baseAddress!.assumingMemoryBound(to: UInt8.self)
            let dtype: DType = w.state.dtype == "bfloat16" ? .bf16 : (w.state.dtype == "float16" ? .f16 : .f32)
            w.scales.withUnsafeBufferPointer { s in
                w.table.withUnsafeBufferPointer { table in
                    let scratch = UnsafeMutablePointer<Float>.allocate(capacity: 48 * workers)  // (workers, 16 + 32)
                    defer { scratch.deallocate() }
                    forEachRowBlock(tokens: m, inSize: inSize, outSize: outSize) { worker, t, o in
                        y[t * outSize + o] = DirectDot.dotBitsAndBytes4Bit(
                            packed: packed, absmax: s.baseAddress!, blockSize: w.state.blockSize, table: table.baseAddress!,
                            dtype: dtype, first: o * inSize, count: inSize, x: x + t * inSize,
                            scratch: scratch + 48 * worker)
                    }
                }
            }
            return
        }
        try widenedStreamed(weights, name, x: x, tokens: m, inSize: inSize, outSize: outSize, into: y)
    }

    /// Whether decoding with GGML-quantized weights quantizes the activations to 8-bit blocks (ggml's
    /// `Q8_0`/`Q8_1`/`Q8_K`) and takes integer dot products, as llama.cpp does, rather than f32 dot products.
    /// Off by default: prompts (more than `streamedMaxTokens` tokens) take sgemm with f32 activations, so
    /// only f32 dot products here keep a prompt's result independent of the batch it is run in (to the
    /// summation order). The environment variable `ABLITERATE_DECODE_ACTIVATIONS=q8` turns it on for a
    /// whole process (`abliterate bench runtime --activations q8` for one measurement).
    package nonisolated(unsafe) static var quantizedActivations =
        ProcessInfo.processInfo.environment["ABLITERATE_DECODE_ACTIVATIONS"] == "q8"

    /// body(w) for w in 0 ..< n on all threads: on the spinning `WorkerPool` for a step of at most
    /// `streamedMaxTokens` tokens (decoding: hundreds of short loops per token, where waking threads for
    /// each costs as much as the loop), else through `concurrentPerform` (prompts: few long loops between
    /// sgemm calls, whose OpenBLAS threads a spinning worker would compete with).
    static func parallel(_ n: Int, tokens: Int, _ body: (Int) -> Void) {
        if tokens <= streamedMaxTokens {
            WorkerPool.parallel(n, body)
        } else {
            DispatchQueue.concurrentPerform(iterations: n, execute: body)
        }
    }

    /// Rows per block of `forEachRowBlock`: about 16K weight values.
    static func rowsPerBlock(inSize: Int) -> Int { max(1, 16_384 / inSize) }

    /// Calls `body(w, t, o)` for every token t < m and row o < out, w the worker (0 ..< `workers`, one
    /// thread each, for per-thread scratch). Worker w of n takes the contiguous rows
    /// out·w/n ..< out·(w+1)/n (equal shares: with blocks dealt in turn, a 192-row projection in 7
    /// blocks gave one of two threads a third more work), in blocks of `rowsPerBlock` rows, each block's
    /// rows taken for every token before the next block.
    static func forEachRowBlock(tokens m: Int, inSize: Int, outSize: Int, _ body: (Int, Int, Int) -> Void) {
        let blockRows = rowsPerBlock(inSize: inSize)
        let n = min(workers, outSize)
        WorkerPool.parallel(n) { w in
            var lo = outSize * w / n
            let end = outSize * (w + 1) / n
            while lo < end {
                let hi = min(end, lo + blockRows)
                for o in lo..<hi { for t in 0..<m { body(w, t, o) } }
                lo = hi
            }
        }
    }

    /// The streamed product for storage without a direct kernel: each thread widens its row blocks to
    /// f32 scratch and takes the dot products there.
    static func widenedStreamed(
        _ weights: ModelWeights, _ name: String, x: UnsafePointer<Float>, tokens m: Int, inSize: Int, outSize: Int,
        into y: UnsafeMutablePointer<Float>
    ) throws {
        let blockRows = rowsPerBlock(inSize: inSize)
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
