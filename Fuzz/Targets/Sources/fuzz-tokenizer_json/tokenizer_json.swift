// tokenizer.json: the input is `tokenizer.json` beside a fixed tokenizer_config.json; the tokenizer
// it makes encodes, decodes and renders a chat.
import LanguageModels
import FuzzSupport

private let directory: String = {
    let dir = Scratch.subdirectory("tokenizer")
    Scratch.write(#"{"add_bos_token": false, "bos_token": "<|im_start|>", "eos_token": {"content": "<|im_end|>"}, "unk_token": null}"#,
                  to: dir + "/tokenizer_config.json")
    return dir
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTokenizerJSON(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let dir = directory
    Scratch.write(UnsafeRawBufferPointer(start: data, count: size), to: dir + "/tokenizer.json")
    guard let v = try? Tokenizer.vocabulary(directory: dir), v.tokens.count <= 1 << 12,
          let t = try? Tokenizer(vocabulary: v) else { return 0 }
    Exercise.tokenizer(t)
    return 0
}
