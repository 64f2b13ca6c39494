import AbliterationPipeline
import ArgumentParser
import Foundation

/// `abliterate convert`: any loadable model (plus an adapter) as a Hugging Face directory.
struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Write a model (GGUF or Hugging Face, with a LoRA adapter merged) as a Hugging Face directory.",
        discussion: """
            Example:
              abliterate convert SmolLM2-135M-Instruct.Q4_1.gguf --adapter Organisms/refusal-lora-a --output smollm2-organism
            """)

    @Argument(help: "A GGUF file or a Hugging Face model directory.") var model: String
    @Option(help: "A PEFT LoRA adapter directory to merge.") var adapter: String?
    @Option(help: "Output dtype (default: the input's float type, BF16 for GGUF/4-bit). A Hugging Face input keeps its files, names and layout either way.") var dtype: FloatDType?
    @Option(help: "The output directory (must not exist).") var output: String

    func run() throws {
        try reportingErrors("convert") {
            try prepareOutput(output, kind: .newDirectory, inputs: [("<model>", model), ("--adapter", adapter)])
            let session = try ModelSession.load(path: model, adapter: adapter)
            let summary = try CheckpointExport.write(session: session, to: output, dtype: dtype?.dtype)
            let layout = summary.keptInputLayout ? "the input's layout, \(summary.copiedTensors) copied unchanged" : "text model"
            print("wrote \(summary.directory): \(summary.tensorCount) tensors (\(layout)) in \(summary.shardFiles.count) shard(s)")
        }
    }
}
