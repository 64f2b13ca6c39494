import Foundation
import TensorKit
import TestSupport
import XCTest
@testable import LanguageModels

/// The runtime against Hugging Face transformers (f32 activations, the GGUF's weights as transformers'
/// loader gave them: rounded to bf16, see `LoadedModels.referenceWeights`): every reference layer,
/// every prompt, run as one batch of different lengths.
final class ReferenceForwardTests: XCTestCase {
    func testSmolLM2MatchesTransformers() throws {
        try check(model: try LoadedModels.smolLM2AsReference(), reference: "smollm2_forward.json")
    }

    func testGemma3MatchesTransformers() throws {
        try check(model: try LoadedModels.gemma3AsReference(), reference: "gemma3_forward.json")
    }

    private func check(model: LanguageModel, reference file: String) throws {
        let (layers, prompts) = try ForwardReference.load(file)
        XCTAssertEqual(model.configuration.layerCount, layers)
        // HF's last hidden_states index is after the final norm.
        let indices = Set(prompts.flatMap { $0.hiddenStates.keys }).sorted()
        let points: [ResidualPoint] = indices.map { $0 == layers ? .finalNorm : .hiddenState($0) }
        let output = try model.forward(
            batch: prompts.map(\.tokenIDs), capture: ResidualCapture(points: points), logits: .lastToken)
        let logits = try XCTUnwrap(output.logits)
        let vocab = model.configuration.vocabSize
        for (s, ref) in prompts.enumerated() {
            let row = Array(logits.row(s))
            XCTAssertEqual(row.count, vocab)
            for (index, point) in zip(indices, points) {
                let expected = try XCTUnwrap(ref.hiddenStates[index])
                let got = Array(try XCTUnwrap(output.residuals[point]).row(s))
                let cos = cosine(got, expected)
                XCTAssertGreaterThanOrEqual(cos, 0.9999, "\(file) prompt \(s) hidden state \(index): cosine \(cos)")
            }
            let diffs = zip(ref.top10IDs, ref.top10Logits).map { abs(row[$0.0] - $0.1) }
            let worst = diffs.max() ?? 0
            XCTAssertLessThanOrEqual(worst, 1e-2, "\(file) prompt \(s): max |logit difference| \(worst)")
            // Top-10 ids in order, except among logits within 1e-3 of each other.
            let ours = LanguageModel.topK(row, count: vocab, k: 10).map(\.id)
            for i in 0..<10 where ours[i] != ref.top10IDs[i] {
                guard let j = ref.top10IDs.firstIndex(of: ours[i]) else {
                    XCTFail("\(file) prompt \(s): our top-10 id \(ours[i]) at rank \(i) is not in the reference top 10 \(ref.top10IDs)")
                    continue
                }
                XCTAssertLessThanOrEqual(abs(ref.top10Logits[i] - ref.top10Logits[j]), 1e-3,
                    "\(file) prompt \(s): rank \(i) is \(ours[i]), reference \(ref.top10IDs[i])")
            }
            XCTAssertEqual(VectorKernels.argmax(row, count: vocab), ref.argmax)
            let mean = row.reduce(0.0) { $0 + Double($1) } / Double(vocab)
            XCTAssertEqual(mean, Double(ref.logitMean), accuracy: 1e-2, "\(file) prompt \(s): mean logit")
        }
    }

    func testSmolLM2GreedyGenerationMatchesTransformers() throws {
        try checkGeneration(model: try LoadedModels.smolLM2AsReference(), rows: try GenerationReference.load("smollm2"))
    }

    func testGemma3GreedyGenerationMatchesTransformers() throws {
        try checkGeneration(model: try LoadedModels.gemma3AsReference(), rows: try GenerationReference.load("gemma3"))
    }

    private func checkGeneration(model: LanguageModel, rows: [GenerationReference]) throws {
        let eos = Set(model.configuration.eosTokenIDs)
        XCTAssertFalse(eos.isEmpty)
        let generations = try model.generate(
            batch: rows.map(\.promptIDs), maxNewTokens: rows.map(\.greedyIDs.count).max()!, stopTokens: eos, topK: 5)
        for (row, generation) in zip(rows, generations) {
            // transformers stops at EOS or at max_new_tokens; compare over the reference's length.
            XCTAssertEqual(Array(generation.tokens.prefix(row.greedyIDs.count)), row.greedyIDs, "prompt \(row.prompt.debugDescription)")
            XCTAssertEqual(generation.firstStepTop.first?.id, row.top5IDs.first)
        }
    }
}
