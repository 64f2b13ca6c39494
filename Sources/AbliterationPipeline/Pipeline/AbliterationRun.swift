import Foundation
import TensorKit
import AbliterationCore
import LanguageModels

/// The whole job: measure → choose a plan → ablate → write → evaluate against the original.
public enum AbliterationRun {
    /// Everything `run` can be told.
    public struct Options: Sendable {
        public var measurement = MeasurementOptions()
        /// Measure on a copy of the model whose base weights are quantized so (`.none`: the model itself).
        public var measurementQuantization = MeasurementQuantization.none
        /// Measure, and search, on the harmful training prompts the model refuses and the harmless ones
        /// it answers (`BehaviourSelection`; the CLI's --by-behaviour).
        public var byBehaviour = false
        public var ablation = AblationOptions()
        /// A fixed plan; nil searches `candidates` (or the default candidates).
        public var plan: LayerPlan?
        /// Fixed candidates to score by generation (no profile search).
        public var candidates: [LayerPlan]?
        /// How plans are searched when neither `plan` nor `candidates` is given (`.grid`, the measured
        /// default; `.profile` has not yet been measured end to end, Docs/results.md).
        public var search = SearchKind.grid
        /// The profile search (`.profile`): its seed, budget of cheap evaluations and short list.
        public var profileSearch = ProfileSearch()
        /// Prompts of each training set used to score candidates (at 48 one prompt is 2.1 points of
        /// refusal rate; the CLI's --search-prompts), tokens generated per harmful prompt, and the refusal
        /// rate a candidate must reach.
        public var searchPrompts = 48
        public var searchMaxNewTokens = 24
        public var refusalTarget = 0.05
        /// Choose the fewest refusals at KL ≤ this instead (`PlanSearch.Selection.maxKL`).
        public var maxKL: Double?
        /// Choose the knee of the front instead (`PlanSearch.Selection.knee`); the refinement and the front's
        /// ladder then start from the plan `refusalTarget` picks.
        public var knee = false
        public var selection: PlanSearch.Selection { knee ? .knee : maxKL.map { .maxKL($0) } ?? .maxRefusals(refusalTarget) }
        /// The rule that picks the plan the refinement and the front's ladder start from: the selection's,
        /// except for the knee, a point of the front that is only known once the front is.
        var startingSelection: PlanSearch.Selection { knee ? .maxRefusals(refusalTarget) : selection }
        public var evaluation = EvaluationOptions()
        /// Output dtype (nil: the input's float type, bf16 for GGUF or 4-bit inputs).
        public var dtype: DType?
        /// Write a GGUF file instead of a Hugging Face directory: from a GGUF input with the changed tensors
        /// in this type, from a Hugging Face input converted whole in `ggufModelType`; report, measurements
        /// and chart go beside it (`sideFile`).
        public var gguf: GGUFExport.TensorType?
        /// The file type of a GGUF written from a Hugging Face input (nil: `auto`); only with `gguf`.
        public var ggufModelType: GGUFConversion.FileType?
        public var harmfulTrain: [String]
        public var harmlessTrain: [String]
        public var harmfulTest: [String]
        public var harmlessTest: [String]

        /// Options with the built-in prompt sets.
        public init() throws {
            harmfulTrain = try PromptSet.builtIn(.harmful, split: .train)
            harmlessTrain = try PromptSet.builtIn(.harmless, split: .train)
            harmfulTest = try PromptSet.builtIn(.harmful, split: .test)
            harmlessTest = try PromptSet.builtIn(.harmless, split: .test)
        }
    }

    /// The plan search `run` does without a fixed plan or candidates.
    public enum SearchKind: String, Sendable, CaseIterable {
        /// `ProfileSearch`: a continuous space of per-layer profiles screened with the first-token
        /// objective, a short list confirmed by generation, the plan chosen from the confirmed Pareto front.
        case profile
        /// The earlier search: the analysis's candidates scored by generation, the best refined by its scale.
        case grid
    }

    /// Refusals of one model on the harmful test prompts.
    public struct RefusalSummary: Sendable, Codable, Equatable {
        public var refusals: Int
        public var total: Int
        public var refusalRate: Double
        public var interval95: [Double]
        init(_ e: RefusalEvaluation) {
            refusals = e.refusals
            total = e.total
            refusalRate = e.refusalRate
            interval95 = e.interval95
        }
    }

    /// What `report.json` holds.
    public struct Report: Sendable, Codable {
        public var toolVersion = AbliterateVersion.current
        public var model: String
        public var adapter: String?
        public var output: String
        public var measurement: MeasurementMetadata
        /// The training prompts measured and searched on, with `byBehaviour` (indices into the training sets).
        public var behaviour: BehaviourSelection?
        public var suggestedLayers: [Int]
        /// The plans scored by generation on the search prompts.
        public var search: [PlanSearch.Candidate]?
        /// The profile search's plans screened by the `ScreeningObjective`, in the order tried.
        public var screened: [ProfileSearch.Screened]?
        /// The plans of `search` on its Pareto front (refusals vs KL), by ascending refusals.
        public var front: [String]?
        /// The rule the plan was chosen by.
        public var selection: String?
        /// The unedited model's refusal prefixes the `ScreeningObjective` scored (decoded, distinct, most
        /// frequent first).
        public var refusalPrefixes: [String]?
        public var plan: String
        public var method: RefusalDirection.Method
        public var norms: NormPreservation
        /// The edit direction that ran: `norm-aware` (normalize(g ⊙ r̂) for every edited block weight) or
        /// `plain` (r̂); `auto` only when a plan mixed both. It describes the writing weights' edit
        /// (`plain` when only reading weights were edited, `targets`).
        public var editDirection: EditDirectionMode
        public var scale: Float
        public var targets: [EditTarget]
        public var edits: [TensorEditSummary]
        public var before: RefusalSummary
        public var after: RefusalSummary
        /// Mean first-token KL(P_original ‖ P_edited) over the harmless test prompts.
        public var klDivergence: Double
        public var harmlessTestPrompts: Int
        public var maxNewTokens: Int
        public var seconds: [String: Double]
        public var responsesBefore: [EvaluatedResponse]
        public var responsesAfter: [EvaluatedResponse]
    }

    /// Where the run puts `report.json`, `measurements.safetensors` or `directions.svg`: inside a
    /// Hugging Face output directory, or beside a GGUF output as `<output less .gguf>.<name>`.
    public static func sideFile(_ name: String, output: String, gguf: Bool) -> String {
        guard gguf else { return output + "/" + name }
        let base = GGUFExport.isGGUFPath(output) ? String(output.dropLast(5)) : output
        return base + "." + name
    }

    /// Runs the job on the model at `path` (plus `adapter`), writing the edited model to `output`
    /// (a new Hugging Face directory, or a GGUF file when `options.gguf` is set) together with
    /// `report.json`, `measurements.safetensors` and `directions.svg`. `log` receives a line as each step
    /// begins and ends; `progress` follows each long step (evaluate, quantize, measure, each search
    /// candidate, write) unit by unit.
    public static func run(
        path: String, adapter: String?, output: String, options: Options, log: @escaping (String) -> Void = { _ in },
        progress: ProgressHandler? = nil
    ) throws -> Report {
        /// A (done, total) callback reporting `step` in `unit`, after a report of its start with `total` units.
        func reporter(_ step: String, unit: String, total: Int, offset: Int = 0) -> (Int, Int) -> Void {
            if offset == 0 { progress?(StepProgress(step: step, done: 0, total: total, unit: unit)) }
            return { done, _ in progress?(StepProgress(step: step, done: offset + done, total: total, unit: unit)) }
        }
        let gguf = options.gguf != nil
        let inputs = OutputPaths.inputs([("model", path), ("adapter", adapter)])
        try OutputPaths.check(output, label: "output", kind: gguf ? .file : .newDirectory, inputs: inputs)
        if let type = options.gguf {
            _ = try GGUFExport.checkTypes(source: path, editedType: type, modelType: options.ggufModelType)
            for name in ["report.json", "measurements.safetensors", "directions.svg"] {
                try OutputPaths.check(sideFile(name, output: output, gguf: true), label: "output", kind: .file, inputs: inputs)
            }
        }
        if let note = OutputPaths.staleStagingNote(OutputPaths.removeStaleStaging(next: output)) { log(note) }
        var seconds: [String: Double] = [:]
        func timed<T>(_ step: String, _ body: () throws -> T) rethrows -> T {
            let start = Date()
            defer { seconds[step, default: 0] += Date().timeIntervalSince(start) }
            return try body()
        }
        let evaluation = options.evaluation

        log("loading \(path)\(adapter.map { " + " + $0 } ?? "")")
        let session = try timed("load") { try ModelSession.load(path: path, adapter: adapter) }
        // A given plan or candidate that does not fit the model is refused now, not after evaluating and measuring.
        for given in [options.plan].compactMap({ $0 }) + (options.candidates ?? []) {
            try given.validate(layerCount: session.model.configuration.layerCount)
        }

        log("evaluating the original on \(options.harmfulTest.count) harmful and \(options.harmlessTest.count) harmless test prompts")
        let testTotal = options.harmfulTest.count + options.harmlessTest.count
        let before = try timed("evaluate original") {
            try ModelEvaluation.refusals(
                session: session, prompts: options.harmfulTest, options: evaluation,
                progress: reporter("evaluate original", unit: "prompts", total: testTotal))
        }
        let baseline = try timed("evaluate original") {
            try ModelEvaluation.firstTokenLogProbabilities(
                session: session, prompts: options.harmlessTest, options: evaluation,
                progress: reporter("evaluate original", unit: "prompts", total: testTotal, offset: options.harmfulTest.count))
        }
        log(String(format: "original: %d/%d refusals", before.refusals, before.total))

        var harmfulTrain = options.harmfulTrain, harmlessTrain = options.harmlessTrain
        var behaviour: BehaviourSelection?
        if options.byBehaviour {
            log("judging the original's responses to \(harmfulTrain.count) harmful and \(harmlessTrain.count) harmless training prompts")
            var judging = evaluation
            judging.maxNewTokens = options.searchMaxNewTokens
            let selection = try timed("select by behaviour") {
                try BehaviourSelection.select(
                    session: session, harmful: harmfulTrain, harmless: harmlessTrain, options: judging,
                    progress: reporter("select by behaviour", unit: "prompts", total: harmfulTrain.count + harmlessTrain.count))
            }
            log("  \(selection.summary): measuring and searching on those")
            harmfulTrain = selection.keptHarmful(harmfulTrain)
            harmlessTrain = selection.keptHarmless(harmlessTrain)
            behaviour = selection
        }
        log("measuring \(harmfulTrain.count) harmful and \(harmlessTrain.count) harmless training prompts\(options.measurementQuantization == .none ? "" : " on a \(options.measurementQuantization.rawValue) copy")")
        let measurements = try timed("measure") { () throws -> Measurements in
            let q = options.measurementQuantization
            let measureSession = q == .none
                ? session
                : try ModelSession.load(
                    path: path, adapter: adapter, quantization: q,
                    progress: { done, total in progress?(StepProgress(step: "quantize \(q.rawValue)", done: done, total: total, unit: "weights")) })
            return try ResidualMeasurement.measure(
                session: measureSession, harmful: harmfulTrain, harmless: harmlessTrain, options: options.measurement,
                progress: reporter("measure", unit: "prompts", total: harmfulTrain.count + harmlessTrain.count))
        }
        let analysis = MeasurementAnalysis(measurements)

        var search: [PlanSearch.Candidate]?
        var screenedPlans: [ProfileSearch.Screened]?
        var front: [String]?
        var refusalPrefixes: [String]?
        let plan: LayerPlan
        /// The plans of `scored` on its Pareto front (refusals vs KL), logged.
        func paretoFront(_ scored: [PlanSearch.Candidate]) throws -> [String] {
            log("Pareto front (refusals vs KL on the search prompts):")
            return try PlanSearch.front(scored).map { i in
                let c = scored[i]
                let interval = try ProportionInterval.wilson(successes: c.refusals, total: c.total)
                log(String(format: "  %d/%d refusals (95%% CI %.0f–%.0f%%), KL %.4f: %@", c.refusals, c.total,
                           100 * interval.lower, 100 * interval.upper, c.klDivergence, c.plan))
                return c.plan
            }
        }
        let searchHarmful = PromptSet.evenlySpaced(harmfulTrain, count: options.searchPrompts)
        let searchHarmless = PromptSet.evenlySpaced(harmlessTrain, count: options.searchPrompts)
        if let fixed = options.plan {
            plan = fixed
        } else if options.candidates == nil && options.search == .profile {
            var searchEvaluation = evaluation
            searchEvaluation.maxNewTokens = options.searchMaxNewTokens
            let layerCount = session.model.configuration.layerCount
            log("profile search on \(searchHarmful.count) harmful and \(searchHarmless.count) harmless training prompts: the unedited model's refusals")
            let objective = try timed("search") {
                try ScreeningObjective.prepare(
                    session: session, harmful: searchHarmful, harmless: searchHarmless, evaluation: searchEvaluation,
                    progress: reporter("search baseline", unit: "prompts", total: searchHarmful.count + searchHarmless.count))
            }
            var prefixCounts: [String: Int] = [:]
            for prefix in objective.refusalPrefixes {
                prefixCounts[session.tokenizer.decode(prefix, skipSpecialTokens: false), default: 0] += 1
            }
            refusalPrefixes = prefixCounts.keys.sorted { (prefixCounts[$0]!, $1) > (prefixCounts[$1]!, $0) }
            log(String(format: "  unedited: %d/%d refusals, refusal score %.3f (its own %d-token refusal prefixes, e.g. %@)",
                       objective.uneditedRefusals.refusals, objective.uneditedRefusals.total, objective.uneditedScore,
                       objective.prefixLength, refusalPrefixes!.prefix(3).map { UserText.sanitized("\"\($0)\"", limit: 80) }.joined(separator: ", ")))
            let searcher = options.profileSearch
            log("screening \(searcher.evaluations) profiles with the screening objective (seed \(searcher.seed))")
            let screened = try timed("search") {
                try searcher.explore(layerCount: layerCount, score: { plan in
                    try ModelEditor.withPlan(plan, measurements: measurements, options: options.ablation, model: session.model) {
                        try objective.score(session: session)
                    }
                }, progress: { i, n, c in
                    progress?(StepProgress(step: "screen", done: i, total: n, unit: "profiles"))
                    log(String(format: "  screened %d/%d %@: refusal score %.3f, KL %.4f", i, n, c.plan, c.refusalScore, c.klDivergence))
                })
            }
            screenedPlans = screened
            let shortList = searcher.shortList(screened, uneditedScore: objective.uneditedScore)
            log("confirming \(shortList.count) plans of the screened front by generation")
            var confirmation = searchEvaluation
            confirmation.stopAtRefusal = true  // only the count is kept
            var confirmed: [PlanSearch.Candidate] = []
            var plans: [LayerPlan] = []
            for (k, i) in shortList.enumerated() {
                let candidatePlan = try LayerPlan(parsing: screened[i].plan)
                let refusals = try timed("search") {
                    try ModelEditor.withPlan(candidatePlan, measurements: measurements, options: options.ablation, model: session.model) {
                        try ModelEvaluation.refusals(
                            session: session, prompts: searchHarmful, options: confirmation,
                            progress: reporter("confirm \(k + 1)/\(shortList.count)", unit: "prompts", total: searchHarmful.count))
                    }
                }
                let c = PlanSearch.Candidate(
                    plan: screened[i].plan, refusals: refusals.refusals, total: refusals.total,
                    klDivergence: screened[i].klDivergence, refusalScore: screened[i].refusalScore)
                log(String(format: "  confirmed %@: %d/%d refusals, KL %.4f (refusal score %.3f)", c.plan, c.refusals, c.total, c.klDivergence, screened[i].refusalScore))
                confirmed.append(c)
                plans.append(candidatePlan)
            }
            front = try paretoFront(confirmed)
            let chosen = options.selection.choose(confirmed)
            search = confirmed
            plan = plans[chosen]
            log("chosen (\(options.selection)): \(plan)")
        } else {
            var candidates = try options.candidates ?? (options.ablation.norms == .rows
                ? PlanSearch.rowNormalizedCandidates(analysis)
                : PlanSearch.defaultCandidates(analysis, reading: options.ablation.targets.allSatisfy(\.readsResidual)))
            log("searching \(candidates.count) candidate plans on \(options.searchPrompts) training prompts of each kind")
            let searcher = PlanSearch(
                harmful: searchHarmful, harmless: searchHarmless,
                maxNewTokens: options.searchMaxNewTokens, refusalTarget: options.refusalTarget, evaluation: evaluation)
            let searchBaseline = try timed("search") {
                try searcher.baseline(
                    session: session, progress: reporter("search baseline", unit: "prompts", total: searcher.harmless.count))
            }
            var (scored, chosen) = try timed("search") {
                try searcher.run(
                    session: session, measurements: measurements, candidates: candidates, options: options.ablation,
                    baseline: searchBaseline, progress: { i, n, c in
                    log("  candidate \(i)/\(n) \(c.plan): \(c.refusals)/\(c.total) refusals, KL " + String(format: "%.4f", c.klDivergence))
                }, stepProgress: progress)
            }
            // Refinement: the smallest scale of the best plan that reaches the target, when it misses it.
            // The best plan is the selection's (under --max-kl, the fewest refusals within the KL cap), so
            // that a cap refines a plan it can keep, among the one-direction spans: the per-block
            // directions of `ownDirections` stop removing refusals well before any target as their scale grows
            // under the plain edit. When every candidate is per-block (row normalization's grid), each keeps
            // removing refusals as its scale grows (Docs/results.md), so any of them may be refined.
            chosen = options.startingSelection.choose(scored)
            let perBlockOnly = candidates.allSatisfy { !$0.isSingleSpan }
            let spans = scored.indices.filter { perBlockOnly || candidates[$0].isSingleSpan }
            if options.candidates == nil, scored[chosen].refusalRate > options.refusalTarget, !spans.isEmpty {
                let best = spans[options.startingSelection.choose(spans.map { scored[$0] })]
                let tried = try timed("search") {
                    try searcher.refine(
                        candidates[best], session: session, measurements: measurements, options: options.ablation,
                        baseline: searchBaseline, progress: { c in
                        log("  refinement \(c.plan): \(c.refusals)/\(c.total) refusals, KL " + String(format: "%.4f", c.klDivergence))
                    }, stepProgress: progress)
                }
                candidates.append(contentsOf: tried.map(\.plan))
                scored.append(contentsOf: tried.map(\.candidate))
            }
            // The front: the best plan at weaker scales too, so that the reported Pareto front reaches low KL
            // (and a --max-kl cap below every candidate's KL has plans to choose from).
            if options.candidates == nil {
                /// Scores `plans` after the grid, logs each as `label`, and adds them to the search.
                func scoreMore(_ plans: [LayerPlan], label: String) throws {
                    let more = try timed("search") {
                        try searcher.run(
                            session: session, measurements: measurements, candidates: plans, options: options.ablation,
                            baseline: searchBaseline, progress: { _, _, c in
                            log("  \(label) \(c.plan): \(c.refusals)/\(c.total) refusals, KL " + String(format: "%.4f", c.klDivergence))
                        }, stepProgress: progress)
                    }
                    candidates.append(contentsOf: plans)
                    scored.append(contentsOf: more.candidates)
                }
                let ladder = try PlanSearch.frontLadder(
                    candidates, scored: scored, selection: options.startingSelection)
                if !ladder.isEmpty { try scoreMore(ladder, label: "front") }
                // Then the widest gaps of the front, one plan at a time.
                for _ in 0..<PlanSearch.frontFills {
                    guard let fill = try PlanSearch.frontFill(candidates, scored: scored) else { break }
                    try scoreMore([fill], label: "front fill")
                }
            }
            front = try paretoFront(scored)
            chosen = options.selection.choose(scored)
            search = scored
            plan = candidates[chosen]
            log("chosen plan: \(plan)")
        }

        log("writing \(output)")
        let edits = try ModelEditor.plannedEdits(
            plan: plan, measurements: measurements, options: options.ablation, model: session.model)
        let editDirection = ModelEditor.appliedDirectionMode(edits)
        let writtenEdits = try timed("ablate and write") { () throws -> [TensorEditSummary] in
            if let type = options.gguf {
                return try GGUFExport.write(
                    session: session, to: output, editedType: type, modelType: options.ggufModelType, edits: edits,
                    norms: options.ablation.norms,
                    provenance: ModelEditor.provenance(plan: plan, options: options.ablation, edits: edits, measurements: nil),
                    progress: { done, total in progress?(StepProgress(step: "write", done: done, total: total, unit: "tensors")) }).edits
            }
            return try CheckpointExport.write(
                session: session, to: output, dtype: options.dtype, edits: edits, norms: options.ablation.norms,
                metadata: ["abliterate.plan": plan.description, "abliterate.method": options.ablation.method.rawValue,
                           "abliterate.edit_direction": editDirection.rawValue],
                progress: { done, total in progress?(StepProgress(step: "write", done: done, total: total, unit: "tensors")) }).edits
        }

        log("evaluating the edited model")
        let edited = try timed("load edited") { try ModelSession.load(path: output) }
        let after = try timed("evaluate edited") {
            try ModelEvaluation.refusals(
                session: edited, prompts: options.harmfulTest, options: evaluation,
                progress: reporter("evaluate edited", unit: "prompts", total: testTotal))
        }
        let editedLogProbabilities = try timed("evaluate edited") {
            try ModelEvaluation.firstTokenLogProbabilities(
                session: edited, prompts: options.harmlessTest, options: evaluation,
                progress: reporter("evaluate edited", unit: "prompts", total: testTotal, offset: options.harmfulTest.count))
        }
        let kl = try ModelEvaluation.meanKLDivergence(baseline: baseline, model: editedLogProbabilities)

        let report = Report(
            model: path, adapter: adapter, output: output, measurement: measurements.metadata, behaviour: behaviour,
            suggestedLayers: analysis.suggestedLayers(), search: search, screened: screenedPlans, front: front,
            selection: options.plan == nil ? options.selection.description : nil, refusalPrefixes: refusalPrefixes, plan: plan.description,
            method: options.ablation.method, norms: options.ablation.norms, editDirection: editDirection,
            scale: options.ablation.scale,
            targets: options.ablation.targets, edits: writtenEdits, before: RefusalSummary(before), after: RefusalSummary(after),
            klDivergence: kl, harmlessTestPrompts: options.harmlessTest.count, maxNewTokens: evaluation.maxNewTokens,
            seconds: seconds, responsesBefore: before.responses, responsesAfter: after.responses)
        try measurements.write(to: sideFile("measurements.safetensors", output: output, gguf: gguf))
        try AtomicFile.write(Array(analysis.chart(plan: plan).utf8), to: sideFile("directions.svg", output: output, gguf: gguf))
        try AtomicFile.write(Array(try JSONEncoder.sorted.encode(report)), to: sideFile("report.json", output: output, gguf: gguf))
        return report
    }
}
