import AbliterationCore
import AbliterationPipeline
import ArgumentParser
import Foundation
import LanguageModels

/// `abliterate inspect MODEL`: what a checkpoint is, without loading its weights.
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show a checkpoint's format, architecture, hyper-parameters, tokenizer and tensors.",
        discussion: "MODEL is a GGUF file, a .safetensors file, or a Hugging Face model directory (config.json + safetensors).")

    @Argument(help: "The GGUF file, safetensors file or Hugging Face model directory.")
    var model: String

    @Flag(help: "Print JSON instead of text.")
    var json = false

    @Flag(inversion: .prefixedNo, help: "Include the tensor table.")
    var tensors = true

    func run() throws {
        let inspection: CheckpointInspection
        do {
            inspection = try CheckpointInspection.inspect(path: model, includeTensors: tensors)
        } catch {
            FileHandle.standardError.write(Data("abliterate inspect: \(error)\n".utf8))
            throw ExitCode.failure
        }
        print(json ? try inspection.jsonString() : inspection.textReport())
    }
}
