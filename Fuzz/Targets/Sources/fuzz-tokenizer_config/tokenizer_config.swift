// tokenizer_config.json: the input is `tokenizer_config.json` (special tokens, add_bos_token,
// chat_template as a string or a list) beside a fixed byte-level BPE tokenizer.json.
import LanguageModels
import FuzzSupport

let fixedTokenizerJSON = #"""
{"version": "1.0", "added_tokens": [
  {"id": 0, "content": "<|endoftext|>", "special": true}, {"id": 1, "content": "<|im_start|>", "special": true},
  {"id": 2, "content": "<|im_end|>", "special": true}, {"id": 3, "content": "<tool>", "special": false}],
 "normalizer": null,
 "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
 "post_processor": {"type": "TemplateProcessing", "single": [{"Sequence": {"id": "A", "type_id": 0}}]},
 "model": {"type": "BPE", "dropout": null, "unk_token": null, "byte_fallback": false,
  "vocab": {"<|endoftext|>": 0, "<|im_start|>": 1, "<|im_end|>": 2, "<tool>": 3, "H": 4, "e": 5, "l": 6, "o": 7,
            "\u0120": 8, "w": 9, "r": 10, "d": 11, "He": 12, "ll": 13, "llo": 14, "Hello": 15, "\u0120w": 16,
            "or": 17, "\u0120wor": 18, "1": 19, "2": 20, "u": 21, "s": 22, "er": 23, "\u010a": 24, "!": 25},
  "merges": ["H e", "l l", "ll o", "He llo", "\u0120 w", "o r", "\u0120w or", ["e", "r"]]}}
"""#

private let directory: String = {
    let dir = Scratch.subdirectory("tokenizer")
    Scratch.write(fixedTokenizerJSON, to: dir + "/tokenizer.json")
    return dir
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTokenizerConfig(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let dir = directory
    Scratch.write(UnsafeRawBufferPointer(start: data, count: size), to: dir + "/tokenizer_config.json")
    guard let t = try? Tokenizer.load(directory: dir) else { return 0 }
    Exercise.tokenizer(t)
    return 0
}
