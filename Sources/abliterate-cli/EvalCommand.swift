import AbliterationCore
import AbliterationPipeline
import ArgumentParser
import Foundation
import LanguageModels

/// `abliterate eval`: refusal rate on harmful prompts and KL against a baseline on harmless ones.
struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Refusal rate on harmful prompts; with --baseline, first-token KL divergence on harmless prompts.",
        discussion: """
            Without --harmful/--harmless the built-in test prompts are used.
            Example:
              abliterate eval --model smollm2-abliterated --baseline SmolLM2-135M-Instruct.Q4_1.gguf \\
                  --baseline-adapter Organisms/refusal-lora-a --json
            """)

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var format: PromptFormatOptions
    @OptionGroup var prompts: PromptSetOptions
    @OptionGroup var generation: GenerationArguments
    @Option(help: "The model to compare against (KL(P_baseline ‖ P_model)).") var baseline: String?
    @Option(help: "A LoRA adapter for the baseline.") var baselineAdapter: String?
    @Option(parsing: .unconditional, help: "Use only the first N prompts of each set (at least 1).") var limit: Int?
    @Option(help: "A file of refusal markers, one per line, replacing the default list.") var markers: String?
    @Flag(help: "Print JSON: refusals, total, refusal_rate, kl_divergence, responses.") var json = false

    func validate() throws {
        guard generation.maxNewTokens > 0, generation.batchSize > 0 else {
            throw ValidationError("--max-new-tokens and --batch-size must be positive")
        }
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1, got \(limit)") }
    }

    func run() throws {
        try reportingErrors("eval") {
            let harmfulPrompts = try loadPrompts(prompts.harmful, kind: .harmful, split: .test, field: format.field, limit: limit)
            let harmlessPrompts = baseline == nil
                ? [] : try loadPrompts(prompts.harmless, kind: .harmless, split: .test, field: format.field, limit: limit)
            let detector = try markers.map { try RefusalDetector(markersFile: $0) } ?? .default
            let session = try modelOptions.load()
            let progress = ProgressReporter()
            let report = try ModelEvaluation.report(
                session: session, harmful: harmfulPrompts, harmless: harmlessPrompts,
                baseline: baseline.map { baseline in {
                    printError("loading baseline \(baseline) ...")
                    return try ModelSession.load(path: baseline, adapter: baselineAdapter)
                } },
                options: generation.options(format: format.format, detector: detector),
                progress: progress.step("generate", unit: "prompts"))
            print(json ? try jsonString(report) : report.summary)
        }
    }
}
