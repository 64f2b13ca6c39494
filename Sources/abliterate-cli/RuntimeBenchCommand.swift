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
    @Option(help: "Activations of decoding's dot products with GGUF-quantized weights: q8 (quantized to 8-bit blocks, as llama.cpp) or f32.")
    var activations = DecodeActivations.f32

    @Option(parsing: .unconditional, help: ArgumentHelp("Batches of up to this many tokens take the streamed (direct dot product) path.", visibility: .hidden))
    var streamedMaxTokens: Int?

    enum DecodeActivations: String, ExpressibleByArgument, CaseIterable { case q8, f32 }

    func validate() throws {
        try requirePositive(
            ("--batch", batch), ("--prompt-length", promptLength), ("--decode-tokens", decodeTokens),
            ("--repetitions", repetitions), ("--threads", threads))
    }

    func run() throws {
        try reportingErrors("bench runtime") {
            BLAS.threadCount = threads
            LinearKernels.quantizedActivations = activations == .q8
            if let streamedMaxTokens { LinearKernels.streamedMaxTokens = streamedMaxTokens }
            let lm = try LanguageModel.load(path: model)
            print("\(model) (\(lm.configuration.architecture.rawValue)), \(threads) threads, \(activations) activations")
            let results = try RuntimeBenchmark.run(
                model: lm, batch: batch, promptLength: promptLength, decodeTokens: decodeTokens, repetitions: repetitions)
            for r in results { print(r) }
            let bytes = Double(try RuntimeBenchmark.weightBytesPerDecodeStep(lm))
            if let decode = results.first(where: { $0.name.hasPrefix("decode batch 1 ") }) {
                print(String(
                    format: "decode batch 1 weight reads: %.3f GB per step, %.2f GB/s", bytes / 1e9, bytes * decode.tokensPerSecond / 1e9))
            }
        }
    }
}
