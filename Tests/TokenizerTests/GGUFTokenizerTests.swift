import Foundation
import XCTest
import TestSupport
import TensorKit
@testable import LanguageModels

/// The tokenizers of the two real models, loaded from their GGUF files, against Hugging Face's ids.
final class GGUFTokenizerTests: XCTestCase {
    func testSmolLM2MatchesHuggingFace() throws {
        let tokenizer = try Tokenizer.load(ggufPath: try TestModels.smolLM2())
        XCTAssertEqual(tokenizer.vocabulary.model, .byteLevelBPE)
        XCTAssertEqual(tokenizer.vocabulary.preTokenization, .gpt2IndividualDigits)
        XCTAssertFalse(tokenizer.vocabulary.addBOS)
        let reference = try ReferenceCases.load("smollm2-135m-instruct")
        XCTAssertEqual(reference.renders.count, 2)
        try reference.check(tokenizer, "SmolLM2 (GGUF)")
        XCTAssertTrue(tokenizer.endOfTurnTokenIDs.contains(2))
    }

    func testGemma3MatchesHuggingFace() throws {
        let tokenizer = try Tokenizer.load(ggufPath: try TestModels.gemma3())
        XCTAssertEqual(tokenizer.vocabulary.model, .sentencePieceBPE)
        XCTAssertTrue(tokenizer.vocabulary.addBOS)
        try ReferenceCases.load("gemma-3-270m").check(tokenizer, "Gemma 3 (GGUF)")
        XCTAssertEqual(tokenizer.id(ofToken: "<end_of_turn>").map { tokenizer.endOfTurnTokenIDs.contains($0) }, true)
    }
}
