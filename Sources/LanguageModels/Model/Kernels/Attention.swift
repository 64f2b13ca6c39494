import Foundation

/// Causal scaled-dot-product attention for one query head of one sequence.
///
/// For the query at absolute position p (p = pastLength + i for the i-th new token):
///     sⱼ = (q · kⱼ) · scale              for j in [lo, p], lo = max(0, p − window + 1) with a window
///     (sⱼ ← cap · tanh(sⱼ / cap) when a logit soft cap is set)
///     o  = Σⱼ softmax(s)ⱼ · vⱼ
/// A sliding window W lets a token see the W most recent positions including itself, which is
/// transformers' `kv_idx > q_idx − sliding_window`.
enum Attention {
    struct HeadProblem {
        /// First new query row (stride `queryStride`), already offset to this head.
        var query: UnsafePointer<Float>
        var queryStride: Int
        /// Key and value row 0 of the sequence's context (stride `kvStride`), offset to the KV head.
        var keys: UnsafePointer<Float>
        var values: UnsafePointer<Float>
        var kvStride: Int
        /// Output row of the first new token (stride `outputStride`), offset to this head.
        var output: UnsafeMutablePointer<Float>
        var outputStride: Int
        var newTokens: Int
        var pastLength: Int
        var headDim: Int
        var scale: Float
        var window: Int?
        var softCap: Float?
    }

    /// Computes one head; `scores` has room for pastLength + newTokens floats.
    static func attend(_ p: HeadProblem, scores: UnsafeMutablePointer<Float>) {
        let d = p.headDim
        for i in 0..<p.newTokens {
            let position = p.pastLength + i
            let lo = p.window.map { max(0, position - $0 + 1) } ?? 0
            let q = p.query + i * p.queryStride
            var maxScore = -Float.infinity
            for j in lo...position {
                var s = VectorKernels.dot(q, p.keys + j * p.kvStride, count: d) * p.scale
                if let cap = p.softCap { s = cap * tanhf(s / cap) }
                scores[j] = s
                maxScore = max(maxScore, s)
            }
            var total: Float = 0
            for j in lo...position {
                let e = expf(scores[j] - maxScore)
                scores[j] = e
                total += e
            }
            let inverse = 1 / total
            let o = p.output + i * p.outputStride
            for k in 0..<d { o[k] = 0 }
            for j in lo...position {
                VectorKernels.axpy(scores[j] * inverse, p.values + j * p.kvStride, o, count: d)
            }
        }
    }
}
