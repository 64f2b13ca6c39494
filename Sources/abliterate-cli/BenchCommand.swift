import AbliterationCore
import AbliterationPipeline
import ArgumentParser
import Foundation
import LanguageModels
import TensorKit

/// `abliterate bench`: throughput of the kernels the tool is built on.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure the throughput of abliterate's kernels on this machine.",
        discussion: """
            Examples:
              abliterate bench kernels          sgemm, bf16/f16 conversion, dequantization and direct dot per block type
              abliterate bench orthogonalize    editing a bf16 4096 x 14336 matrix
              abliterate bench tokenizer --model SmolLM2-135M-Instruct.Q4_1.gguf
              abliterate bench runtime --model SmolLM2-135M-Instruct.Q4_1.gguf
            """,
        subcommands: [Kernels.self, Orthogonalize.self, TokenizerSpeed.self, RuntimeBenchCommand.self, PipelineBenchCommand.self])

    struct Kernels: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "sgemm GFLOP/s (Tensor.matmul and direct cblas_sgemm), conversion and dequantization GB/s.")

        @Option(parsing: .unconditional, help: "Repetitions per measurement (the best is reported).")
        var repetitions = 10

        @Option(parsing: .unconditional, help: "BLAS threads.")
        var threads = 2

        func validate() throws {
            try requirePositive(("--repetitions", repetitions), ("--threads", threads))
        }

        func run() throws {
            BLAS.threadCount = threads
            for result in KernelBenchmark.run(repetitions: repetitions) { print(result) }
        }
    }

    struct Orthogonalize: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "GB/s of weights for orthogonalizing a matrix against a direction.")

        @Option(parsing: .unconditional, help: "Rows (the hidden size).") var rows = 4096
        @Option(parsing: .unconditional, help: "Columns.") var cols = 14336
        @Option(help: "Storage dtype.") var dtype = FloatDType.bf16
        @Option(parsing: .unconditional, help: "Worker threads.") var threads = 2
        @Flag(help: "Use the norm-preserving variant.") var normPreserving = false
        @Flag(help: "Use the row-normalized variant.") var rowNormalized = false

        func validate() throws {
            try requirePositive(("--rows", rows), ("--cols", cols), ("--threads", threads))
            guard !(normPreserving && rowNormalized) else { throw ValidationError("--norm-preserving and --row-normalized: pick one") }
        }

        func run() throws {
            try reportingErrors("bench orthogonalize") {
                print(try OrthogonalizerBenchmark.run(
                    rows: rows, cols: cols, dtype: dtype.dtype, threads: threads,
                    norms: rowNormalized ? .rows : normPreserving ? .vectors : .none))
            }
        }
    }

    struct TokenizerSpeed: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "tokenizer", abstract: "MB/s of English text encoded on one core.")

        @Option(help: "A GGUF file or Hugging Face directory whose tokenizer to use.") var model: String
        @Option(parsing: .unconditional, help: "Bytes of text per pass.") var bytes = 2_000_000

        func validate() throws { try requirePositive(("--bytes", bytes)) }

        func run() throws {
            try reportingErrors("bench tokenizer") {
                let tokenizer = try Tokenizer.load(path: model)
                print(TokenizerBenchmark.run(tokenizer, bytes: bytes))
            }
        }
    }
}
