import Foundation
import TensorKit

/// What a checkpoint is, read from its headers without loading weights: format, architecture,
/// hyper-parameters, tokenizer, and the tensor table.
///
/// `inspect(path:)` accepts a GGUF file, a safetensors file, or a Hugging Face model directory
/// (`config.json` + safetensors weights, single or sharded). Broken files surface as the
/// `TensorKitError` of the reader (naming file and key/tensor); anything else wrong with the path or
/// `config.json` is a `ModelError.invalidInput`.
public struct CheckpointInspection: Codable, Equatable, Sendable {
    public enum Format: String, Codable, Sendable {
        case gguf
        case safetensors
        /// A Hugging Face model directory.
        case huggingFace = "hugging-face"
    }

    /// Transformer hyper-parameters; nil where the checkpoint does not say.
    public struct HyperParameters: Codable, Equatable, Sendable {
        public var layers: Int?
        public var hiddenSize: Int?
        public var ffnSize: Int?
        public var heads: Int?
        public var kvHeads: Int?
        public var headDim: Int?
        public var vocabSize: Int?
        public var contextLength: Int?
        public var ropeBase: Double?
        public var normEpsilon: Double?
        public var slidingWindow: Int?

        public init() {}
    }

    /// One row of the tensor table.
    public struct TensorEntry: Codable, Equatable, Sendable {
        public var name: String
        /// The dtype (safetensors, e.g. `BF16`) or ggml type (e.g. `Q4_K`).
        public var type: String
        /// Row-major shape, outermost first (GGUF dims reversed: `[out, in]`).
        public var shape: [Int]
        public var bytes: Int

        public var parameters: Int { shape.reduce(1, *) }
    }

    public var path: String
    public var format: Format
    /// GGUF version; nil for safetensors.
    public var formatVersion: Int?
    /// GGUF `general.architecture`, or config.json `model_type` (else `architectures[0]`).
    public var architecture: String?
    /// GGUF `general.name`, or config.json `architectures[0]`.
    public var modelName: String?
    public var hyperParameters: HyperParameters
    /// GGUF `tokenizer.ggml.model` (e.g. `gpt2`, `llama`), or tokenizer.json's `model.type` (e.g. `BPE`).
    public var tokenizer: String?
    public var hasChatTemplate: Bool
    public var tensorCount: Int
    public var parameterCount: Int
    public var tensorBytes: Int
    /// Number of tensors of each type, e.g. `["Q4_1": 210, "Q8_0": 1, "F32": 61]`.
    public var typeCounts: [String: Int]
    /// The tensor table in file order; empty when inspected without tensors.
    public var tensors: [TensorEntry]

    /// Inspects the checkpoint at `path`.
    public static func inspect(path: String, includeTensors: Bool = true) throws -> CheckpointInspection {
        var result: CheckpointInspection
        if try ModelPath.isDirectory(path) {
            result = try inspectHuggingFaceDirectory(path)
        } else if path.hasSuffix(".safetensors") {
            result = inspectSafetensorsFile(try SafetensorsFile(path: path))
        } else if try fileStartsWithGGUFMagic(path) {
            result = inspectGGUF(try GGUFFile(path: path))
        } else {
            throw ModelError.invalidInput(
                "\(path): not a GGUF file, a .safetensors file or a Hugging Face model directory")
        }
        if !includeTensors { result.tensors = [] }
        return result
    }

    /// Fills the totals and type counts from a full tensor table.
    init(path: String, format: Format, tensors: [TensorEntry]) {
        self.path = path
        self.format = format
        self.hyperParameters = HyperParameters()
        self.hasChatTemplate = false
        self.tensors = tensors
        self.tensorCount = tensors.count
        self.parameterCount = tensors.reduce(0) { $0 + $1.parameters }
        self.tensorBytes = tensors.reduce(0) { $0 + $1.bytes }
        self.typeCounts = Dictionary(grouping: tensors, by: \.type).mapValues(\.count)
    }

    private static func fileStartsWithGGUFMagic(_ path: String) throws -> Bool {
        let handle = FileHandle(fileDescriptor: try InputFile.open(path).fd, closeOnDealloc: true)
        defer { try? handle.close() }
        return handle.readData(ofLength: 4) == Data("GGUF".utf8)
    }

    /// A Float from a file as the shortest Double that prints the same (1e-05, not 9.99999974e-06).
    static func double(_ value: Float?) -> Double? {
        value.flatMap { Double("\($0)") }
    }
}
