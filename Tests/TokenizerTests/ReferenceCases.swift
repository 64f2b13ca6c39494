import Foundation
import XCTest
import TestSupport
@testable import LanguageModels

/// One model's entry of `tokenizer_cases.json`.
struct ReferenceCases {
    struct Case { let text: String; let ids: [Int]; let decoded: String }
    struct Render { let messages: [ChatMessage]; let addGenerationPrompt: Bool; let text: String; let ids: [Int] }
    let cases: [Case]
    let renders: [Render]
    let bos: Int
    let eos: Int

    static func load(_ model: String) throws -> ReferenceCases {
        let all = try XCTUnwrap(try Fixtures.referenceJSON("tokenizer_cases.json") as? [String: Any])
        let m = try XCTUnwrap(all[model] as? [String: Any], "no \(model) in tokenizer_cases.json")
        let cases = try XCTUnwrap(m["cases"] as? [[String: Any]]).map {
            Case(text: $0["text"] as! String, ids: $0["ids"] as! [Int], decoded: $0["decoded"] as! String)
        }
        let renders = (m["chat_template_renders"] as? [[String: Any]] ?? []).map { r in
            Render(messages: (r["messages"] as! [[String: String]]).map { ChatMessage(role: $0["role"]!, content: $0["content"]!) },
                   addGenerationPrompt: r["add_generation_prompt"] as! Bool, text: r["text"] as! String, ids: r["ids"] as! [Int])
        }
        return ReferenceCases(cases: cases, renders: renders, bos: m["bos_token_id"] as! Int, eos: m["eos_token_id"] as! Int)
    }

    /// Checks every case (ids, decode, round trip) and every chat rendering against `tokenizer`.
    func check(_ tokenizer: Tokenizer, _ label: String, file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertEqual(tokenizer.bosTokenID, bos, "\(label): BOS", file: file, line: line)
        XCTAssertEqual(tokenizer.eosTokenID, eos, "\(label): EOS", file: file, line: line)
        XCTAssertEqual(cases.count, 29, file: file, line: line)
        for c in cases {
            let ids = tokenizer.encode(c.text)
            XCTAssertEqual(ids, c.ids, "\(label): ids of \(c.text.debugDescription)", file: file, line: line)
            XCTAssertEqual(tokenizer.decode(c.ids), c.decoded, "\(label): decode of \(c.text.debugDescription)", file: file, line: line)
            if c.decoded == c.text {
                XCTAssertEqual(tokenizer.decode(ids), c.text, "\(label): round trip of \(c.text.debugDescription)", file: file, line: line)
            }
        }
        for r in renders {
            let text = try tokenizer.renderChat(messages: r.messages, addGenerationPrompt: r.addGenerationPrompt)
            XCTAssertEqual(text, r.text, "\(label): chat rendering", file: file, line: line)
            XCTAssertEqual(try tokenizer.encodeChat(messages: r.messages, addGenerationPrompt: r.addGenerationPrompt), r.ids,
                           "\(label): chat ids", file: file, line: line)
        }
    }
}
