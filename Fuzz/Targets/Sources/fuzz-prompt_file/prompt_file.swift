// Prompt files: the first byte picks the format (txt, jsonl, json, csv) and the field (default
// fields, "prompt" or "text"); the rest is the file's bytes, read as `PromptFile.load(path:)` reads them (line limits included).
import Foundation
import FuzzSupport
@testable import AbliterationPipeline

private let names = ["prompts.txt", "prompts.jsonl", "prompts.json", "prompts.csv"]
private let fields: [String?] = [nil, "prompt", "text", nil]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPromptFile(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 1 else { return 0 }
    let name = names[Int(data[0] & 3)]
    let field = fields[Int((data[0] >> 2) & 3)]
    let bytes = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    guard let result = try? PromptFile.load(bytes: bytes, path: name, field: field) else { return 0 }
    // What load promises: trimmed, non-empty, unique prompts; every record accounted for.
    precondition(!result.prompts.isEmpty)
    precondition(Set(result.prompts).count == result.prompts.count)
    for p in result.prompts {
        precondition(p == p.trimmingCharacters(in: .whitespacesAndNewlines) && !p.isEmpty)
    }
    return 0
}
