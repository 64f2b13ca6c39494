import AbliterationCore
import AbliterationPipeline
import ArgumentParser
import Foundation
import LanguageModels
import TensorKit

/// `--model` and `--adapter`: what to load.
struct ModelOptions: ParsableArguments {
    @Option(name: .long, help: "A GGUF file or a Hugging Face model directory.")
    var model: String

    @Option(name: .long, help: "A PEFT LoRA adapter directory to merge at load.")
    var adapter: String?

    func load(quantization: MeasurementQuantization = .none) throws -> ModelSession {
        printError("loading \(model)\(adapter.map { " + " + $0 } ?? "")\(quantization == .none ? "" : " (base as \(quantization.rawValue))") ...")
        return try ModelSession.load(path: model, adapter: adapter, quantization: quantization)
    }
}

/// How instructions are turned into prompts.
struct PromptFormatOptions: ParsableArguments {
    @Option(help: "A system turn before each instruction (default: the chat template's own).")
    var system: String?

    @Flag(help: "Feed instructions as raw text instead of through the chat template.")
    var raw = false

    @Option(help: "The JSON field or CSV column of prompt files (default: prompt, instruction, goal or text).")
    var field: String?
}

/// Loads the prompts of `path`, or the built-in set of `kind` and `split` when nil, and says what it dropped.
func loadPrompts(_ path: String?, kind: PromptKind, split: PromptSplit, field: String?, limit: Int? = nil) throws -> [String] {
    try loadPromptList(path, kind: kind, split: split, field: field, limit: limit).prompts
}

/// `loadPrompts`, with where each prompt of a file is ("FILE: line N"; nil for a built-in set).
func loadPromptList(
    _ path: String?, kind: PromptKind, split: PromptSplit, field: String?, limit: Int? = nil
) throws -> (prompts: [String], origins: [String]?) {
    var prompts: [String]
    var origins: [String]?
    if let path {
        let result = try PromptFile.load(path: path, field: field)
        if result.droppedEmpty + result.droppedDuplicates > 0 {
            printError("\(path): dropped \(result.droppedEmpty) empty and \(result.droppedDuplicates) duplicate prompts")
        }
        prompts = result.prompts
        origins = result.origins
    } else {
        prompts = try PromptSet.builtIn(kind, split: split)
    }
    if let limit, limit < prompts.count {
        prompts = Array(prompts.prefix(limit))
        origins = origins.map { Array($0.prefix(limit)) }
    }
    return (prompts, origins)
}

/// Refuses an output that is one of `inputs`, lies inside an input directory, or cannot be written; then
/// removes staging left next to it by interrupted runs, saying so. Call it before any work.
func prepareOutput(_ output: String, label: String = "--output", kind: OutputPaths.Kind, inputs: [(String, String?)]) throws {
    try OutputPaths.check(output, label: label, kind: kind, inputs: OutputPaths.inputs(inputs))
    if let note = OutputPaths.staleStagingNote(OutputPaths.removeStaleStaging(next: output)) { printError(note) }
}

/// A file input given by an option that may also be inline text (a plan): the path when it names a file.
func planFile(_ plan: String?) -> String? {
    guard let plan, plan.hasSuffix(".json") else { return nil }
    return plan
}

/// Throws "NAME must be at least 1, got N" for the first count below 1.
func requirePositive(_ counts: (String, Int)...) throws {
    for (name, value) in counts where value < 1 { throw ValidationError("\(name) must be at least 1, got \(value)") }
}

extension RefusalDirection.Method: ExpressibleByArgument {}
extension MeasurementQuantization: ExpressibleByArgument {}

/// Writes `text` to `path` atomically.
func writeText(_ text: String, to path: String) throws {
    try AtomicFile.write(Array(text.utf8), to: path)
}

/// JSON of an Encodable value with sorted keys.
func jsonString<T: Encodable>(_ value: T) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    return String(decoding: try encoder.encode(value), as: UTF8.self)
}
