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

    @Option(name: .long, help: "A PEFT LoRA adapter directory, applied unmerged at run time (merged into the weights written).")
    var adapter: String?

    /// Loads the model; `progress` shows the weights being quantized.
    func load(quantization: MeasurementQuantization = .none, progress: ProgressReporter? = nil) throws -> ModelSession {
        printError("loading \(model)\(adapter.map { " + " + $0 } ?? "")\(quantization == .none ? "" : " (base as \(quantization.rawValue))") ...")
        return try ModelSession.load(
            path: model, adapter: adapter, quantization: quantization,
            progress: quantization == .none ? nil : progress?.step("quantize \(quantization.rawValue)", unit: "weights"))
    }
}

/// How instructions are turned into prompts, and which field of a prompt file holds them.
struct PromptFormatOptions: ParsableArguments {
    @Option(help: "A system turn before each instruction (default: the chat template's own).")
    var system: String?

    @Flag(help: "Feed instructions as raw text instead of through the chat template.")
    var raw = false

    @Option(help: "The JSON field or CSV column of prompt files (default: prompt, instruction, goal or text).")
    var field: String?

    var format: PromptFormat { PromptFormat(chat: !raw, systemPrompt: system) }
}

/// Options of an edit: method, scale and tensors.
struct AblationArguments: ParsableArguments {
    @Option(help: "Direction method.")
    var method = RefusalDirection.Method.projected

    @Flag(help: "Keep the norm of every vector written into the residual stream (grimjim's refinement).")
    var normPreserving = false

    @Flag(help: "Edit each writing weight with its rows scaled to unit norm, then give every row its norm back (heretic's \"full\" row normalization; o_proj and down_proj only).")
    var rowNormalized = false

    @Option(parsing: .unconditional, help: "Multiplies the scale of every plan entry (greater than 0).")
    var scale: Float = 1

    @Option(help: ArgumentHelp(
        "Tensors to edit (comma-separated): o_proj, down_proj, embed (what writes the residual stream), or q_proj, k_proj, v_proj, gate_proj, up_proj (inputs: all five), which then stop reading r̂ through their block's input norm.",
        valueName: "targets"))
    var targets = EditTargetList(argument: "o_proj,down_proj")

    @Option(help: ArgumentHelp(
        "Direction each weight is orthogonalized against: plain (r̂), norm-aware (normalize(g ⊙ r̂), g the gain of the norm a block applies to its output before the residual add, Gemma 2 and 3's post-norms) or auto (norm-aware where the model has such norms, plain elsewhere).",
        valueName: "mode"))
    var editDirection = EditDirectionMode.automatic

    func validate() throws {
        guard scale.isFinite, scale > 0 else { throw ValidationError("--scale must be a finite number greater than 0, got \(scale)") }
        guard !(normPreserving && rowNormalized) else { throw ValidationError("--norm-preserving and --row-normalized are two different edits; pick one") }
        if normPreserving || rowNormalized, let reader = try targets.targets().first(where: { $0.readsResidual || (rowNormalized && $0 == .embedding) }) {
            throw ValidationError("--\(rowNormalized ? "row-normalized" : "norm-preserving") keeps the norms of o_proj/down_proj\(rowNormalized ? "" : "/embed"), the weights that write the residual; \(reader.rawValue) is not one (drop it from --targets)")
        }
    }

    var norms: NormPreservation { rowNormalized ? .rows : normPreserving ? .vectors : .none }

    /// The flags that give `options` (edit direction aside), for telling a user how to repeat an edit.
    static func flags(_ options: AblationOptions) -> [String] {
        var flags = ["--targets \(options.targets.map(\.rawValue).joined(separator: ","))", "--method \(options.method.rawValue)"]
        if options.norms == .vectors { flags.append("--norm-preserving") }
        if options.norms == .rows { flags.append("--row-normalized") }
        if options.scale != 1 { flags.append("--scale \(options.scale)") }
        return flags
    }

    /// A note when `--plan` is a run report whose edit this command's options would not repeat: the
    /// report's flags that differ, so that the plan is applied as it was scored. Nil otherwise.
    func reportNote(plan: PlanArgument) throws -> String? {
        guard let file = plan.file, let recorded = plan.recordedOptions else { return nil }
        let ours = Self.flags(try options()), theirs = Self.flags(recorded)
        guard ours != theirs else { return nil }
        let missing = theirs.filter { !ours.contains($0) }, extra = ours.filter { !theirs.contains($0) }
        let change = (missing.isEmpty ? [] : ["add " + missing.joined(separator: " ")])
            + (extra.isEmpty ? [] : ["drop or change " + extra.joined(separator: " ")])
        return "note: \(UserText.sanitized(file)) scored its plan with \(theirs.joined(separator: " ")); this edit differs (\(change.joined(separator: ", ")) to repeat it)"
    }

    func options() throws -> AblationOptions {
        AblationOptions(
            method: method, norms: norms, scale: scale, targets: try targets.targets(), direction: editDirection)
    }
}

/// How residuals are measured: Winsorization and the weights measured on.
struct MeasurementArguments: ParsableArguments {
    @Option(parsing: .unconditional, help: "Winsorization quantile per vector (1 = none).")
    var winsorize = 0.995

    @Option(help: ArgumentHelp(
        "Measure on a quantized copy of the weights.",
        discussion: "nf4, fp4: bitsandbytes 4-bit (blocks of 64); -dq: with double-quantized absmax. The write-up's tooling measured on fp4-dq (transformers' default 4-bit type, with bnb_4bit_use_double_quant=True). q8_0: GGML Q8_0."))
    var quantize = MeasurementQuantization.none

    @Flag(help: ArgumentHelp(
        "Measure the harmful mean on the harmful prompts the model refuses and the harmless mean on the harmless prompts it answers.",
        discussion: "Each training prompt is generated from first (greedy, 24 tokens, stopped at the first refusal marker) and judged by the refusal detector. For a model that refuses harmless prompts too, whose harmless mean then holds part of the refusal. run also searches on the kept prompts."))
    var byBehaviour = false

    func validate() throws {
        guard (0...1).contains(winsorize) else { throw ValidationError("--winsorize must be in [0, 1]") }
    }

    func options(batchSize: Int, format: PromptFormat) -> MeasurementOptions {
        MeasurementOptions(batchSize: batchSize, winsorizeQuantile: winsorize, format: format)
    }
}

/// How the harmful prompts of an evaluation are generated from.
struct GenerationArguments: ParsableArguments {
    @Option(parsing: .unconditional, help: "Tokens to generate per harmful test prompt.")
    var maxNewTokens = 64

    @Option(parsing: .unconditional, help: "Prompts per batch.")
    var batchSize = 32

    func options(format: PromptFormat, detector: RefusalDetector = .default) -> EvaluationOptions {
        EvaluationOptions(maxNewTokens: maxNewTokens, batchSize: batchSize, format: format, detector: detector)
    }
}

/// `--harmful` and `--harmless`: prompt files, or the command's built-in sets when absent.
struct PromptSetOptions: ParsableArguments {
    @Option(help: "Harmful prompts (.txt, .jsonl, .json, .csv; default: the built-in set).")
    var harmful: String?

    @Option(help: "Harmless prompts (.txt, .jsonl, .json, .csv; default: the built-in set).")
    var harmless: String?
}
