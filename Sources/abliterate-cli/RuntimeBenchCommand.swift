import AbliterationCore
import AbliterationPipeline
import ArgumentParser
import Foundation
import LanguageModels
import TensorKit

/// `abliterate bench runtime --model MODEL`: prompt-processing and decode tokens/s of the runtime.
struct RuntimeBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runtime",
        abstract: "Measure the model runtime's prompt-processing and decode tokens/s.")

    @Option(help: "A GGUF file or a Hugging Face model directory.") var model: String
    @Option(parsing: .unconditional, help: "Prompts per batch.") var batch = 32
    @Option(parsing: .unconditional, help: "Tokens per prompt.") var promptLength = 40
    @Option(parsing: .unconditional, help: "Generated tokens per decode measurement.") var decodeTokens = 32
    @Option(parsing: .unconditional, help: "Repetitions (the best is reported).") var repetitions = 3
    @Option(parsing: .unconditional, help: "CPU threads.") var threads = 2

    func validate() throws {
        try requirePositive(
            ("--batch", batch), ("--prompt-length", promptLength), ("--decode-tokens", decodeTokens),
            ("--repetitions", repetitions), ("--threads", threads))
    }

    func run() throws {
        try reportingErrors("bench runtime") {
            BLAS.threadCount = threads
            let lm = try LanguageModel.load(path: model)
            print("\(model) (\(lm.configuration.architecture.rawValue)), \(threads) threads")
            for r in try RuntimeBenchmark.run(
                model: lm, batch: batch, promptLength: promptLength, decodeTokens: decodeTokens, repetitions: repetitions) {
                print(r)
            }
        }
    }
}
