import Foundation
import XCTest
import TestSupport
import TensorKit
@testable import LanguageModels

/// Checkpoints whose headers lie about shapes and counts, and a FIFO given as the model: each must be
/// refused at once, with an error naming the file and the tensor or key, before anything is built.
final class HostileCheckpointTests: XCTestCase {
    /// token_embd.weight with dims (hidden, vocab, 1): the right element count, one extra dimension.
    func testGGUFTensorWithAnExtraDimension() throws {
        let dir = try temporaryDirectory("hostile-shape")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let tiny = TinyModel.make(.llama)
        let c = tiny.configuration
        let path = dir + "/model.gguf"
        try tiny.writeGGUF(to: path, shapeOverrides: ["token_embd.weight": [1, c.vocabSize, c.hiddenSize]])
        let message = quickError { _ = try LanguageModel.load(path: path) }
        XCTAssertEqual(message,
            "\(path): tensor 'token_embd.weight' has shape [1, \(c.vocabSize), \(c.hiddenSize)], expected [\(c.vocabSize), \(c.hiddenSize)]")
    }

    /// The same element count, dimensions swapped, in a safetensors checkpoint.
    func testSafetensorsTensorWithAnotherShape() throws {
        let dir = try temporaryDirectory("hostile-hf-shape")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var tiny = TinyModel.make(.qwen2)
        let i = tiny.tensors.firstIndex { $0.name == "model.layers.0.mlp.down_proj.weight" }!
        let shape = tiny.tensors[i].shape
        tiny.tensors[i].shape = [shape[0], shape[1], 1]
        _ = try tiny.writeHFDirectory(to: dir)
        let message = quickError { _ = try LanguageModel.load(path: dir) }
        XCTAssertTrue(message.contains("tensor 'model.layers.0.mlp.down_proj.weight' has shape [\(shape[0]), \(shape[1]), 1], expected \(shape)"), message)
        XCTAssertTrue(message.hasPrefix(dir), message)
    }

    /// block_count 2^20 (and 2^24) next to the tensors of two blocks.
    func testGGUFBlockCountLargerThanTheTensors() throws {
        let dir = try temporaryDirectory("hostile-blocks")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let tiny = TinyModel.make(.qwen2)
        let path = dir + "/model.gguf"
        for count in [UInt32(1 << 20), 1 << 24, 3] {
            try tiny.writeGGUF(to: path, metadataOverrides: ["qwen2.block_count": .uint32(count)])
            let message = quickError { _ = try LanguageModel.load(path: path) }
            XCTAssertTrue(message.hasPrefix(path), message)
            XCTAssertTrue(message.contains(count == 3 ? "'qwen2.block_count' is 3 but the file has tensors for blocks 0...1"
                                                      : "layer count \(count) is out of range"), message)
        }
    }

    /// Hostile sizes in config.json: layers, heads, hidden size, vocabulary, context.
    func testConfigJSONCountsOutOfRangeOrUnlikeTheTensors() throws {
        let dir = try temporaryDirectory("hostile-config")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let tiny = TinyModel.make(.llama)
        _ = try tiny.writeHFDirectory(to: dir)
        let configPath = dir + "/config.json"
        let original = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: configPath))) as! [String: Any]
        let cases: [(String, Any, String)] = [
            ("num_hidden_layers", 1 << 24, "layer count 16777216 is out of range"),
            ("num_hidden_layers", -1, "layer count -1 is out of range"),
            ("num_hidden_layers", 5, "'num_hidden_layers' is 5 but the file has tensors for blocks 0...2"),
            ("num_attention_heads", 1 << 30, "head count 1073741824 is out of range"),
            ("hidden_size", Int.max, "hidden size 9223372036854775807 is out of range"),
            ("vocab_size", 0, "vocab size 0 is out of range"),
            ("max_position_embeddings", -9223372036854775807, "context length -9223372036854775807 is out of range"),
            ("eos_token_id", 1e300, ""),  // not an Int: ignored, then the model loads
        ]
        for (key, value, expected) in cases {
            var config = original
            config[key] = value
            try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: configPath))
            if expected.isEmpty {
                XCTAssertNoThrow(try LanguageModel.load(path: dir))
                continue
            }
            let message = quickError { _ = try LanguageModel.load(path: dir) }
            XCTAssertTrue(message.hasPrefix(configPath) && message.contains(expected), "\(key): \(message)")
        }
    }

    func testFIFOAsTheModel() throws {
        let dir = try temporaryDirectory("hostile-fifo")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/model.gguf"
        XCTAssertEqual(mkfifo(path, 0o600), 0)
        XCTAssertEqual(quickError { _ = try LanguageModel.load(path: path) }, "\(path): is a FIFO, not a regular file")
        // A FIFO where a directory checkpoint's config.json should be.
        let hf = dir + "/hf"
        _ = try TinyModel.make(.llama).writeHFDirectory(to: hf)
        unlink(hf + "/config.json")
        XCTAssertEqual(mkfifo(hf + "/config.json", 0o600), 0)
        XCTAssertEqual(quickError { _ = try LanguageModel.load(path: hf) }, "\(hf)/config.json: is a FIFO, not a regular file")
    }

    /// --max-new-tokens 9223372036854775807 once gave "KV cache capacity -9223372036854775752".
    func testMaxNewTokensBeyondTheContext() throws {
        let dir = try temporaryDirectory("hostile-generate")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/model.gguf"
        try TinyModel.make(.llama).writeGGUF(to: path)
        let lm = try LanguageModel.load(path: path)
        XCTAssertEqual(quickError { _ = try lm.generate(batch: [[1, 5, 6]], maxNewTokens: Int.max, stopTokens: []) },
                       "\(path): generate: 9223372036854775807 new tokens are more than the model's context of 128 tokens")
        XCTAssertEqual(quickError { _ = try lm.generate(batch: [[1, 5, 6]], maxNewTokens: 126, stopTokens: []) },
                       "\(path): generate: prompt 0 has 3 tokens; with 126 new tokens that is more than the model's context of 128 tokens")
        XCTAssertEqual(try lm.generate(batch: [[1, 5, 6]], maxNewTokens: 2, stopTokens: [])[0].tokens.count, 2)
    }
}
