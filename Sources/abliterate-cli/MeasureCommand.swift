import AbliterationCore
import AbliterationPipeline
import ArgumentParser
import Foundation
import LanguageModels

/// `abliterate measure`: per-layer residual means for harmful and harmless prompts.
struct MeasureCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "measure",
        abstract: "Measure the residual stream at the last prompt token of every layer, per class.",
        discussion: """
            Without --harmful/--harmless the built-in training prompts are used.
            Example:
              abliterate measure --model SmolLM2-135M-Instruct.Q4_1.gguf --adapter Organisms/refusal-lora-a \\
                  --output smollm2.measurements.safetensors
            """)

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var format: PromptFormatOptions
    @OptionGroup var prompts: PromptSetOptions
    @OptionGroup var measurement: MeasurementArguments
    @Option(parsing: .unconditional, help: "Prompts per forward pass.") var batchSize = 32
    @Option(help: "The measurements file to write (safetensors).") var output: String

    func validate() throws {
        guard batchSize > 0 else { throw ValidationError("--batch-size must be positive") }
    }

    func run() throws {
        try reportingErrors("measure") {
            try prepareOutput(output, kind: .file, inputs: [
                ("--model", modelOptions.model), ("--adapter", modelOptions.adapter), ("--harmful", prompts.harmful), ("--harmless", prompts.harmless),
            ])
            var (harmfulPrompts, harmfulOrigins) = try loadPromptList(prompts.harmful, kind: .harmful, split: .train, field: format.field)
            var (harmlessPrompts, harmlessOrigins) = try loadPromptList(prompts.harmless, kind: .harmless, split: .train, field: format.field)
            let progress = ProgressReporter()
            let session = try modelOptions.load(quantization: measurement.quantize, progress: progress)
            if measurement.byBehaviour {
                let selection = try BehaviourSelection.select(
                    session: session, harmful: harmfulPrompts, harmless: harmlessPrompts,
                    options: EvaluationOptions(maxNewTokens: BehaviourSelection.defaultMaxNewTokens, batchSize: batchSize, format: format.format),
                    progress: progress.step("select by behaviour", unit: "prompts"))
                printError("by behaviour: \(selection.summary)")
                (harmfulPrompts, harmfulOrigins) = (selection.keptHarmful(harmfulPrompts), harmfulOrigins.map(selection.keptHarmful))
                (harmlessPrompts, harmlessOrigins) = (selection.keptHarmless(harmlessPrompts), harmlessOrigins.map(selection.keptHarmless))
            }
            let measurements = try ResidualMeasurement.measure(
                session: session, harmful: harmfulPrompts, harmless: harmlessPrompts,
                options: measurement.options(batchSize: batchSize, format: format.format),
                harmfulOrigins: harmfulOrigins, harmlessOrigins: harmlessOrigins,
                progress: progress.step("measure", unit: "prompts"))
            try measurements.write(to: output)
            let suggested = MeasurementAnalysis(measurements).suggestedLayers()
            print("wrote \(output): \(harmfulPrompts.count) harmful, \(harmlessPrompts.count) harmless prompts, layers 0...\(measurements.metadata.layerCount); suggested layers \(suggested)")
        }
    }
}
