import AbliterationCore
import AbliterationPipeline
import ArgumentParser
import Foundation
import LanguageModels

/// `abliterate run`: the whole job, with a before/after table.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Measure, choose a plan, ablate, write the model and evaluate it against the original.",
        discussion: """
            Writes DIR (a Hugging Face model directory) with report.json, measurements.safetensors and directions.svg; or, for an output ending in .gguf, that GGUF file (from a GGUF input: the edited tensors re-encoded in their own type, --edited-type to choose; from a Hugging Face input: the whole model as llama.cpp's converter writes it, in --gguf-type) and NAME.report.json, NAME.measurements.safetensors and NAME.directions.svg beside NAME.gguf.
            Without --plan or --candidates, --search grid (the default): the candidates from the analysis are scored by generation (with --row-normalized: each block from 40%, 55% or 70% of the depth to the last against its own output's direction, at scales 1 and 1.5; then the scale refinement may take any of them, and the ladder below scales the chosen plan alone, x0.25 to x1.5); when none reaches the refusal target, the best one's scale is refined (x1.25, then bisected); the best plan is also scored at x0.5 and x0.75 of its scales, the per-block plan of the front at x0.25 to x1.5, then up to 3 plans halfway in scale across the front's widest gaps; report.json's `front` lists the plans no other beats on both refusals and KL (logged with 95% intervals). --search profile (new, not yet measured end to end): per-layer edit profiles (direction layer, peak, width, edge weight, attention and MLP scales) are screened on training prompts by a cheap objective (first-token KL on harmless prompts; on harmful prompts the teacher-forced probability of the first 4 tokens of the unedited model's own refusals), seeded and reproducible; a short list of the screened Pareto front is confirmed by generated refusal counts, and the plan is chosen from the confirmed Pareto front (refusals vs KL): the lowest KL at a refusal rate <= --max-refusals (else the fewest refusals), or with --max-kl the fewest refusals at KL <= that bound. Every plan is printed in the --plan form (per-block entries, @ATTN/MLP scales) and reproduces exactly.
            With --candidates: the given plans are scored by generation. With either search the plan is chosen by the same rule (--max-refusals, --max-kl, or --knee); `ablate --plan` reproduces any plan of the front.
            Example:
              abliterate run --model SmolLM2-135M-Instruct.Q4_1.gguf --adapter Organisms/refusal-lora-a --output smollm2-abliterated
            """)

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var format: PromptFormatOptions
    @OptionGroup var prompts: PromptSetOptions
    @OptionGroup var measurement: MeasurementArguments
    @OptionGroup var ablation: AblationArguments
    @OptionGroup var generation: GenerationArguments
    @OptionGroup var outputFormat: ModelOutputFormat
    @Option(help: "A fixed layer plan (skips the search), e.g. 20:8-24, or a .json file holding one, or the report.json of a run.") var plan: PlanArgument?
    @Option(help: "Candidate plans to search, separated by ';' (default: from the analysis).") var candidates: String?
    @Option(help: "Harmful prompts for the evaluation (default: built-in test split).") var harmfulTest: String?
    @Option(help: "Harmless prompts for the evaluation (default: built-in test split).") var harmlessTest: String?
    @Option(parsing: .unconditional, help: "Training prompts of each kind used to score candidate plans.") var searchPrompts = 48
    @Option(help: "Plan search without --plan/--candidates: profile (screened by the probability of the model's own refusals, no generation) or grid (the analysis's candidates, scored by generation).") var search: AbliterationRun.SearchKind = .grid
    @Option(help: "Profiles the profile search screens.") var searchEvaluations = 40
    @Option(help: "Plans of the screened front the profile search confirms by generation.") var searchConfirm = 6
    @Option(help: "Seed of the profile search.") var searchSeed: UInt64 = 1
    @Option(help: "Choose the lowest-KL plan at a refusal rate (on the search prompts) at most this.") var maxRefusals = 0.05
    @Option(help: "Choose instead the plan with the fewest refusals at first-token KL (search prompts) at most this.") var maxKl: Double?
    @Flag(help: "Choose instead the knee of the Pareto front: scaled to the front's range, the plan farthest below the line joining its two ends.") var knee = false
    @Option(help: "Output dtype of a Hugging Face directory (default: the input's, BF16 for GGUF/4-bit).") var dtype: FloatDType?
    @Option(help: "The output: a new directory, or a .gguf file (replaced if it exists; never an input).") var output: String
    @Flag(help: "Print the report as JSON instead of the table.") var json = false

    func validate() throws {
        guard generation.batchSize > 0, generation.maxNewTokens > 0, searchPrompts > 0 else {
            throw ValidationError("--batch-size, --max-new-tokens and --search-prompts must be positive")
        }
        guard searchEvaluations > 0, searchConfirm > 0 else {
            throw ValidationError("--search-evaluations and --search-confirm must be positive")
        }
        guard maxRefusals.isFinite, (0...1).contains(maxRefusals) else {
            throw ValidationError("--max-refusals must be a rate between 0 and 1 (got \(maxRefusals))")
        }
        if let maxKl, !(maxKl.isFinite && maxKl >= 0) {
            throw ValidationError("--max-kl must be a finite KL of at least 0 (got \(maxKl))")
        }
        if knee, maxKl != nil { throw ValidationError("--knee and --max-kl are two rules for the choice; give one") }
    }

    func run() throws {
        try reportingErrors("run") {
            let gguf = outputFormat.isGGUF(output)
            let ggufTypes = try outputFormat.ggufTypes(output: output, model: modelOptions.model, dtypeGiven: dtype != nil)
            if let note = outputFormat.adapterNote(adapter: modelOptions.adapter, output: output, model: modelOptions.model) { printError(note) }
            try prepareOutput(output, kind: gguf ? .file : .newDirectory, inputs: [
                ("--model", modelOptions.model), ("--adapter", modelOptions.adapter), ("--plan", plan?.file),
                ("--harmful", prompts.harmful), ("--harmless", prompts.harmless), ("--harmful-test", harmfulTest), ("--harmless-test", harmlessTest),
            ])
            var options = try AbliterationRun.Options()
            if let harmful = prompts.harmful { options.harmfulTrain = try loadPrompts(harmful, kind: .harmful, split: .train, field: format.field) }
            if let harmless = prompts.harmless { options.harmlessTrain = try loadPrompts(harmless, kind: .harmless, split: .train, field: format.field) }
            if let harmfulTest { options.harmfulTest = try loadPrompts(harmfulTest, kind: .harmful, split: .test, field: format.field) }
            if let harmlessTest { options.harmlessTest = try loadPrompts(harmlessTest, kind: .harmless, split: .test, field: format.field) }
            options.measurement = measurement.options(batchSize: generation.batchSize, format: format.format)
            options.measurementQuantization = measurement.quantize
            options.byBehaviour = measurement.byBehaviour
            options.ablation = try ablation.options()
            options.plan = try plan?.plan()
            if let plan, let note = try ablation.reportNote(plan: plan) { printError(note) }
            options.candidates = try candidates.map { try $0.split(separator: ";").map { try LayerPlan(parsing: String($0)) } }
            options.searchPrompts = searchPrompts
            options.search = search
            options.profileSearch = ProfileSearch(
                seed: searchSeed, evaluations: searchEvaluations, initial: min(16, searchEvaluations), confirm: searchConfirm)
            options.refusalTarget = maxRefusals
            options.maxKL = maxKl
            options.knee = knee
            options.evaluation = generation.options(format: format.format)
            options.dtype = dtype?.dtype
            options.gguf = gguf ? ggufTypes.edited : nil
            options.ggufModelType = gguf ? ggufTypes.model : nil
            let start = Date()
            let progress = ProgressReporter()
            let report = try AbliterationRun.run(
                path: modelOptions.model, adapter: modelOptions.adapter, output: output, options: options,
                log: { progress.log(String(format: "[%5.0fs] ", Date().timeIntervalSince(start)) + $0) },
                progress: progress.report)
            print(json ? try jsonString(report) : report.table)
        }
    }
}
