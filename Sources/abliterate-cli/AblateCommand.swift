import AbliterationCore
import AbliterationPipeline
import ArgumentParser
import Foundation
import LanguageModels
import TensorKit

/// Options of an edit: which plan, method, scale and tensors.
struct AblationArguments: ParsableArguments {
    @Option(help: "Direction method: projected, conventional or biprojected.")
    var method = RefusalDirection.Method.projected

    @Flag(help: "Keep the norm of every vector written into the residual stream.")
    var normPreserving = false

    @Option(parsing: .unconditional, help: "Multiplies the scale of every plan entry (greater than 0).")
    var scale: Float = 1

    @Option(help: "Tensors to edit: o_proj, down_proj, embed (comma-separated).")
    var targets = "o_proj,down_proj"

    func validate() throws {
        guard scale.isFinite, scale > 0 else { throw ValidationError("--scale must be a finite number greater than 0, got \(scale)") }
    }

    func options() throws -> AblationOptions {
        AblationOptions(method: method, normPreserving: normPreserving, scale: scale, targets: try EditTarget.parseList(targets))
    }
}

/// `abliterate ablate`: edit a model with measured directions and write it as a Hugging Face directory.
struct AblateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ablate",
        abstract: "Orthogonalize a model's residual-writing weights against measured refusal directions.",
        discussion: """
            PLAN is `MEASUREMENT_LAYER:FIRST-LAST[@SCALE],...` with 0-based layers, e.g. 20:8-24 or 23:11-23,29:24-41.
            The output is a new Hugging Face directory (bf16 for GGUF or 4-bit inputs); the input is never modified.
            Example:
              abliterate ablate --model SmolLM2-135M-Instruct.Q4_1.gguf --adapter Organisms/refusal-lora-a \\
                  --measurements smollm2.measurements.safetensors --plan 20:8-24 --output smollm2-abliterated
            """)

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var ablation: AblationArguments
    @Option(help: "A measurements file from `abliterate measure` for this model.") var measurements: String
    @Option(help: "The layer plan (see above), or a .json file holding one.") var plan: String
    @Flag(help: "List the tensors that would change, with their norms, and write nothing.") var dryRun = false
    @Option(help: "Output dtype: BF16, F16 or F32 (default: the input's float type, BF16 for GGUF/4-bit).") var dtype: String?
    @Option(help: "The output directory (must not exist).") var output: String?

    func validate() throws {
        if !dryRun && output == nil { throw ValidationError("--output is required unless --dry-run") }
    }

    func run() throws {
        try reportingErrors("ablate") {
            if let output, !dryRun {
                try prepareOutput(output, kind: .newDirectory, inputs: [
                    ("--model", modelOptions.model), ("--adapter", modelOptions.adapter),
                    ("--measurements", measurements), ("--plan", planFile(plan)),
                ])
            }
            let m = try Measurements(contentsOf: measurements)
            let layerPlan = try parsePlan(plan)
            let outDType = try dtype.map { try parseFloatDType($0) }
            let session = try modelOptions.load()
            let c = session.model.configuration
            try m.checkCompatible(architecture: c.architecture.rawValue, hiddenSize: c.hiddenSize, layerCount: c.layerCount, model: session.path)
            let options = try ablation.options()
            let summaries: [TensorEditSummary]
            var summary: CheckpointExport.Summary?
            if dryRun {
                summaries = try ModelEditor.apply(plan: layerPlan, measurements: m, options: options, to: session.model, dryRun: true).summaries
            } else {
                let edits = try ModelEditor.plannedEdits(plan: layerPlan, measurements: m, options: options, layerCount: c.layerCount)
                summary = try CheckpointExport.write(
                    session: session, to: output!, dtype: outDType, edits: edits, normPreserving: options.normPreserving,
                    metadata: ["abliterate.plan": layerPlan.description, "abliterate.method": options.method.rawValue,
                               "abliterate.measurements": measurements])
                summaries = summary!.edits
            }
            print("tensor                                            layer  r@  scale   ‖W‖ before   ‖W‖ after  ‖r̂ᵀW′‖/‖W‖")
            for s in summaries {
                let layer = s.layer.map(String.init) ?? "-"
                print(s.name.padding(toLength: 48, withPad: " ", startingAt: 0)
                    + String(repeating: " ", count: max(0, 7 - layer.count)) + layer
                    + String(format: "  %2d  %5.2f  %11.4f  %10.4f  %.2e", s.measurementLayer, s.scale, s.normBefore, s.normAfter, s.remainingProjection))
            }
            guard let summary else { return }
            print("wrote \(summary.directory): \(summary.tensorCount) tensors (\(summary.copiedTensors) copied unchanged, \(summary.convertedTensors) written), \(summary.shardFiles.count) shard(s)")
        }
    }
}

/// A plan from the CLI form or a JSON file.
func parsePlan(_ text: String) throws -> LayerPlan {
    if text.hasSuffix(".json") {
        return try LayerPlan(json: Data(try InputFile.contents(text, maxBytes: 1 << 20)))
    }
    return try LayerPlan(parsing: text)
}

func parseFloatDType(_ text: String) throws -> DType {
    guard let d = DType(rawValue: text.uppercased()), d == .bf16 || d == .f16 || d == .f32 else {
        throw AbliterationError.invalidInput("dtype '\(text)': use BF16, F16 or F32")
    }
    return d
}

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
    @Option(help: "Output dtype: BF16, F16 or F32.") var dtype = "BF16"
    @Option(help: "The output directory (must not exist).") var output: String

    func run() throws {
        try reportingErrors("convert") {
            try prepareOutput(output, kind: .newDirectory, inputs: [("<model>", model), ("--adapter", adapter)])
            let d = try parseFloatDType(dtype)
            let session = try ModelSession.load(path: model, adapter: adapter)
            let summary = try CheckpointExport.write(session: session, to: output, dtype: d)
            print("wrote \(summary.directory): \(summary.tensorCount) tensors as \(d.rawValue), \(summary.shardFiles.count) shard(s)")
        }
    }
}

extension EditTarget {
    /// Parses `o_proj,down_proj,embed`.
    static func parseList(_ text: String) throws -> [EditTarget] {
        let items = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !items.isEmpty else { throw AbliterationError.invalidInput("targets: empty list; use o_proj, down_proj, embed") }
        return try items.map { item in
            guard let t = EditTarget(rawValue: item) else {
                throw AbliterationError.invalidInput("targets: unknown target '\(item)'; use o_proj, down_proj, embed")
            }
            return t
        }
    }
}
