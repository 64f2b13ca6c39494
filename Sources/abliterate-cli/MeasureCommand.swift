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

    @Option(help: "Harmful prompts (.txt, .jsonl, .json, .csv).") var harmful: String?
    @Option(help: "Harmless prompts (.txt, .jsonl, .json, .csv).") var harmless: String?
    @Option(parsing: .unconditional, help: "Prompts per forward pass.") var batchSize = 32
    @Option(parsing: .unconditional, help: "Winsorization quantile per vector (1 = none).") var winsorize = 0.995
    @Option(help: "Measure on a quantized copy of the weights: none, nf4 or q8_0.") var quantize = MeasurementQuantization.none
    @Option(help: "The measurements file to write (safetensors).") var output: String

    func validate() throws {
        guard batchSize > 0 else { throw ValidationError("--batch-size must be positive") }
        guard (0...1).contains(winsorize) else { throw ValidationError("--winsorize must be in [0, 1]") }
    }

    func run() throws {
        try reportingErrors("measure") {
            try prepareOutput(output, kind: .file, inputs: [
                ("--model", modelOptions.model), ("--adapter", modelOptions.adapter), ("--harmful", harmful), ("--harmless", harmless),
            ])
            let (harmfulPrompts, harmfulOrigins) = try loadPromptList(harmful, kind: .harmful, split: .train, field: format.field)
            let (harmlessPrompts, harmlessOrigins) = try loadPromptList(harmless, kind: .harmless, split: .train, field: format.field)
            let session = try modelOptions.load(quantization: quantize)
            let progress = ProgressPrinter("measure")
            let measurements = try ResidualMeasurement.measure(
                session: session, harmful: harmfulPrompts, harmless: harmlessPrompts,
                options: MeasurementOptions(
                    batchSize: batchSize, winsorizeQuantile: winsorize, systemPrompt: format.system,
                    chat: !format.raw, quantization: quantize),
                harmfulOrigins: harmfulOrigins, harmlessOrigins: harmlessOrigins,
                progress: { progress.update(done: $0, total: $1) })
            try measurements.write(to: output)
            let suggested = MeasurementAnalysis(measurements).suggestedLayers()
            print("wrote \(output): \(harmfulPrompts.count) harmful, \(harmlessPrompts.count) harmless prompts, layers 0...\(measurements.metadata.layerCount); suggested layers \(suggested)")
        }
    }
}

/// `abliterate analyze`: the diagnostics of a measurement.
struct AnalyzeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "analyze",
        abstract: "Per-layer refusal-direction diagnostics of a measurements file, with suggested layers.",
        discussion: """
            Example:
              abliterate analyze smollm2.measurements.safetensors --plot directions.svg
              abliterate analyze full.safetensors --compare nf4.safetensors
            """)

    @Argument(help: "A measurements file written by `abliterate measure`.") var measurements: String
    @Flag(help: "Print JSON.") var json = false
    @Option(help: "Write an SVG chart of the diagnostics per layer.") var plot: String?
    @Option(help: "Shade the layers of this plan in the chart, e.g. 20:8-24.") var plan: String?
    @Option(help: "A second measurements file: print the cosine between the two directions per layer.") var compare: String?
    @Option(help: "Direction method for --compare.") var method = RefusalDirection.Method.projected

    func run() throws {
        try reportingErrors("analyze") {
            if let plot {
                try prepareOutput(plot, label: "--plot", kind: .file, inputs: [("<measurements>", measurements), ("--compare", compare)])
            }
            let m = try Measurements(contentsOf: measurements)
            let analysis = MeasurementAnalysis(m)
            let layerPlan = try plan.map { try LayerPlan(parsing: $0) }
            if let compare {
                let other = try Measurements(contentsOf: compare)
                let rows = try MeasurementComparison.cosines(m, other, method: method)
                if json {
                    print(try jsonString(rows))
                } else {
                    print("layer  cos(r̂ \(URL(fileURLWithPath: measurements).lastPathComponent), r̂ \(URL(fileURLWithPath: compare).lastPathComponent))")
                    for row in rows { print(String(format: "%5d  %.5f", row.layer, row.cosine)) }
                }
            } else if json {
                print(try jsonString(analysis))
            } else {
                print(analysis.textTable())
                let suggested = analysis.suggestedLayers()
                print("\nsuggested layers (best separation first): \(suggested.map(String.init).joined(separator: ", "))")
                if let best = suggested.first { print("suggested plan: \(try analysis.suggestedPlan(for: best))") }
            }
            if let plot {
                try writeText(analysis.chart(plan: layerPlan), to: plot)
                printError("wrote \(plot)")
            }
        }
    }
}
