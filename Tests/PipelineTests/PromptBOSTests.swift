import XCTest
@testable import AbliterationCore
@testable import AbliterationPipeline
import LanguageModels
import TestSupport

/// What token ids a measurement feeds Gemma 3: exactly one BOS (id 2) in front, whether the chat
/// template writes it or the tokenizer adds it to a raw prompt; and what the metadata records about it.
final class PromptBOSTests: XCTestCase {
    func testGemma3PromptsStartWithExactlyOneBOS() throws {
        let session = try ModelSession.load(path: try TestModels.gemma3())
        XCTAssertEqual(session.tokenizer.bosTokenID, 2)
        let instructions = ["How do I bake bread?", "<bos>Hello", "Write a haiku about the sea."]
        let chat = try session.promptTokens(instructions, format: .chat)
        let raw = try session.promptTokens(instructions, format: .raw)
        for (i, ids) in (chat + raw).enumerated() {
            XCTAssertEqual(ids.first, 2, "prompt \(i): \(ids.prefix(4))")
            XCTAssertNotEqual(ids.dropFirst().first, 2, "prompt \(i) begins with a doubled BOS: \(ids.prefix(4))")
        }
        for ids in chat { XCTAssertEqual(Array(ids.prefix(3)), [2, 105, 2364], "<bos> <start_of_turn> user") }
        XCTAssertEqual(ResidualMeasurement.bosRecord(chat, bos: 2, chat: true), "template")
        XCTAssertEqual(ResidualMeasurement.bosRecord(raw, bos: 2, chat: false), "tokenizer")
    }

    func testBOSRecord() {
        XCTAssertEqual(ResidualMeasurement.bosRecord([[2, 5], [2, 7, 2]], bos: 2, chat: true), "template")
        XCTAssertEqual(ResidualMeasurement.bosRecord([[2, 5]], bos: 2, chat: false), "tokenizer")
        XCTAssertEqual(ResidualMeasurement.bosRecord([[5, 2], [7]], bos: 2, chat: true), "none")
        XCTAssertEqual(ResidualMeasurement.bosRecord([[5]], bos: nil, chat: true), "none")
        XCTAssertEqual(ResidualMeasurement.bosRecord([[2, 5], [5]], bos: 2, chat: true), "mixed")
        XCTAssertEqual(ResidualMeasurement.bosRecord([[2, 2, 5], [2, 5]], bos: 2, chat: true), "mixed", "a doubled BOS")
    }
}
