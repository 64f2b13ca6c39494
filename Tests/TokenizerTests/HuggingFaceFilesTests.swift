import Foundation
import XCTest
import TestSupport
import TensorKit
@testable import LanguageModels

/// The `tokenizer.json` path: export each GGUF-loaded tokenizer with `writeHuggingFaceFiles`, load the
/// directory back through `load(directory:)`, and check every reference case again.
final class HuggingFaceFilesTests: XCTestCase {
    private func roundTrip(_ gguf: String, _ model: String) throws -> (Tokenizer, Tokenizer, URL) {
        let original = try Tokenizer.load(ggufPath: gguf)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tok-\(model)-\(UUID().uuidString)")
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        try original.writeHuggingFaceFiles(to: dir.path)
        for file in ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent(file).path), file)
        }
        return (original, try Tokenizer.load(directory: dir.path), dir)
    }

    func testSmolLM2ThroughTokenizerJSON() throws {
        let (original, loaded, dir) = try roundTrip(try TestModels.smolLM2(), "smollm2")
        XCTAssertEqual(loaded.vocabulary.preTokenization, .gpt2IndividualDigits)
        XCTAssertEqual(loaded.vocabulary.addBOS, false)
        XCTAssertEqual(loaded.vocabulary.chatTemplate, original.vocabulary.chatTemplate)
        XCTAssertEqual(loaded.vocabularySize, original.vocabularySize)
        try ReferenceCases.load("smollm2-135m-instruct").check(loaded, "SmolLM2 (tokenizer.json)")
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("tokenizer_config.json"))) as? [String: Any]
        XCTAssertEqual(config?["bos_token"] as? String, "<|im_start|>")
        XCTAssertEqual(config?["eos_token"] as? String, "<|im_end|>")
    }

    func testGemma3ThroughTokenizerJSON() throws {
        let (original, loaded, _) = try roundTrip(try TestModels.gemma3(), "gemma3")
        XCTAssertEqual(loaded.vocabulary.model, .sentencePieceBPE)
        XCTAssertEqual(loaded.vocabulary.addBOS, true)
        XCTAssertEqual(loaded.vocabularySize, original.vocabularySize)
        XCTAssertEqual(original.mergePairs.count, 514_906)   // what transformers derives from this GGUF
        XCTAssertEqual(loaded.mergePairs.count, original.mergePairs.count)
        try ReferenceCases.load("gemma-3-270m").check(loaded, "Gemma 3 (tokenizer.json)")
        XCTAssertEqual(loaded.encode("Hello", addSpecialTokens: true), [2, 9259])
    }

    func testUnsupportedPreTokenizerIsNamed() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tok-bad-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        let json = #"{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]}, "pre_tokenizer": {"type": "Whitespace"}}"#
        try Data(json.utf8).write(to: dir.appendingPathComponent("tokenizer.json"))
        XCTAssertThrowsError(try Tokenizer.load(directory: dir.path)) { error in
            XCTAssertTrue("\(error)".contains("Whitespace"), "\(error)")
        }
    }
}
