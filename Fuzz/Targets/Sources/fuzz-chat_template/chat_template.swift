// Chat templates: the input is the Jinja source; it is parsed, then rendered for a fixed
// conversation with and without the generation prompt.
import LanguageModels
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzChatTemplate(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let source = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    guard let template = try? ChatTemplate(source: source, bosToken: "<s>", eosToken: "</s>",
                                           unknownToken: "<unk>", paddingToken: "<pad>") else { return 0 }
    _ = try? template.render(messages: Exercise.messages, addGenerationPrompt: true)
    _ = try? template.render(messages: Array(Exercise.messages.dropFirst(3)), addGenerationPrompt: false)
    return 0
}
