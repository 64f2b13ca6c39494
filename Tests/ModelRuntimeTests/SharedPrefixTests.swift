import Foundation
import TensorKit
import TestSupport
import XCTest
@testable import LanguageModels

/// A prefix every prompt of a batch shares is run once (`SharedPrefix.swift`): each prompt's residuals,
/// logits and greedy tokens must be what it gets alone (a batch of one shares nothing).
final class SharedPrefixTests: XCTestCase {
    /// Four prompts opening with the same `prefix` tokens, then 3 to 9 of their own.
    private func prompts(prefix: Int, vocab: Int, seed: UInt64) -> [[Int]] {
        var rng = SplitMix(seed: seed)
        let shared = (0..<prefix).map { _ in 3 + Int(rng.next() % UInt64(vocab - 3)) }
        return [3, 9, 5, 7].map { n in shared + (0..<n).map { _ in 3 + Int(rng.next() % UInt64(vocab - 3)) } }
    }

    private func tinyModel(_ architecture: ModelArchitecture) throws -> LanguageModel {
        let dir = try temporaryDirectory("shared-prefix")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try TinyModel.make(architecture).writeGGUF(to: dir + "/m.gguf")
        return try LanguageModel.load(path: dir + "/m.gguf")
    }

    private func models() throws -> [(String, LanguageModel, [[Int]])] {
        // The tiny Gemma 3 has a window of 4 tokens: its sliding blocks must not see the prefix's far rows.
        let gemmaTiny = try tinyModel(.gemma3), llamaTiny = try tinyModel(.llama)
        let smol = try LoadedModels.smolLM2(), gemma = try LoadedModels.gemma3()
        return [
            ("tiny gemma3", gemmaTiny, prompts(prefix: 30, vocab: gemmaTiny.configuration.vocabSize, seed: 1)),
            ("tiny llama", llamaTiny, prompts(prefix: 25, vocab: llamaTiny.configuration.vocabSize, seed: 2)),
            ("SmolLM2", smol, prompts(prefix: 30, vocab: 40_000, seed: 3)),
            ("Gemma 3", gemma, prompts(prefix: 30, vocab: 200_000, seed: 4)),
        ]
    }

    func testSharedPrefixForwardEqualsEachPromptAlone() throws {
        for (name, model, batch) in try models() {
            XCTAssertGreaterThanOrEqual(model.sharedPrefixLength(batch, keep: 2), 25, name)
            let layers = [0, 1, model.configuration.layerCount]
            let capture = ResidualCapture(points: layers.map { .hiddenState($0) } + [.finalNorm], positions: [.last, .fromEnd(1)])
            let together = try model.forward(batch: batch, capture: capture, logits: .lastTokens(count: 2))
            for (s, prompt) in batch.enumerated() {
                let alone = try model.forward(batch: [prompt], capture: capture, logits: .lastTokens(count: 2))
                for point in capture.points {
                    let t = together.residuals[point]!, a = alone.residuals[point]!
                    let scale = max(1, a.maxAbs())
                    for k in 0..<2 {
                        XCTAssertLessThanOrEqual(maxAbsDifference(Array(t.row(2 * s + k)), Array(a.row(k))) / scale, 1e-4,
                                                 "\(name) prompt \(s) \(point) position \(k)")
                    }
                }
                let scale = max(1, alone.logits!.maxAbs())
                for k in 0..<2 {
                    XCTAssertLessThanOrEqual(
                        maxAbsDifference(Array(together.logits!.row(2 * s + k)), Array(alone.logits!.row(k))) / scale, 1e-4,
                        "\(name) prompt \(s) logits \(k)")
                }
            }
        }
    }

    func testSharedPrefixGenerationEqualsEachPromptAlone() throws {
        for (name, model, batch) in try models() {
            let together = try model.generate(batch: batch, maxNewTokens: 8, stopTokens: [], topK: 1,
                                              firstStepLogProbabilities: true)
            for (s, prompt) in batch.enumerated() {
                let alone = try model.generate(batch: [prompt], maxNewTokens: 8, stopTokens: [], topK: 1,
                                               firstStepLogProbabilities: true)[0]
                XCTAssertEqual(together[s].tokens, alone.tokens, "\(name) prompt \(s)")
                XCTAssertLessThanOrEqual(
                    maxAbsDifference(together[s].firstStepLogProbabilities!, alone.firstStepLogProbabilities!), 1e-3,
                    "\(name) prompt \(s)")
            }
        }
    }

    func testWhenAPrefixIsShared() throws {
        let model = try tinyModel(.llama)
        let batch = prompts(prefix: 30, vocab: 64, seed: 5)
        XCTAssertEqual(model.sharedPrefixLength(batch, keep: 1), 30)
        // Each prompt keeps the tokens the request reads: the shortest has 3 of its own.
        XCTAssertEqual(model.sharedPrefixLength(batch, keep: 5), 28)
        XCTAssertEqual(LanguageModel.tokensNeeded(capture: nil, logits: .lastTokens(count: 5)), 5)
        XCTAssertEqual(LanguageModel.tokensNeeded(capture: .hiddenStates([1], positions: [.fromEnd(6)]), logits: .none), 7)
        XCTAssertNil(LanguageModel.tokensNeeded(capture: .hiddenStates([1], positions: [.fromStart(0)]), logits: .none))
        // Identical prompts share all but their last token.
        XCTAssertEqual(model.sharedPrefixLength([batch[1], batch[1], batch[1]], keep: 1), batch[1].count - 1)
        // Too little saved ((prompts − 1) · P < 64), one prompt, nothing in common.
        XCTAssertEqual(model.sharedPrefixLength(Array(batch.prefix(2)), keep: 1), 0)
        XCTAssertEqual(model.sharedPrefixLength([batch[0]], keep: 1), 0)
        XCTAssertEqual(model.sharedPrefixLength(batch.enumerated().map { [3 + $0.offset] + $0.element }, keep: 1), 0)
        // A token outside the vocabulary in the prefix: not shared, and the whole-prompt pass names it.
        let bad = batch.map { [70] + $0 }
        XCTAssertEqual(model.sharedPrefixLength(bad, keep: 1), 0)
        XCTAssertThrowsError(try model.forward(batch: bad, logits: .lastToken)) { error in
            XCTAssertTrue("\(error)".contains("prompt 0: token id 70"), "\(error)")
        }
    }
}
