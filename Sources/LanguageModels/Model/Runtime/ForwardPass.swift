import Dispatch
import Foundation
import TensorKit

/// The decoder stack over a packed batch.
///
/// The new tokens of all sequences are packed into one (T, hidden) matrix, T = Σ lengths, so every
/// linear layer is one sgemm over all tokens of the batch and no compute is spent on padding.
/// Attention runs per (sequence, head), in parallel, each sequence seeing only its own past
/// (its KV cache, if any, then its own new tokens, causally). This is the same computation as a
/// padded batch with an attention mask, and gives each sequence the same result as running it alone.
///
/// Block (pre-norm; Gemma adds the bracketed sandwich norms):
///     h = x + [post_attn_norm] o_proj(attn(rope(q_norm?(q_proj n)), rope(k_norm?(k_proj n)), v_proj n)),  n = input_norm(x)
///     y = h + [post_ffw_norm] down(act(gate(m)) ⊙ up(m)),                                           m = pre_ffn_norm(h)
extension LanguageModel {
    struct PackedBatch {
        var tokens: [[Int]]
        var starts: [Int]
        var pastLengths: [Int]
        var total: Int
    }

    /// The forward pass. With a cache, `slots[s]` is sequence s's cache slot, its new tokens follow the
    /// cached ones, and their keys and values are appended to the cache. Without one, a `prefix` (slot 0
    /// of a cache, `prefixCache`) precedes every sequence: each sequence's tokens follow its positions and
    /// attend to its keys and values (`SharedPrefix.swift`).
    func run(
        _ batch: [[Int]], cache: KVCache?, slots: [Int]?, prefix: KVCache? = nil, capture: ResidualCapture?,
        logits: LogitsRequest
    ) throws -> ForwardOutput {
        let c = configuration
        precondition(cache == nil || prefix == nil, "a shared prefix is given without a cache (with one it is in the cache's slots)")
        guard !batch.isEmpty else { throw ModelError.invalidInput("forward: empty batch") }
        var starts: [Int] = []
        var total = 0
        for (s, tokens) in batch.enumerated() {
            guard !tokens.isEmpty else { throw ModelError.invalidInput("forward: prompt \(s) has no tokens") }
            if let bad = tokens.first(where: { $0 < 0 || $0 >= c.vocabSize }) {
                throw ModelError.invalidInput("forward: prompt \(s): token id \(bad) outside the vocabulary 0..<\(c.vocabSize)")
            }
            starts.append(total)
            total += tokens.count
        }
        let pastLengths = slots.map { $0.map { cache!.lengths[$0] } }
            ?? Array(repeating: prefix?.lengths[0] ?? 0, count: batch.count)
        for (s, tokens) in batch.enumerated() where pastLengths[s] + tokens.count > c.maxPositionEmbeddings {
            throw ModelError.invalidInput(
                "forward: sequence \(s) reaches position \(pastLengths[s] + tokens.count), past the model's context of \(c.maxPositionEmbeddings) tokens")
        }
        if let cache, let slots {
            for (s, slot) in slots.enumerated() where pastLengths[s] + batch[s].count > cache.capacities[slot] {
                throw ModelError.invalidInput("forward: sequence \(s) exceeds its KV cache capacity \(cache.capacities[slot])")
            }
        }
        let packed = PackedBatch(tokens: batch, starts: starts, pastLengths: pastLengths, total: total)

        // Which blocks must run.
        let points = capture?.points ?? []
        for p in points {
            switch p {
            case .hiddenState(let l) where l < 0 || l > c.layerCount:
                throw ModelError.layerOutOfRange(
                    "capture: hidden state \(l) is outside 0...\(c.layerCount) (\(c.layerCount) blocks)")
            case .attentionWrite(let l) where l < 0 || l >= c.layerCount, .feedForwardWrite(let l) where l < 0 || l >= c.layerCount:
                throw ModelError.layerOutOfRange("capture: \(p) is outside blocks 0..<\(c.layerCount)")
            default: break
            }
        }
        let blocksNeeded = blocksNeeded(points: points, logits: logits)
        if case .lastTokens(let count) = logits {
            guard count >= 1 else { throw ModelError.invalidInput("logits of the last \(count) tokens: at least 1") }
            if let s = batch.firstIndex(where: { $0.count < count }) {
                throw ModelError.invalidInput("logits of the last \(count) tokens: sequence \(s) has \(batch[s].count)")
            }
        }

        // Rows captured: for each sequence, each requested position.
        let positions = capture?.positions ?? [.last]
        var captureRows: [Int] = []
        if !points.isEmpty {
            for (s, tokens) in batch.enumerated() {
                for p in positions {
                    let i: Int
                    switch p {
                    case .last: i = tokens.count - 1
                    case .fromStart(let k): i = k
                    case .fromEnd(let k): i = tokens.count - 1 - k
                    }
                    guard i >= 0 && i < tokens.count else {
                        throw ModelError.invalidInput("capture: position \(p) is outside prompt \(s) (\(tokens.count) tokens)")
                    }
                    captureRows.append(starts[s] + i)
                }
            }
        }

        let h = c.hiddenSize
        let x = FloatBuffer(total * h)
        try embed(packed, into: x.pointer)

        var residuals: [ResidualPoint: Tensor<Float>] = [:]
        func captureHidden(_ l: Int) throws {
            guard points.contains(.hiddenState(l)) else { return }
            residuals[.hiddenState(l)] = try gatherRows(x.pointer, rows: captureRows, point: .hiddenState(l), batch: packed, positionsPerSequence: positions.count)
        }

        let scratch = BlockScratch(tokens: total, configuration: c)
        let tables = ropeTables(packed)
        // A sublayer's write (T, hidden), gathered at the captured rows when it is one of the points.
        func captureWrite(_ point: ResidualPoint, _ values: UnsafeMutablePointer<Float>) throws {
            guard points.contains(point) else { return }
            residuals[point] = try gatherRows(values, rows: captureRows, point: point, batch: packed, positionsPerSequence: positions.count)
        }
        for layer in 0..<blocksNeeded {
            try captureHidden(layer)
            try block(layer, x: x.pointer, packed: packed, scratch: scratch, tables: tables, cache: cache, slots: slots,
                      prefix: prefix, captureWrite: points.isEmpty ? nil : captureWrite)
        }
        try captureHidden(blocksNeeded)  // the output of the last block run
        if let cache, let slots {
            for (s, slot) in slots.enumerated() { cache.advance(slot: slot, by: batch[s].count) }
        }

        // Final norm and LM head, only on the rows that need them.
        if points.contains(.finalNorm) {
            let normed = FloatBuffer(total * h)
            try finalNorm(x.pointer, rows: captureRows, into: normed.pointer)
            residuals[.finalNorm] = try gatherRows(
                normed.pointer, rows: Array(0..<captureRows.count), point: .finalNorm, batch: packed,
                positionsPerSequence: positions.count)
        }
        var logitsTensor: Tensor<Float>?
        let logitRows: Int
        switch logits {
        case .none: logitRows = 0
        case .lastToken: logitRows = 1
        case .lastTokens(let count): logitRows = count
        }
        if logitRows > 0 {
            // (batch · logitRows) rows: the last logitRows tokens of each sequence, in order.
            let lastRows = batch.indices.flatMap { s in (batch[s].count - logitRows..<batch[s].count).map { starts[s] + $0 } }
            let normed = FloatBuffer(lastRows.count * h)
            try finalNorm(x.pointer, rows: lastRows, into: normed.pointer)
            logitsTensor = try lmHead(normed.pointer, rows: lastRows.count)
        }
        return ForwardOutput(residuals: residuals, logits: logitsTensor, blocksEvaluated: blocksNeeded)
    }

    /// How many blocks a pass must run for `points` and `logits` (points already checked to be in range).
    func blocksNeeded(points: [ResidualPoint], logits: LogitsRequest) -> Int {
        if logits != .none { return configuration.layerCount }
        var blocks = 0
        for p in points {
            switch p {
            case .hiddenState(let l): blocks = max(blocks, l)
            case .finalNorm: blocks = configuration.layerCount
            case .attentionWrite(let l), .feedForwardWrite(let l): blocks = max(blocks, l + 1)
            }
        }
        return min(max(blocks, 0), configuration.layerCount)
    }

    // MARK: - Pieces

    /// Activations of one block, reused across blocks.
    final class BlockScratch {
        let normed, q, k, v, attention, projected, gate, up: FloatBuffer
        init(tokens t: Int, configuration c: ModelConfiguration) {
            normed = FloatBuffer(t * c.hiddenSize)
            q = FloatBuffer(t * c.queryWidth)
            k = FloatBuffer(t * c.keyValueWidth)
            v = FloatBuffer(t * c.keyValueWidth)
            attention = FloatBuffer(t * c.queryWidth)
            projected = FloatBuffer(t * c.hiddenSize)
            gate = FloatBuffer(t * c.intermediateSize)
            up = FloatBuffer(t * c.intermediateSize)
        }
    }

    struct RoPETables {
        var globalCos: [Float], globalSin: [Float]
        var localCos: [Float]?, localSin: [Float]?
    }

    func ropeTables(_ packed: PackedBatch) -> RoPETables {
        var positions: [Int] = []
        positions.reserveCapacity(packed.total)
        for (s, tokens) in packed.tokens.enumerated() {
            for i in 0..<tokens.count { positions.append(packed.pastLengths[s] + i) }
        }
        let g = globalRoPE.tables(positions: positions)
        let l = localRoPE.map { $0.tables(positions: positions) }
        return RoPETables(globalCos: g.cos, globalSin: g.sin, localCos: l?.cos, localSin: l?.sin)
    }

    /// x[t] = E[token t] (× √hidden for Gemma, in f32 as transformers does).
    func embed(_ packed: PackedBatch, into x: UnsafeMutablePointer<Float>) throws {
        let h = configuration.hiddenSize
        var row = 0
        for tokens in packed.tokens {
            for id in tokens {
                try weights.dequantizeRows("model.embed_tokens.weight", id..<(id + 1), into: x + row * h)
                row += 1
            }
        }
        if recipe.scaleEmbeddings {
            let scale = Float(Double(h).squareRoot())
            VectorKernels.scale(x, by: scale, count: packed.total * h)
        }
    }

    /// y (rows, out) = x (rows, in) · Wᵀ (+ b), W stored (out, in).
    ///
    /// A LoRA update kept beside W (value W + s·B·A) is applied the cheaper way for the batch: as
    /// s·(x·Aᵀ)·Bᵀ added to x·Wᵀ (2·rows·r·(in + out) flops), or, when rows·(in + out) > in·out,
    /// merged into the widened copy of W (2·out·in·r flops, whatever the rows) before the one sgemm.
    func linear(_ name: String, _ x: UnsafePointer<Float>, rows: Int, inSize: Int, outSize: Int,
                into y: UnsafeMutablePointer<Float>, bias: String? = nil) throws {
        var pending = try weights.lowRank(name)
        if rows <= LinearKernels.streamedMaxTokens {
            try LinearKernels.streamed(weights, name, x: x, tokens: rows, inSize: inSize, outSize: outSize, into: y)
        } else {
            let merge = pending.map { rows * ($0.inSize + $0.outSize) > $0.inSize * $0.outSize } ?? false
            if merge { pending = nil }
            try weights.withMatrix(name, scratch: &weightScratch, mergingLowRank: merge) { w in
                BLAS.sgemm(
                    transposeA: false, transposeB: true, m: rows, n: outSize, k: inSize,
                    a: x, lda: inSize, b: w, ldb: inSize, c: y, ldc: outSize)
            }
        }
        if let pending {
            LinearKernels.addLowRank(pending, x: x, tokens: rows, into: y)
        }
        if let bias {
            let b = try weights.vector(bias)
            b.withUnsafeBufferPointer { pb in
                for r in 0..<rows { VectorKernels.add(pb.baseAddress!, into: y + r * outSize, count: outSize) }
            }
        }
    }

    func rmsNorm(_ name: String, _ x: UnsafePointer<Float>, rows: Int, dim: Int, into y: UnsafeMutablePointer<Float>) throws {
        let g = try weights.vector(name)
        g.withUnsafeBufferPointer {
            Normalization.rmsNorm(x, weight: $0.baseAddress!, epsilon: configuration.rmsNormEpsilon, rows: rows, dim: dim, into: y)
        }
    }

    /// One decoder block, updating the residual stream x (T, hidden) in place.
    func block(
        _ l: Int, x: UnsafeMutablePointer<Float>, packed: PackedBatch, scratch s: BlockScratch,
        tables: RoPETables, cache: KVCache?, slots: [Int]?, prefix: KVCache? = nil,
        captureWrite: ((ResidualPoint, UnsafeMutablePointer<Float>) throws -> Void)? = nil
    ) throws {
        let c = configuration
        let t = packed.total, h = c.hiddenSize, qw = c.queryWidth, kvw = c.keyValueWidth, d = c.headDim
        let p = "model.layers.\(l)."

        // Attention.
        try rmsNorm(p + "input_layernorm.weight", x, rows: t, dim: h, into: s.normed.pointer)
        try linear(p + "self_attn.q_proj.weight", s.normed.pointer, rows: t, inSize: h, outSize: qw, into: s.q.pointer,
                   bias: c.attentionBias ? p + "self_attn.q_proj.bias" : nil)
        try linear(p + "self_attn.k_proj.weight", s.normed.pointer, rows: t, inSize: h, outSize: kvw, into: s.k.pointer,
                   bias: c.attentionBias ? p + "self_attn.k_proj.bias" : nil)
        try linear(p + "self_attn.v_proj.weight", s.normed.pointer, rows: t, inSize: h, outSize: kvw, into: s.v.pointer,
                   bias: c.attentionBias ? p + "self_attn.v_proj.bias" : nil)
        if c.queryKeyNorm {
            try rmsNorm(p + "self_attn.q_norm.weight", s.q.pointer, rows: t * c.headCount, dim: d, into: s.q.pointer)
            try rmsNorm(p + "self_attn.k_norm.weight", s.k.pointer, rows: t * c.kvHeadCount, dim: d, into: s.k.pointer)
        }
        let sliding = c.layerSpans[l] == .sliding
        let useLocal = sliding && tables.localCos != nil
        let cosTable = useLocal ? tables.localCos! : tables.globalCos
        let sinTable = useLocal ? tables.localSin! : tables.globalSin
        cosTable.withUnsafeBufferPointer { cp in
            sinTable.withUnsafeBufferPointer { sp in
                RotaryEmbedding.apply(s.q.pointer, tokens: t, heads: c.headCount, headDim: d, rowStride: qw,
                                      cos: cp.baseAddress!, sin: sp.baseAddress!)
                RotaryEmbedding.apply(s.k.pointer, tokens: t, heads: c.kvHeadCount, headDim: d, rowStride: kvw,
                                      cos: cp.baseAddress!, sin: sp.baseAddress!)
            }
        }
        attention(layer: l, packed: packed, scratch: s, window: sliding ? c.slidingWindow : nil, cache: cache, slots: slots,
                  prefix: prefix)
        scaleWriteInput(l, .attention, s.attention.pointer, rows: t, count: qw)
        try linear(p + "self_attn.o_proj.weight", s.attention.pointer, rows: t, inSize: qw, outSize: h, into: s.projected.pointer)
        editWrite(l, .attention, s.projected.pointer, rows: t)
        if let norm = recipe.outputNorm(ofBlockTensor: "self_attn.o_proj.weight") {
            try rmsNorm(p + norm, s.projected.pointer, rows: t, dim: h, into: s.projected.pointer)
        }
        try captureWrite?(.attentionWrite(l), s.projected.pointer)
        VectorKernels.add(s.projected.pointer, into: x, count: t * h)

        // MLP.
        let i = c.intermediateSize
        try rmsNorm(p + recipe.preFeedForwardNorm, x, rows: t, dim: h, into: s.normed.pointer)
        try linear(p + "mlp.gate_proj.weight", s.normed.pointer, rows: t, inSize: h, outSize: i, into: s.gate.pointer)
        try linear(p + "mlp.up_proj.weight", s.normed.pointer, rows: t, inSize: h, outSize: i, into: s.up.pointer)
        // The gate nonlinearity, token rows split over the threads.
        let gate = s.gate.pointer, up = s.up.pointer, activation = recipe.activation
        let parts = min(LinearKernels.workers, t)
        LinearKernels.parallel(parts, tokens: t) { w in
            let lo = t * w / parts * i, n = (t * (w + 1) / parts) * i - lo
            switch activation {
            case .silu: Activations.siluGate(gate + lo, up: up + lo, count: n)
            case .geluTanh: Activations.geluTanhGate(gate + lo, up: up + lo, count: n)
            }
        }
        scaleWriteInput(l, .feedForward, s.gate.pointer, rows: t, count: i)
        try linear(p + "mlp.down_proj.weight", s.gate.pointer, rows: t, inSize: i, outSize: h, into: s.projected.pointer)
        editWrite(l, .feedForward, s.projected.pointer, rows: t)
        if let norm = recipe.outputNorm(ofBlockTensor: "mlp.down_proj.weight") {
            try rmsNorm(p + norm, s.projected.pointer, rows: t, dim: h, into: s.projected.pointer)
        }
        try captureWrite?(.feedForwardWrite(l), s.projected.pointer)
        VectorKernels.add(s.projected.pointer, into: x, count: t * h)
    }

    /// Grouped-query attention for every (sequence, head) pair, in parallel. Query head j reads
    /// key/value head j / (heads / kvHeads).
    func attention(
        layer l: Int, packed: PackedBatch, scratch s: BlockScratch, window: Int?, cache: KVCache?, slots: [Int]?,
        prefix: KVCache? = nil
    ) {
        let c = configuration
        let qw = c.queryWidth, kvw = c.keyValueWidth, d = c.headDim
        let group = c.headCount / c.kvHeadCount
        // Append the new keys and values to the cache first.
        if let cache, let slots {
            for (seq, slot) in slots.enumerated() {
                let n = packed.tokens[seq].count, past = packed.pastLengths[seq], start = packed.starts[seq]
                (cache.keys(layer: l, slot: slot) + past * kvw).update(from: s.k.pointer + start * kvw, count: n * kvw)
                (cache.values(layer: l, slot: slot) + past * kvw).update(from: s.v.pointer + start * kvw, count: n * kvw)
            }
        }
        // Without a cache, a shared prefix's keys and values go before each sequence's own:
        // (P + nₛ, kvw) rows per sequence s, sequence s's from row P·s + startₛ.
        let sharedLength = prefix?.lengths[0] ?? 0
        let context: (keys: FloatBuffer, values: FloatBuffer)? = prefix.map { shared in
            let rows = packed.tokens.count * sharedLength + packed.total
            let keys = FloatBuffer(rows * kvw), values = FloatBuffer(rows * kvw)
            for seq in packed.tokens.indices {
                let n = packed.tokens[seq].count, start = packed.starts[seq], row = seq * sharedLength + start
                (keys.pointer + row * kvw).update(from: shared.keys(layer: l, slot: 0), count: sharedLength * kvw)
                (values.pointer + row * kvw).update(from: shared.values(layer: l, slot: 0), count: sharedLength * kvw)
                (keys.pointer + (row + sharedLength) * kvw).update(from: s.k.pointer + start * kvw, count: n * kvw)
                (values.pointer + (row + sharedLength) * kvw).update(from: s.v.pointer + start * kvw, count: n * kvw)
            }
            return (keys, values)
        }
        let sequences = packed.tokens.count
        let heads = c.headCount
        let q = s.q.pointer, k = s.k.pointer, v = s.v.pointer, out = s.attention.pointer
        let scale = c.queryScale, softCap = c.attentionLogitSoftCap
        LinearKernels.parallel(sequences * heads, tokens: packed.total) { item in
            let seq = item / heads, head = item % heads, kvHead = head / group
            let n = packed.tokens[seq].count, past = packed.pastLengths[seq], start = packed.starts[seq]
            let keys: UnsafePointer<Float>, values: UnsafePointer<Float>
            if let cache, let slots {
                keys = UnsafePointer(cache.keys(layer: l, slot: slots[seq]) + kvHead * d)
                values = UnsafePointer(cache.values(layer: l, slot: slots[seq]) + kvHead * d)
            } else if let context {
                let row = seq * sharedLength + start
                keys = UnsafePointer(context.keys.pointer + row * kvw + kvHead * d)
                values = UnsafePointer(context.values.pointer + row * kvw + kvHead * d)
            } else {
                keys = UnsafePointer(k + start * kvw + kvHead * d)
                values = UnsafePointer(v + start * kvw + kvHead * d)
            }
            let problem = Attention.HeadProblem(
                query: UnsafePointer(q + start * qw + head * d), queryStride: qw,
                keys: keys, values: values, kvStride: kvw,
                output: out + start * qw + head * d, outputStride: qw,
                newTokens: n, pastLength: past, headDim: d, scale: scale, window: window, softCap: softCap)
            let scores = UnsafeMutablePointer<Float>.allocate(capacity: past + n)
            Attention.attend(problem, scores: scores)
            scores.deallocate()
        }
    }

    /// The final norm of the chosen rows of x, packed into `y` (rows.count, hidden).
    func finalNorm(_ x: UnsafePointer<Float>, rows: [Int], into y: UnsafeMutablePointer<Float>) throws {
        let h = configuration.hiddenSize
        for (i, r) in rows.enumerated() {
            try rmsNorm("model.norm.weight", x + r * h, rows: 1, dim: h, into: y + i * h)
        }
    }

    /// logits (rows, vocab) = y · Eᵀ, the head widened a block of vocabulary rows at a time so the
    /// whole f32 head never exists at once. Gemma's final soft cap, if configured, is applied.
    func lmHead(_ y: UnsafePointer<Float>, rows: Int) throws -> Tensor<Float> {
        let c = configuration
        let h = c.hiddenSize, vocab = c.vocabSize
        let name = c.tieWordEmbeddings ? "model.embed_tokens.weight" : "lm_head.weight"
        var logits = [Float](repeating: 0, count: rows * vocab)
        if rows <= LinearKernels.streamedMaxTokens {
            try logits.withUnsafeMutableBufferPointer {
                try LinearKernels.streamed(weights, name, x: y, tokens: rows, inSize: h, outSize: vocab, into: $0.baseAddress!)
            }
            return try Tensor(shape: [rows, vocab], scalars: finalSoftCap(logits))
        }
        let chunk = max(1, min(vocab, (1 << 22) / h))
        if weightScratch.count < chunk * h { weightScratch = [Float](repeating: 0, count: chunk * h) }
        try logits.withUnsafeMutableBufferPointer { lp in
            try weightScratch.withUnsafeMutableBufferPointer { wp in
                var first = 0
                while first < vocab {
                    let n = min(chunk, vocab - first)
                    try LinearKernels.dequantizeParallel(
                        weights, name, rowCount: n, rowLength: h, into: wp.baseAddress!, firstRow: first)
                    BLAS.sgemm(
                        transposeA: false, transposeB: true, m: rows, n: n, k: h,
                        a: y, lda: h, b: wp.baseAddress!, ldb: h, c: lp.baseAddress! + first, ldc: vocab)
                    first += n
                }
            }
        }
        return try Tensor(shape: [rows, vocab], scalars: finalSoftCap(logits))
    }

    /// cap · tanh(logit / cap) when the configuration has a final soft cap.
    func finalSoftCap(_ logits: [Float]) -> [Float] {
        guard let cap = configuration.finalLogitSoftCap else { return logits }
        return logits.map { cap * tanhf($0 / cap) }
    }

    /// Copies the chosen rows out as (rows.count, hidden), refusing non-finite activations.
    func gatherRows(_ x: UnsafePointer<Float>, rows: [Int], point: ResidualPoint, batch: PackedBatch,
                    positionsPerSequence: Int) throws -> Tensor<Float> {
        let h = configuration.hiddenSize
        var out = [Float](repeating: 0, count: rows.count * h)
        for (i, r) in rows.enumerated() {
            let row = x + r * h
            guard VectorKernels.allFinite(row, count: h) else {
                throw ModelError.degenerate(
                    "\(source): non-finite activation at \(point) for prompt index \(i / max(1, positionsPerSequence))")
            }
            out.withUnsafeMutableBufferPointer { ($0.baseAddress! + i * h).update(from: row, count: h) }
        }
        return try Tensor(shape: [rows.count, h], scalars: out)
    }
}
