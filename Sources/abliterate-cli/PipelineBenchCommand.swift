import AbliterationCore
import AbliterationPipeline
import ArgumentParser
import Foundation
import LanguageModels
import TensorKit

/// `abliterate bench pipeline --model MODEL --work-dir DIR`: the wall time and peak memory of `measure`,
/// `ablate` (beside a plain copy of the model's files), `eval` and optionally `run` on one model, each run
/// as a child process of this executable.
struct PipelineBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pipeline",
        abstract: "Time measure, ablate (beside cp), eval and run on a model, with each step's peak anonymous memory.",
        discussion: """
            Each step runs as its own process (this executable, or cp for the copy) while its /proc/PID/status
            is read every 5 ms: peak RssAnon (the process's own memory; a memory-mapped model is not in it)
            and VmHWM (peak resident memory, mapped files included). Prompts are taken evenly spaced from the
            built-in sets (training split for measure, test split for eval). WORK-DIR must be new; it keeps the prompts, the measurements, each step's log and bench-pipeline.json; the copy and the
            written models are removed after their step unless --keep.

            Example (the write-up's 12B plan is the default at 48 layers):
              abliterate bench pipeline --model gemma-3-12b-it --work-dir /tmp/bench --quantize nf4 --with-run
            """)

    @Option(help: "A GGUF file or a Hugging Face model directory.") var model: String
    @Option(help: "A PEFT LoRA adapter directory for every step.") var adapter: String?
    @Option(help: "A new directory for the prompts, measurements, logs and outputs.") var workDir: String
    @Option(parsing: .unconditional, help: "Harmful and harmless training prompts measured (each).") var prompts = 32
    @Option(parsing: .unconditional, help: "Harmful and harmless test prompts evaluated (each).") var evalPrompts = 8
    @Option(parsing: .unconditional, help: "Tokens generated per harmful test prompt.") var maxNewTokens = 16
    @Option(help: "The plan ablate applies (default: the write-up's Gemma 3 12B plan scaled to the model's depth).")
    var plan: String?
    @Option(help: "Measure on a quantized copy of the weights (measure and run): nf4, nf4-dq, fp4, fp4-dq, q8_0.")
    var quantize = MeasurementQuantization.none
    @Flag(help: "Also time `run` with the plan as its one candidate (chosen whatever its refusals: no scale refinement).")
    var withRun = false
    @Option(parsing: .unconditional, help: "Search prompts of each kind for `run`.") var searchPrompts = 8
    @Flag(help: "Keep the copy and the written models.") var keep = false
    @Flag(help: "Print the report as JSON.") var json = false

    func validate() throws {
        try requirePositive(
            ("--prompts", prompts), ("--eval-prompts", evalPrompts), ("--max-new-tokens", maxNewTokens),
            ("--search-prompts", searchPrompts))
    }

    func run() throws {
        try reportingErrors("bench pipeline") {
            let fm = FileManager.default
            try prepareOutput(workDir, label: "--work-dir", kind: .newDirectory, inputs: [("--model", model), ("--adapter", adapter)])
            try OutputPaths.createDirectory(workDir)
            let work = URL(fileURLWithPath: workDir).standardizedFileURL.path
            let path = { (name: String) in (work as NSString).appendingPathComponent(name) }
            let executable = Bundle.main.executableURL?.resolvingSymlinksInPath().path ?? CommandLine.arguments[0]

            let inspection = try CheckpointInspection.inspect(path: model, includeTensors: false)
            guard let layers = inspection.hyperParameters.layers, layers > 0 else {
                throw ValidationError("\(model): the layer count is unknown; give --plan")
            }
            let plan = self.plan ?? PipelineBenchmark.defaultPlan(layers: layers)
            for (kind, split, count) in [(PromptKind.harmful, PromptSplit.train, prompts), (.harmless, .train, prompts),
                                         (.harmful, .test, evalPrompts), (.harmless, .test, evalPrompts)] {
                let chosen = PromptSet.evenlySpaced(try PromptSet.builtIn(kind, split: split), count: count)
                try AtomicFile.write(Array((chosen.joined(separator: "\n") + "\n").utf8), to: path("\(kind)_\(split).txt"))
            }
            let adapterArguments = adapter.map { ["--adapter", $0] } ?? []
            let trainPrompts = ["--harmful", path("harmful_train.txt"), "--harmless", path("harmless_train.txt")]
            let testPrompts = ["--harmful", path("harmful_test.txt"), "--harmless", path("harmless_test.txt")]
            // A GGUF model is written back as GGUF, so that ablate and cp write the same kind of file.
            let suffix = model.lowercased().hasSuffix(".gguf") ? ".gguf" : ""
            let copy = path("copy" + suffix), ablated = path("ablated" + suffix), runOutput = path("run-output" + suffix)

            var steps: [(name: String, command: [String], cleanup: String?)] = [
                ("measure", [executable, "measure", "--model", model] + adapterArguments + trainPrompts
                    + ["--quantize", quantize.rawValue, "--output", path("measurements.safetensors")], nil),
                ("copy", ["/bin/cp", "-r", model, copy], copy),
                ("ablate", [executable, "ablate", "--model", model] + adapterArguments
                    + ["--measurements", path("measurements.safetensors"), "--plan", plan, "--output", ablated], nil),
                ("eval", [executable, "eval", "--model", ablated, "--baseline", model]
                    + (adapter.map { ["--baseline-adapter", $0] } ?? []) + testPrompts
                    + ["--max-new-tokens", String(maxNewTokens)], ablated),
            ]
            if withRun {
                steps.append(("run", [executable, "run", "--model", model] + adapterArguments + trainPrompts
                    + ["--harmful-test", path("harmful_test.txt"), "--harmless-test", path("harmless_test.txt"),
                       "--quantize", quantize.rawValue, "--candidates", plan, "--max-refusals", "1",
                       "--search-prompts", String(min(searchPrompts, prompts)),
                       "--max-new-tokens", String(maxNewTokens), "--output", runOutput], runOutput))
            }

            var report = PipelineBenchmark(model: model, plan: plan)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            var encoded = Data()
            for step in steps {
                printError("bench pipeline: \(step.name) (log: \(path(step.name + ".log")))")
                let measurement = try ProcessMeter.run(
                    executable: step.command[0], arguments: Array(step.command.dropFirst()), log: path(step.name + ".log"))
                report.steps.append(PipelineBenchmark.Step(name: step.name, command: step.command, measurement: measurement))
                if let cleanup = step.cleanup, !keep { try? fm.removeItem(atPath: cleanup) }
                // Written after every step, so that the steps measured survive a later one that fails or is stopped.
                encoded = try encoder.encode(report)
                try AtomicFile.write(Array(encoded), to: path("bench-pipeline.json"))
                printError("bench pipeline: " + report.textLine(report.steps.count - 1))
                guard measurement.exitStatus == 0 else {
                    let how = measurement.signal.map { "was killed by signal \($0)" } ?? "exited with status \(measurement.exitStatus)"
                    throw ValidationError("\(step.name) \(how); see \(path(step.name + ".log")) and \(path("bench-pipeline.json"))")
                }
            }
            print(json ? String(decoding: encoded, as: UTF8.self) : report.textReport())
        }
    }
}
