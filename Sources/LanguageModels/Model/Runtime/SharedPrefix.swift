/// Prompts that open with the same tokens (a chat template's system turn and header: 25 of SmolLM2's
/// 36 tokens for "How do I bake bread?") are run with that prefix computed once.
///
/// For a batch of n prompts sharing a prefix of P tokens, the prefix runs alone (one sequence of P
/// tokens, every block the batch needs), its keys and values are kept, and each prompt runs only its own
/// tokens after it, at positions P…, attending to the prefix's keys and values as a KV cache: n·P − P
/// fewer token rows through every linear layer. Each prompt's tokens see the same keys, values and
/// positions as in a pass over the whole prompt; the prefix's rows are computed in a different matrix
/// product, so results agree to rounding, not bit for bit (`SharedPrefixTests`).
extension LanguageModel {
    /// The least work a shared prefix must save, (prompts − 1) · P token rows, to be worth its own pass
    /// (which widens every weight once more).
    static let sharedPrefixMinimumSaving = 64

    /// The length P of the prefix shared by every prompt of `batch`, leaving each prompt at least `keep`
    /// tokens of its own; 0 when sharing would not pay (`sharedPrefixMinimumSaving`) or a prefix token is
    /// not in the vocabulary (the pass over the whole prompts reports it).
    func sharedPrefixLength(_ batch: [[Int]], keep: Int) -> Int {
        guard batch.count >= 2, keep >= 1, let first = batch.first else { return 0 }
        var length = batch.map(\.count).min()! - keep
        guard length > 0 else { return 0 }
        for prompt in batch.dropFirst() {
            var i = 0
            while i < length && prompt[i] == first[i] { i += 1 }
            length = i
            if length == 0 { return 0 }
        }
        guard (batch.count - 1) * length >= Self.sharedPrefixMinimumSaving,
              first[..<length].allSatisfy({ $0 >= 0 && $0 < configuration.vocabSize }),
              length <= configuration.maxPositionEmbeddings else { return 0 }
        return length
    }

    /// Runs `prefix` alone through blocks 0..<blocks and returns its keys and values (a one-slot cache
    /// holding prefix.count positions).
    func prefixCache(_ prefix: [Int], blocks: Int) throws -> KVCache {
        let cache = KVCache(configuration: configuration, capacities: [prefix.count])
        _ = try run([prefix], cache: cache, slots: [0], prefix: nil,
                    capture: ResidualCapture(points: [.hiddenState(blocks)]), logits: .none)
        return cache
    }

    /// How many tokens of its own each prompt must keep for `capture` and `logits` to read them, or nil
    /// when a captured position counts from the start (it would not name the same token after the prefix).
    static func tokensNeeded(capture: ResidualCapture?, logits: LogitsRequest) -> Int? {
        var keep = 1
        if case .lastTokens(let count) = logits { keep = max(keep, count) }
        guard let capture, !capture.points.isEmpty else { return keep }
        for position in capture.positions {
            switch position {
            case .last: break
            case .fromEnd(let k): keep = max(keep, k + 1)
            case .fromStart: return nil
            }
        }
        return keep
    }
}

extension KVCache {
    /// Copies the first `count` positions of slot 0 of `prefix` into `slot` (which must be empty) and
    /// marks them filled.
    func fill(slot: Int, withPrefixOf prefix: KVCache, count: Int) {
        precondition(lengths[slot] == 0 && count <= prefix.lengths[0] && count <= capacities[slot])
        for layer in 0..<layerCount {
            keys(layer: layer, slot: slot).update(from: prefix.keys(layer: layer, slot: 0), count: count * width)
            values(layer: layer, slot: slot).update(from: prefix.values(layer: layer, slot: 0), count: count * width)
        }
        advance(slot: slot, by: count)
    }
}
