import TensorKit

extension LanguageModel {
    /// Greedy decoding of every prompt of `batch` together, with a KV cache: one batched prefill (a prefix
    /// every prompt shares run once, `SharedPrefix.swift`), then
    /// one packed step per new token over the sequences still running. A sequence stops when it emits a
    /// token of `stopTokens` (kept as its last token), after `maxNewTokens` tokens, or as soon as
    /// `stop(s, tokens)` is true of the tokens generated so far for sequence `s` (index into `batch`).
    ///
    /// - Parameters:
    ///   - topK: how many of the first step's largest logits to report.
    ///   - firstStepLogProbabilities: also return the first step's log-softmax over the vocabulary
    ///     (for KL measurements).
    public func generate(
        batch: [[Int]], maxNewTokens: Int, stopTokens: Set<Int>, topK: Int = 10,
        firstStepLogProbabilities: Bool = false, stop: ((Int, [Int]) -> Bool)? = nil
    ) throws -> [Generation] {
        guard maxNewTokens >= 1 else { throw ModelError.invalidInput("generate: maxNewTokens must be at least 1") }
        // Every position gets a KV cache row: prompt + new tokens must fit the model's context.
        let context = configuration.maxPositionEmbeddings
        guard maxNewTokens <= context else {
            throw ModelError.invalidInput(
                "\(source): generate: \(maxNewTokens) new tokens are more than the model's context of \(context) tokens")
        }
        for (s, prompt) in batch.enumerated() where prompt.count > context - maxNewTokens {
            throw ModelError.invalidInput(
                "\(source): generate: prompt \(s) has \(prompt.count) tokens; with \(maxNewTokens) new tokens that is more than the model's context of \(context) tokens")
        }
        lock.lock()
        defer { lock.unlock() }
        let vocab = configuration.vocabSize
        let cache = KVCache(configuration: configuration, capacities: batch.map { $0.count + maxNewTokens })
        var results: [Generation] = []
        var next: [Int] = []

        // Prefill, a prefix every prompt shares run once (`SharedPrefix.swift`).
        let shared = sharedPrefixLength(batch, keep: 1)
        if shared > 0 {
            let prefix = try prefixCache(Array(batch[0][..<shared]), blocks: configuration.layerCount)
            for s in batch.indices { cache.fill(slot: s, withPrefixOf: prefix, count: shared) }
        }
        let prefill = try run(batch.map { Array($0[shared...]) }, cache: cache, slots: Array(batch.indices), capture: nil,
                              logits: .lastToken)
        guard var logits = prefill.logits else { throw ModelError.invalidInput("generate: no logits") }
        try logits.scalars.withUnsafeMutableBufferPointer { lp in
            for s in batch.indices {
                let row = lp.baseAddress! + s * vocab
                try checkFinite(row, count: vocab, sequence: s, step: 0)
                let token = VectorKernels.argmax(row, count: vocab)
                let top = Self.topK(row, count: vocab, k: topK)
                var logProbabilities: [Float]?
                if firstStepLogProbabilities {
                    Self.logSoftmax(row, count: vocab)
                    logProbabilities = Array(UnsafeBufferPointer(start: row, count: vocab))
                }
                let reason: StopReason = stopTokens.contains(token) ? .stopToken(token)
                    : stop?(s, [token]) == true ? .stoppedByCaller : .maxNewTokens
                results.append(Generation(
                    tokens: [token], stopReason: reason, firstStepTop: top, firstStepLogProbabilities: logProbabilities))
                next.append(token)
            }
        }

        // Decode.
        var active = batch.indices.filter { results[$0].stopReason == .maxNewTokens && maxNewTokens > 1 }
        while !active.isEmpty {
            let step = try run(active.map { [next[$0]] }, cache: cache, slots: active, capture: nil, logits: .lastToken)
            let stepLogits = step.logits!
            var stillActive: [Int] = []
            try stepLogits.scalars.withUnsafeBufferPointer { lp in
                for (i, s) in active.enumerated() {
                    let row = lp.baseAddress! + i * vocab
                    try checkFinite(row, count: vocab, sequence: s, step: results[s].tokens.count)
                    let token = VectorKernels.argmax(row, count: vocab)
                    results[s].tokens.append(token)
                    next[s] = token
                    if stopTokens.contains(token) {
                        results[s].stopReason = .stopToken(token)
                    } else if stop?(s, results[s].tokens) == true {
                        results[s].stopReason = .stoppedByCaller
                    } else if results[s].tokens.count < maxNewTokens {
                        stillActive.append(s)
                    }
                }
            }
            active = stillActive
        }
        return results
    }

    private func checkFinite(_ row: UnsafePointer<Float>, count: Int, sequence: Int, step: Int) throws {
        guard VectorKernels.allFinite(row, count: count) else {
            throw ModelError.degenerate("\(source): non-finite logits for prompt index \(sequence) at generation step \(step)")
        }
    }

    /// The k largest entries, largest first (lower id first on ties).
    static func topK(_ x: UnsafePointer<Float>, count: Int, k: Int) -> [TokenLogit] {
        let k = min(k, count)
        guard k > 0 else { return [] }
        var best: [TokenLogit] = []
        best.reserveCapacity(k + 1)
        for i in 0..<count {
            let v = x[i]
            if best.count == k, let last = best.last, !(v > last.logit) { continue }
            var j = best.count
            while j > 0 && v > best[j - 1].logit { j -= 1 }
            best.insert(TokenLogit(id: i, logit: v), at: j)
            if best.count > k { best.removeLast() }
        }
        return best
    }
}
