import Foundation
import XCTest
import TestSupport
import TensorKit
@testable import LanguageModels

final class InspectTests: XCTestCase {
    /// Facts from /work/shared/models/README.md.
    func testSmolLM2() throws {
        let r = try CheckpointInspection.inspect(path: try TestModels.smolLM2())
        XCTAssertEqual(r.format, .gguf)
        XCTAssertEqual(r.formatVersion, 3)
        XCTAssertEqual(r.architecture, "llama")
        let h = r.hyperParameters
        XCTAssertEqual(h.layers, 30)
        XCTAssertEqual(h.hiddenSize, 576)
        XCTAssertEqual(h.ffnSize, 1536)
        XCTAssertEqual(h.heads, 9)
        XCTAssertEqual(h.kvHeads, 3)
        XCTAssertEqual(h.headDim, 64)
        XCTAssertEqual(h.vocabSize, 49152)
        XCTAssertEqual(h.contextLength, 8192)
        XCTAssertEqual(h.ropeBase, 100_000)
        XCTAssertEqual(h.normEpsilon, 1e-5)
        XCTAssertNil(h.slidingWindow)
        XCTAssertEqual(r.tokenizer, "gpt2")
        XCTAssertTrue(r.hasChatTemplate)
        XCTAssertEqual(r.tensorCount, 272)
        XCTAssertEqual(r.typeCounts, ["Q4_1": 210, "Q8_0": 1, "F32": 61])
        XCTAssertEqual(r.tensors.first { $0.name == "token_embd.weight" }, .init(name: "token_embd.weight", type: "Q8_0", shape: [49152, 576], bytes: 30_081_024))
        XCTAssertFalse(r.tensors.contains { $0.name == "output.weight" }, "tied embeddings")
        XCTAssertEqual(r.parameterCount, r.tensors.reduce(0) { $0 + $1.shape.reduce(1, *) })
        XCTAssertEqual(r.parameterCount, 134_515_008)
        // The tensors fill the file's data section (from offset 1,785,664 to the end) without padding.
        XCTAssertEqual(r.tensorBytes, 98_362_432 - 1_785_664)

        let text = r.textReport()
        XCTAssertTrue(text.contains("layers          30\n"), text)
        XCTAssertTrue(text.contains("token_embd.weight          Q8_0  [49152, 576]  30081024"), text)
        let decoded = try JSONDecoder().decode(CheckpointInspection.self, from: Data(try r.jsonString().utf8))
        XCTAssertEqual(decoded, r)
    }

    func testGemma3() throws {
        let r = try CheckpointInspection.inspect(path: try TestModels.gemma3(), includeTensors: false)
        XCTAssertEqual(r.architecture, "gemma3")
        let h = r.hyperParameters
        XCTAssertEqual(h.layers, 18)
        XCTAssertEqual(h.hiddenSize, 640)
        XCTAssertEqual(h.ffnSize, 2048)
        XCTAssertEqual(h.heads, 4)
        XCTAssertEqual(h.kvHeads, 1)
        XCTAssertEqual(h.headDim, 256)
        XCTAssertEqual(h.vocabSize, 262_144)
        XCTAssertEqual(h.ropeBase, 1_000_000)
        XCTAssertEqual(h.normEpsilon, 1e-6)
        XCTAssertEqual(h.slidingWindow, 512)
        XCTAssertEqual(r.tokenizer, "llama")
        XCTAssertFalse(r.hasChatTemplate)
        XCTAssertEqual(r.tensorCount, 236)
        XCTAssertEqual(r.tensors, [], "inspected without the table")
        XCTAssertEqual(r.typeCounts, ["F32": 109, "Q5_0": 81, "Q4_K": 27, "Q8_0": 10, "Q6_K": 9])
        XCTAssertFalse(r.textReport().contains("token_embd"))
    }

    /// A tokenizer.json beyond a config file's 16 MiB bound is inspected as the tokenizer loader reads it:
    /// Gemma 3's real one is 33 MB (found on a synthetic 12B-shaped checkpoint carrying the Gemma tokenizer).
    func testTokenizerLargerThanAConfigFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("inspect-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        try SafetensorsCheckpointWriter.write(tensors: [
            ("model.embed_tokens.weight", .bf16, [10, 4], [UInt8](repeating: 0, count: 80)),
        ], to: dir.path, maxShardBytes: 100)
        let padding = String(repeating: " ", count: ModelConfiguration.maxConfigFileBytes + 1)
        let json = #"{"model": {"type": "BPE", "vocab": {}},"# + padding + #""added_tokens": []}"#
        try Data(json.utf8).write(to: dir.appendingPathComponent("tokenizer.json"))
        XCTAssertEqual(try CheckpointInspection.inspect(path: dir.path).tokenizer, "BPE")
    }

    /// A Hugging Face directory written here: sharded safetensors, a transformers-5 style config with
    /// `text_config` and `rope_parameters`, a tokenizer.json and a chat template file.
    func testHuggingFaceDirectory() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("inspect-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        try SafetensorsCheckpointWriter.write(tensors: [
            ("model.embed_tokens.weight", .bf16, [10, 4], [UInt8](repeating: 0, count: 80)),
            ("model.layers.0.self_attn.q_proj.weight", .bf16, [4, 4], [UInt8](repeating: 0, count: 32)),
            ("model.norm.weight", .f32, [4], [UInt8](repeating: 0, count: 16)),
        ], to: dir.path, maxShardBytes: 100)
        let config = """
        {"architectures": ["Gemma3ForConditionalGeneration"], "model_type": "gemma3",
         "text_config": {"num_hidden_layers": 1, "hidden_size": 4, "intermediate_size": 8, "num_attention_heads": 2,
           "num_key_value_heads": 1, "head_dim": 3, "vocab_size": 10, "max_position_embeddings": 128,
           "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0}, "rms_norm_eps": 1e-06, "sliding_window": null}}
        """
        try Data(config.utf8).write(to: dir.appendingPathComponent("config.json"))
        try Data(#"{"model": {"type": "BPE", "vocab": {}}}"#.utf8).write(to: dir.appendingPathComponent("tokenizer.json"))
        try Data("{{ messages }}".utf8).write(to: dir.appendingPathComponent("chat_template.jinja"))

        let r = try CheckpointInspection.inspect(path: dir.path)
        XCTAssertEqual(r.format, .huggingFace)
        XCTAssertEqual(r.architecture, "gemma3")
        XCTAssertEqual(r.modelName, "Gemma3ForConditionalGeneration")
        var expected = CheckpointInspection.HyperParameters()
        expected.layers = 1
        expected.hiddenSize = 4
        expected.ffnSize = 8
        expected.heads = 2
        expected.kvHeads = 1
        expected.headDim = 3
        expected.vocabSize = 10
        expected.contextLength = 128
        expected.ropeBase = 10000
        expected.normEpsilon = 1e-6
        XCTAssertEqual(r.hyperParameters, expected)
        XCTAssertEqual(r.tokenizer, "BPE")
        XCTAssertTrue(r.hasChatTemplate)
        XCTAssertEqual(r.tensorCount, 3)
        XCTAssertEqual(r.parameterCount, 40 + 16 + 4)
        XCTAssertEqual(r.tensorBytes, 128)
        XCTAssertEqual(r.typeCounts, ["BF16": 2, "F32": 1])
        XCTAssertEqual(Set(r.tensors.map(\.name)), ["model.embed_tokens.weight", "model.layers.0.self_attn.q_proj.weight", "model.norm.weight"])

        // A GPT-2 style flat config with the old key names.
        var flat = CheckpointInspection.HyperParameters()
        flat.layers = 12; flat.hiddenSize = 768; flat.heads = 12; flat.kvHeads = 12; flat.headDim = 64
        flat.vocabSize = 50257; flat.contextLength = 1024; flat.normEpsilon = 1e-5
        XCTAssertEqual(CheckpointInspection.hyperParameters(
            ["n_layer": 12, "n_embd": 768, "n_head": 12, "vocab_size": 50257, "n_positions": 1024, "layer_norm_epsilon": 1e-5]), flat)

        // One shard alone (the second: q_proj and norm; F32 before BF16 in the data).
        let shard = try XCTUnwrap(SafetensorsCheckpoint(directory: dir.path).file(for: "model.norm.weight"))
        let single = try CheckpointInspection.inspect(path: shard)
        XCTAssertEqual(single.format, .safetensors)
        XCTAssertNil(single.architecture)
        XCTAssertEqual(single.tensors.map(\.name), ["model.norm.weight", "model.layers.0.self_attn.q_proj.weight"])
    }

    func testBadInputIsAClearError() throws {
        XCTAssertThrowsError(try CheckpointInspection.inspect(path: "/no/such/model.gguf")) { error in
            XCTAssertEqual(error as? ModelError, .invalidInput("/no/such/model.gguf: no such file or directory"))
        }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("notamodel-\(UUID().uuidString).bin").path
        defer { unlink(path) }
        try Data("hello".utf8).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try CheckpointInspection.inspect(path: path)) { error in
            XCTAssertEqual(error as? ModelError,
                           .invalidInput("\(path): not a GGUF file, a .safetensors file or a Hugging Face model directory"))
        }
        // A truncated GGUF: the reader's typed error, naming the file.
        try Data("GGUF".utf8 + [3, 0, 0, 0]).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try CheckpointInspection.inspect(path: path)) { error in
            guard case .malformed(let file, _, _)? = error as? TensorKitError else { return XCTFail("\(error)") }
            XCTAssertEqual(file, path)
        }
    }
}
