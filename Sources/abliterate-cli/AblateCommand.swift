import AbliterationCore
import AbliterationPipeline
import ArgumentParser
import Foundation
import LanguageModels

/// `abliterate ablate`: edit a model with measured directions and write it as a Hugging Face directory or a GGUF file.
struct AblateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ablate",
        abstract: "Orthogonalize a model's residual-writing weights against measured refusal directions.",
        discussion: """
            PLAN is `MEASUREMENT_LAYER:FIRST-LAST[@SCALE or @ATTN/MLP],...` with 0-based layers, e.g. 20:8-24, 23:11-23,29:24-41, 21:6-9@0.5/1.2 (o_proj and down_proj scaled apart) or 20.5:6-25 (the direction between residuals 20 and 21, from their means interpolated).
            The output is a new Hugging Face directory (bf16 for GGUF or 4-bit inputs), or, when it ends in .gguf, a GGUF file: from a GGUF input with every tensor not edited and all metadata copied unchanged and the edited tensors re-encoded in their own type (--edited-type to choose another); from a Hugging Face input the whole model converted as llama.cpp's convert_hf_to_gguf.py does, in --gguf-type. The input is never modified.
            Example:
              abliterate ablate --model SmolLM2-135M-Instruct.Q4_1.gguf --adapter Organisms/refusal-lora-a \\
                  --measurements smollm2.measurements.safetensors --plan 20:8-24 --output smollm2-abliterated
              abliterate ablate --model SmolLM2-135M-Instruct.Q4_1.gguf --measurements smollm2.measurements.safetensors \\
                  --plan 20:8-24 --output smollm2-abliterated.Q4_1.gguf
            """)

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var ablation: AblationArguments
    @OptionGroup var outputFormat: ModelOutputFormat
    @Option(help: "A measurements file from `abliterate measure` for this model.") var measurements: String
    @Option(help: "The layer plan (see above), or a .json file holding one, or the report.json of a run (its plan).") var plan: PlanArgument
    @Flag(help: "List the tensors that would change, with their norms, and write nothing.") var dryRun = false
    @Option(help: "Output dtype of a Hugging Face directory (default: the input's float type, BF16 for GGUF/4-bit).") var dtype: FloatDType?
    @Option(help: "The output: a new directory, or a .gguf file (replaced if it exists; never an input).") var output: String?

    func validate() throws {
        if !dryRun && output == nil { throw ValidationError("--output is required unless --dry-run") }
    }

    func run() throws {
        try reportingErrors("ablate") {
            let gguf = output.map { outputFormat.isGGUF($0) } ?? false
            let ggufTypes = try outputFormat.ggufTypes(output: output ?? "", model: modelOptions.model, dtypeGiven: dtype != nil)
            if let note = outputFormat.adapterNote(adapter: modelOptions.adapter, output: output ?? "", model: modelOptions.model) { printError(note) }
            if let output, !dryRun {
                try prepareOutput(output, kind: gguf ? .file : .newDirectory, inputs: [
                    ("--model", modelOptions.model), ("--adapter", modelOptions.adapter),
                    ("--measurements", measurements), ("--plan", plan.file),
                ])
            }
            let m = try Measurements(contentsOf: measurements)
            let layerPlan = try plan.plan()
            if let note = try ablation.reportNote(plan: plan) { printError(note) }
            let session = try modelOptions.load()
            let options = try ablation.options()
            let target: ModelEditor.Output = dryRun || output == nil
                ? .dryRun : (gguf ? .gguf(output!, editedType: ggufTypes.edited, modelType: ggufTypes.model) : .directory(output!, dtype: dtype?.dtype))
            let result = try ModelEditor.ablate(
                session: session, plan: layerPlan, measurements: m, measurementsPath: measurements, options: options, output: target,
                progress: ProgressReporter().step("write", unit: "tensors"))
            print(TensorEditSummary.table(result.edits))
            if let g = result.gguf { print(g.line) }
            guard let summary = result.export else { return }
            print("wrote \(summary.directory): \(summary.tensorCount) tensors (\(summary.copiedTensors) copied unchanged, \(summary.convertedTensors) written), \(summary.shardFiles.count) shard(s)")
        }
    }
}
