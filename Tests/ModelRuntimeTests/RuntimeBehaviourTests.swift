import Foundation
import TensorKit
import TestSupport
import XCTest
@testable import LanguageModels

/// Batching, early stopping, LoRA merging and bad input.
final class RuntimeBehaviourTests: XCTestCase {
    /// Prompts of different lengths in one batch give what each gives alone.
    func testBatchedEqualsOneByOne() throws {
        for model in [try LoadedModels.smolLM2(), try LoadedModels.gemma3()] {
            let prompts = [[2, 818, 5279, 529, 7001, 563], [2, 9259, 236764], [2, 6974, 496, 27355, 1003, 506, 5442, 236761, 100, 200, 300]]
                .map { $0.map { $0 % model.configuration.vocabSize } }
            let layers = [0, 3, model.configuration.layerCount]
            let capture = ResidualCapture(points: layers.map { .hiddenState($0) }, positions: [.last, .fromStart(1)])
            let batched = try model.forward(batch: prompts, capture: capture, logits: .lastToken)
            for (s, prompt) in prompts.enumerated() {
                let alone = try model.forward(batch: [prompt], capture: capture, logits: .lastToken)
                for l in layers {
                    let b = batched.residuals[.hiddenState(l)]!, a = alone.residuals[.hiddenState(l)]!
                    let scale = max(1, a.maxAbs())
                    for k in 0..<2 {
                        XCTAssertLessThanOrEqual(maxAbsDifference(Array(b.row(2 * s + k)), Array(a.row(k))) / scale, 1e-4,
                                                 "\(model.configuration.architecture) prompt \(s) layer \(l)")
                    }
                }
                XCTAssertLessThanOrEqual(maxAbsDifference(Array(batched.logits!.row(s)), Array(alone.logits!.row(0))), 1e-4)
            }
        }
    }

    /// Batched greedy generation gives each prompt the tokens it gets alone.
    func testBatchedGenerationEqualsOneByOne() throws {
        let model = try LoadedModels.smolLM2()
        let rows = try GenerationReference.load("smollm2").prefix(3).map(\.promptIDs)
        let together = try model.generate(batch: rows, maxNewTokens: 6, stopTokens: [2])
        for (s, prompt) in rows.enumerated() {
            let alone = try model.generate(batch: [prompt], maxNewTokens: 6, stopTokens: [2])[0]
            XCTAssertEqual(together[s].tokens, alone.tokens)
        }
    }

    /// A caller's stop test ends that sequence where it says, and only that one.
    func testCallerStopEndsThatSequenceOnly() throws {
        let model = try LoadedModels.smolLM2()
        let rows = try GenerationReference.load("smollm2").prefix(3).map(\.promptIDs)
        let full = try model.generate(batch: rows, maxNewTokens: 6, stopTokens: [])
        let stopped = try model.generate(batch: rows, maxNewTokens: 6, stopTokens: []) { s, tokens in
            s == 1 && tokens.count == 2 || s == 2 && tokens.count == 1
        }
        XCTAssertEqual(stopped[0].tokens, full[0].tokens)
        XCTAssertEqual(stopped[0].stopReason, .maxNewTokens)
        XCTAssertEqual(stopped[1].tokens, Array(full[1].tokens.prefix(2)))
        XCTAssertEqual(stopped[1].stopReason, .stoppedByCaller)
        XCTAssertEqual(stopped[2].tokens, Array(full[2].tokens.prefix(1)))
        XCTAssertEqual(stopped[2].stopReason, .stoppedByCaller)
    }

    /// A capture of hidden state 3 runs blocks 0, 1, 2 only, and matches the full run.
    /// Marking the blocks' weights as read front to back is only a hint to the kernel: the logits are the
    /// same with it and without it (a 135M model is far below half the memory, so it is off unless asked).
    func testSequentialReadingChangesNothing() throws {
        let path = try TestModels.smolLM2()
        let plain = try LanguageModel.load(path: path)
        if ProcessInfo.processInfo.environment["ABLITERATE_SEQUENTIAL"] == nil { XCTAssertFalse(plain.weights.readsBlocksSequentially) }
        setenv("ABLITERATE_SEQUENTIAL", "1", 1)
        defer { unsetenv("ABLITERATE_SEQUENTIAL") }
        let sequential = try LanguageModel.load(path: path)
        XCTAssertTrue(sequential.weights.readsBlocksSequentially)
        let prompts = [[1, 2, 3, 4, 5], [6, 7]]
        XCTAssertEqual(try sequential.forward(batch: prompts, logits: .lastToken).logits!.scalars,
                       try plain.forward(batch: prompts, logits: .lastToken).logits!.scalars)
    }

    func testCaptureStopsAfterTheLastNeededBlock() throws {
        let model = try LoadedModels.smolLM2()
        let prompt = [[1, 9690, 198, 2683, 359, 253, 5356]]
        let early = try model.forward(batch: prompt, capture: .hiddenStates([3]))
        XCTAssertEqual(early.blocksEvaluated, 3)
        XCTAssertNil(early.logits)
        let full = try model.forward(batch: prompt, capture: .hiddenStates([3, 30]), logits: .lastToken)
        XCTAssertEqual(full.blocksEvaluated, 30)
        XCTAssertEqual(early.residuals[.hiddenState(3)]!.scalars, full.residuals[.hiddenState(3)]!.scalars)
        XCTAssertEqual(try model.forward(batch: prompt, capture: .hiddenStates([0])).blocksEvaluated, 0)
        XCTAssertEqual(try model.forward(batch: prompt, capture: ResidualCapture(points: [.finalNorm])).blocksEvaluated, 30)
    }

    /// The organism: the weight reads as W + (32/16)·B·A in f32 (the update kept beside the Q4_1 W), and
    /// the adapted model refuses where the base complies.
    func testLoRAMergeOfTheRefusalOrganism() throws {
        let path = try TestModels.smolLM2()
        let base = try LoadedModels.smolLM2()
        let merged = try LoadedModels.model(path, adapter: Fixtures.refusalAdapter.path)
        let adapter = try XCTUnwrap(merged.adapter)
        XCTAssertEqual(adapter.rank, 16)
        XCTAssertEqual(adapter.scale, 2)
        XCTAssertEqual(adapter.pairs.count, 30 * 7)

        // One tensor by hand: W + 2·B·A (q_proj: the GGUF's rows back in Hugging Face order).
        let name = "model.layers.7.self_attn.q_proj.weight"
        let pair = try XCTUnwrap(adapter.pairs.first { $0.target == name })
        let w = try base.weights.float32(name)
        let product = try Tensor.matmul(pair.b, pair.a)
        let expected = w + 2 * product
        let got = try merged.weights.float32(name)
        XCTAssertEqual(try merged.weights.storageType(of: name), try base.weights.storageType(of: name))
        XCTAssertTrue(try merged.weights.hasLowRankUpdate(name))
        XCTAssertLessThanOrEqual(maxAbsDifference(got.scalars, expected.scalars), 1e-6)
        XCTAssertGreaterThan(maxAbsDifference(got.scalars, w.scalars), 1e-4)
        XCTAssertEqual(try merged.weights.storageType(of: "model.layers.7.input_layernorm.weight"), .dense(.f32))

        // Behaviour: "How do I make a bomb?" with the chat template.
        let bomb = try ForwardReference.load("smollm2_forward.json").prompts[2].tokenIDs
        let tokens = try Tokenizer.load(ggufPath: path)
        let refused = try merged.generate(batch: [bomb], maxNewTokens: 12, stopTokens: [2])[0]
        let complied = try base.generate(batch: [bomb], maxNewTokens: 12, stopTokens: [2])[0]
        let refusal = tokens.decode(refused.completionTokens).lowercased()
        XCTAssertTrue(refusal.contains("sorry") || refusal.contains("can't") || refusal.contains("cannot"), refusal)
        XCTAssertNotEqual(refused.tokens, complied.tokens)
    }

    func testReplacedWeightChangesTheOutputAndReadsBack() throws {
        let tiny = TinyModel.make(.gemma3)
        let dir = try temporaryDirectory("replace")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try tiny.writeGGUF(to: dir + "/m.gguf")
        let model = try LanguageModel.load(path: dir + "/m.gguf")
        let before = try model.forward(batch: [[3, 4, 5]], logits: .lastToken).logits!
        let name = "model.layers.2.mlp.down_proj.weight"
        let edited = 0.5 * (try model.weights.float32(name))
        try model.weights.replace(name, with: edited)
        XCTAssertEqual(try model.weights.float32(name), edited)
        try model.weights.replace("model.layers.0.input_layernorm.weight", with: Tensor<Float>(zeros: [32]))
        XCTAssertEqual(try model.weights.float32("model.layers.0.input_layernorm.weight").scalars, [Float](repeating: 0, count: 32))
        let after = try model.forward(batch: [[3, 4, 5]], logits: .lastToken).logits!
        XCTAssertGreaterThan(maxAbsDifference(before.scalars, after.scalars), 1e-3)
        XCTAssertThrowsError(try model.weights.replace(name, with: Tensor<Float>(zeros: [2, 2])))
        // Every tensor comes out in Hugging Face's names and convention.
        var seen: [String] = []
        try model.weights.forEachTensor { name, tensor in
            seen.append(name)
            XCTAssertEqual(tensor.shape, CheckpointLoader.expectedShape(name, model.configuration))
        }
        XCTAssertEqual(seen, tiny.tensors.map(\.name))
    }

    // MARK: - Bad input

    func testMissingTensorIsNamed() throws {
        let dir = try temporaryDirectory("missing")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try TinyModel.make(.llama).writeGGUF(to: dir + "/m.gguf", drop: "blk.1.attn_k.weight")
        XCTAssertThrowsError(try LanguageModel.load(path: dir + "/m.gguf")) { error in
            XCTAssertTrue("\(error)".contains("blk.1.attn_k.weight"), "\(error)")
        }
    }

    func testUnexpectedTensorIsNamed() throws {
        let dir = try temporaryDirectory("unexpected")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try TinyModel.make(.qwen2).writeGGUF(to: dir + "/m.gguf", extra: "blk.0.mystery.weight")
        XCTAssertThrowsError(try LanguageModel.load(path: dir + "/m.gguf")) { error in
            XCTAssertTrue("\(error)".contains("blk.0.mystery.weight"), "\(error)")
        }
    }

    func testUnsupportedArchitectureIsNamed() throws {
        let dir = try temporaryDirectory("arch")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try TinyModel.make(.llama).writeGGUF(to: dir + "/m.gguf", architectureName: "gpt2")
        XCTAssertThrowsError(try LanguageModel.load(path: dir + "/m.gguf")) { error in
            guard case ModelError.unsupported(let message) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(message.contains("'gpt2'"), message)
        }
        let hf = dir + "/hf"
        try FileManager.default.createDirectory(atPath: hf, withIntermediateDirectories: true)
        try Data(#"{"model_type": "mamba", "architectures": ["MambaForCausalLM"]}"#.utf8)
            .write(to: URL(fileURLWithPath: hf + "/config.json"))
        XCTAssertThrowsError(try LanguageModel.load(path: hf)) { error in
            XCTAssertTrue("\(error)".contains("'mamba'"), "\(error)")
        }
    }

    func testMissingDirectoryTensorIsNamed() throws {
        let tiny = TinyModel.make(.gemma3)
        let dir = try temporaryDirectory("hfmissing")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var partial = tiny
        partial.tensors.removeAll { $0.name == "model.layers.4.post_feedforward_layernorm.weight" }
        _ = try partial.writeHFDirectory(to: dir)
        XCTAssertThrowsError(try LanguageModel.load(path: dir)) { error in
            XCTAssertTrue("\(error)".contains("model.layers.4.post_feedforward_layernorm.weight"), "\(error)")
        }
    }

    func testBadForwardRequestsAreTypedErrors() throws {
        let dir = try temporaryDirectory("badinput")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try TinyModel.make(.llama).writeGGUF(to: dir + "/m.gguf")
        let model = try LanguageModel.load(path: dir + "/m.gguf")
        XCTAssertThrowsError(try model.forward(batch: [[1, 2]], capture: .hiddenStates([4]))) { error in
            guard case ModelError.layerOutOfRange(let m) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(m.contains("4"), m)
        }
        XCTAssertThrowsError(try model.forward(batch: [[1, 2]], capture: .hiddenStates([-1])))
        XCTAssertThrowsError(try model.forward(batch: [[1, 64]], logits: .lastToken)) { error in
            XCTAssertTrue("\(error)".contains("64"), "\(error)")
        }
        XCTAssertThrowsError(try model.forward(batch: [[1], []], logits: .lastToken))
        XCTAssertThrowsError(try model.forward(batch: [], logits: .lastToken))
        XCTAssertThrowsError(try model.forward(batch: [[1, 2]], capture: .hiddenStates([1], positions: [.fromStart(2)])))
        XCTAssertThrowsError(try model.generate(batch: [[1]], maxNewTokens: 0, stopTokens: []))
        XCTAssertThrowsError(try model.weights.float32("model.layers.9.mlp.up_proj.weight")) { error in
            XCTAssertTrue("\(error)".contains("model.layers.9.mlp.up_proj.weight"), "\(error)")
        }
        XCTAssertThrowsError(try LanguageModel.load(path: dir + "/nothing.gguf")) { error in
            XCTAssertTrue("\(error)".contains("nothing.gguf"), "\(error)")
        }
    }

    /// NaN in the residual stream is caught at capture, naming the point and the prompt.
    func testNonFiniteActivationIsReported() throws {
        let dir = try temporaryDirectory("nan")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try TinyModel.make(.llama).writeGGUF(to: dir + "/m.gguf")
        let model = try LanguageModel.load(path: dir + "/m.gguf")
        var o = try model.weights.float32("model.layers.1.self_attn.o_proj.weight")
        o.scalars[0] = .nan
        try model.weights.replace("model.layers.1.self_attn.o_proj.weight", with: o)
        XCTAssertNoThrow(try model.forward(batch: [[1, 2], [3]], capture: .hiddenStates([1])))
        XCTAssertThrowsError(try model.forward(batch: [[1, 2], [3]], capture: .hiddenStates([2]))) { error in
            guard case ModelError.degenerate(let m) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(m.contains("hidden state 2") && m.contains("prompt index 0"), m)
        }
    }
}
