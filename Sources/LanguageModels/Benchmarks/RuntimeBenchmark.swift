import Foundation
import TensorKit

/// Times the model runtime: prompt processing (a batch of prompts, as residual measurement runs it,
/// and with logits) and greedy decoding (batch 1 and a batch of prompts), in tokens per second.
package enum RuntimeBenchmark {
    package struct Result: Sendable, CustomStringConvertible {
        package let name: String
        /// Tokens processed (prompt tokens, or generated tokens for decode).
        package let tokens: Int
        /// Best wall time, seconds.
        package let seconds: Double
        package var tokensPerSecond: Double { Double(tokens) / seconds }

        package var description: String {
            String(format: "%@: %d tokens in %.3f s, %.1f tokens/s", name, tokens, seconds, tokensPerSecond)
        }
    }

    /// Deterministic prompts of `length` ids spread over the vocabulary (the first id is BOS when the
    /// model has one).
    package static func prompts(count: Int, length: Int, configuration c: ModelConfiguration) -> [[Int]] {
        (0..<count).map { s in
            (0..<length).map { j in
                if j == 0, let bos = c.bosTokenID { return bos }
                return (s &* 7919 &+ j &* 104_729 &+ 13) % c.vocabSize
            }
        }
    }

    /// Bytes of weights one decoding step reads, in their stored size: every weight of two or more
    /// dimensions (the linear layers and the LM head), but not the embedding when the head is a separate
    /// tensor (a step reads one row of it). Norms and biases are left out (a few KB).
    package static func weightBytesPerDecodeStep(_ model: LanguageModel) throws -> Int {
        let weights = model.weights
        var total = 0
        for name in weights.names {
            let shape = try weights.shape(of: name)
            guard shape.count >= 2 else { continue }
            if name == "model.embed_tokens.weight" && !model.configuration.tieWordEmbeddings { continue }
            switch try weights.entry(name).storage {
            case .stored(let t): total += t.bytes.count
            case .dense(let v): total += 4 * v.count
            case .bitsAndBytes(let w): total += w.packed.bytes.count + 4 * w.scales.count
            }
        }
        return total
    }

    /// Runs every measurement `repetitions` times and reports the best of each.
    ///
    /// - prompt processing: `batch` prompts of `promptLength` tokens in one forward, (a) capturing the
    ///   output of the last block at the last token without the LM head, (b) with last-token logits;
    /// - decode: `decodeTokens` greedy tokens after the prompt, batch 1 and batch `batch`; the time of
    ///   the prefill (measured separately) is subtracted, so the rate counts the decoding steps only.
    package static func run(
        model: LanguageModel, batch: Int = 32, promptLength: Int = 40, decodeTokens: Int = 32, repetitions: Int = 3
    ) throws -> [Result] {
        guard batch > 0, promptLength > 0, decodeTokens > 1, repetitions > 0 else {
            throw ModelError.invalidInput("benchmark: batch, prompt length, repetitions must be positive and decode tokens > 1")
        }
        let c = model.configuration
        let many = prompts(count: batch, length: promptLength, configuration: c)
        let one = Array(many.prefix(1))
        func best(_ body: () throws -> Void) rethrows -> Double {
            var t = Double.infinity
            for _ in 0..<repetitions {
                let start = DispatchTime.now().uptimeNanoseconds
                try body()
                t = min(t, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            }
            return t
        }
        let capture = ResidualCapture.hiddenStates([c.layerCount])
        let ppCapture = try best { _ = try model.forward(batch: many, capture: capture) }
        let ppLogits = try best { _ = try model.forward(batch: many, logits: .lastToken) }
        let prefillOne = try best { _ = try model.forward(batch: one, logits: .lastToken) }
        let generateOne = try best { _ = try model.generate(batch: one, maxNewTokens: decodeTokens, stopTokens: []) }
        let generateMany = try best { _ = try model.generate(batch: many, maxNewTokens: decodeTokens, stopTokens: []) }
        let steps = decodeTokens - 1  // the first token comes from the prefill
        return [
            Result(name: "prompt processing \(batch)x\(promptLength), residual capture (no LM head)",
                   tokens: batch * promptLength, seconds: ppCapture),
            Result(name: "prompt processing \(batch)x\(promptLength), last-token logits",
                   tokens: batch * promptLength, seconds: ppLogits),
            Result(name: "decode batch 1 (\(steps) steps after a \(promptLength)-token prompt)",
                   tokens: steps, seconds: max(generateOne - prefillOne, 1e-9)),
            Result(name: "decode batch \(batch) (\(steps) steps after \(promptLength)-token prompts)",
                   tokens: batch * steps, seconds: max(generateMany - ppLogits, 1e-9)),
        ]
    }
}
