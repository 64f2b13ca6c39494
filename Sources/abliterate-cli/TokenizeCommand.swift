import AbliterationCore
import AbliterationPipeline
import ArgumentParser
import Foundation
import LanguageModels
import TensorKit

/// `abliterate tokenize`: the token ids and pieces a model sees for a text.
struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Print the token ids and pieces a model sees for a text.",
        discussion: """
            MODEL is a .gguf file or a Hugging Face directory (tokenizer.json + tokenizer_config.json).
            Examples:
              abliterate tokenize --model SmolLM2-135M-Instruct.Q4_1.gguf --text "Hello, world!"
              abliterate tokenize --model model.gguf --text "How do I bake bread?" --chat
              abliterate tokenize --model hf-dir --text "naïve café" --json
            """)

    @Option(help: "A .gguf file or a Hugging Face model directory.")
    var model: String

    @Option(help: "The text to tokenize (with --chat: the user message).")
    var text: String

    @Flag(help: "Render the text as a user turn with the model's chat template (generation prompt added).")
    var chat = false

    @Option(help: "With --chat: a system message to put first.")
    var system: String?

    @Flag(help: "Add BOS the way the model does for raw text (add_bos_token); never doubles one.")
    var addSpecialTokens = false

    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    func run() throws {
        try reportingErrors("tokenize") {
            let tokenizer = try Tokenizer.load(path: model)
            var rendered = text
            let ids: [Int]
            if chat {
                var messages: [ChatMessage] = []
                if let system { messages.append(ChatMessage(role: "system", content: system)) }
                messages.append(ChatMessage(role: "user", content: text))
                rendered = try tokenizer.renderChat(messages: messages, addGenerationPrompt: true)
                ids = tokenizer.encode(rendered)
            } else {
                ids = tokenizer.encode(text, addSpecialTokens: addSpecialTokens)
            }
            let pieces = ids.map { tokenizer.token($0) ?? "" }
            let texts = ids.map { tokenizer.decode([$0]) }
            if json {
                let object: [String: Any] = [
                    "model": model, "text": rendered, "ids": ids, "pieces": pieces, "texts": texts,
                    "special": ids.map { tokenizer.specialTokenIDs.contains($0) },
                ]
                let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
                print(String(decoding: data, as: UTF8.self))
                return
            }
            if chat { print("rendered: \(escaped(rendered))") }
            print("\(ids.count) tokens")
            print("ids: \(ids.map(String.init).joined(separator: " "))")
            let width = String(ids.max() ?? 0).count
            for (i, id) in ids.enumerated() {
                let pad = String(repeating: " ", count: max(0, width - String(id).count))
                let mark = tokenizer.specialTokenIDs.contains(id) ? "  (special)" : ""
                print("\(String(format: "%5d", i))  \(pad)\(id)  \(escaped(pieces[i]))  \"\(escaped(texts[i]))\"\(mark)")
            }
        }
    }

    /// Control characters written as escapes so each piece stays on one line.
    private func escaped(_ s: String) -> String {
        var out = ""
        for u in s.unicodeScalars {
            switch u {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default: if u.value < 0x20 { out += String(format: "\\x%02x", u.value) } else { out.unicodeScalars.append(u) }
            }
        }
        return out
    }
}
