import AbliterationPipeline
import ArgumentParser
import Foundation

/// `abliterate convert`: any loadable model (plus an adapter) as a Hugging Face directory, or a GGUF model
/// (plus an adapter) as a GGUF file.
struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Write a model (GGUF or Hugging Face, with a LoRA adapter merged) as a Hugging Face directory or a GGUF file.",
        discussion: """
            An output ending in .gguf (or --format gguf) is a GGUF file. From a GGUF input: metadata and every tensor the adapter leaves alone are copied unchanged; merged tensors are re-encoded in their own type or --edited-type. From a Hugging Face directory (llama, qwen2, qwen3, gemma3): the whole model with the names, metadata and tokenizer llama.cpp's convert_hf_to_gguf.py writes, in --gguf-type (default auto: bf16 for a bf16 checkpoint, else f16; q4_k_m etc. as llama-quantize mixes them).
            Examples:
              abliterate convert SmolLM2-135M-Instruct.Q4_1.gguf --adapter Organisms/refusal-lora-a --output smollm2-organism
              abliterate convert SmolLM2-135M-Instruct.Q4_1.gguf --adapter Organisms/refusal-lora-a --edited-type q8_0 --output smollm2-organism.gguf
              abliterate convert smollm2-organism --gguf-type q8_0 --output smollm2-organism.q8_0.gguf
            """)

    @Argument(help: "A GGUF file or a Hugging Face model directory.") var model: String
    @Option(help: "A PEFT LoRA adapter directory to merge.") var adapter: String?
    @Option(help: "Output dtype of a Hugging Face directory (default: the input's float type, BF16 for GGUF/4-bit). A Hugging Face input keeps its files, names and layout either way.") var dtype: FloatDType?
    @OptionGroup var outputFormat: ModelOutputFormat
    @Option(help: "The output: a new directory, or a .gguf file (replaced if it exists; never an input).") var output: String

    func run() throws {
        try reportingErrors("convert") {
            let gguf = outputFormat.isGGUF(output)
            let ggufTypes = try outputFormat.ggufTypes(output: output, model: model, dtypeGiven: dtype != nil)
            if let note = outputFormat.adapterNote(adapter: adapter, output: output, model: model) { printError(note) }
            try prepareOutput(output, kind: gguf ? .file : .newDirectory, inputs: [("<model>", model), ("--adapter", adapter)])
            let session = try ModelSession.load(path: model, adapter: adapter)
            if gguf {
                let g = try GGUFExport.write(
                    session: session, to: output, editedType: ggufTypes.edited, modelType: ggufTypes.model,
                    progress: ProgressReporter().step("write", unit: "tensors"))
                print(g.line)
                return
            }
            let summary = try CheckpointExport.write(
                session: session, to: output, dtype: dtype?.dtype, progress: ProgressReporter().step("write", unit: "tensors"))
            let layout = summary.keptInputLayout ? "the input's layout, \(summary.copiedTensors) copied unchanged" : "text model"
            print("wrote \(summary.directory): \(summary.tensorCount) tensors (\(layout)) in \(summary.shardFiles.count) shard(s)")
        }
    }
}
