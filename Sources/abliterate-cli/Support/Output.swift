import AbliterationCore
import AbliterationPipeline
import Foundation
import TensorKit

/// Refuses an output that is one of `inputs`, lies inside an input directory, or cannot be written; then
/// removes staging left next to it by interrupted runs, saying so. Call it before any work.
func prepareOutput(_ output: String, label: String = "--output", kind: OutputPaths.Kind, inputs: [(String, String?)]) throws {
    try OutputPaths.check(output, label: label, kind: kind, inputs: OutputPaths.inputs(inputs))
    if let note = OutputPaths.staleStagingNote(OutputPaths.removeStaleStaging(next: output)) { printError(note) }
}

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
