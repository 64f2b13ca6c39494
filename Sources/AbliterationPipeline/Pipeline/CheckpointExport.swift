import Foundation
import TensorKit
import AbliterationCore
import LanguageModels

/// Writes a loaded (possibly edited) model as a Hugging Face model directory: `config.json`,
/// `generation_config.json`, the tokenizer files, and safetensors weights (sharded like a Hugging Face
/// checkpoint when large), so transformers and llama.cpp's converter load it.
///
/// Weight dtypes: a Hugging Face float checkpoint keeps each tensor's dtype, and tensors that were
/// neither edited nor merged are copied byte for byte; a GGUF or 4-bit input becomes bf16 (`dtype`
/// overrides both). The directory is written under a temporary name beside the target and renamed
/// when complete; an existing target, or one that is or holds the input, is refused (`OutputPaths`), and
/// the input is only read.
///
/// `edits` are applied while writing, one tensor at a time, so an ablation needs memory for about one
/// tensor in f32 plus its encoded copy, whatever the model's size.
public enum CheckpointExport {
    /// What was written.
    public struct Summary: Sendable, Codable, Equatable {
        public var directory: String
        public var tensorCount: Int
        public var copiedTensors: Int
        public var convertedTensors: Int
        public var shardFiles: [String]
        public var totalBytes: Int
        public var edits: [TensorEditSummary]
    }

    public static func write(
        session: ModelSession, to directory: String, dtype requested: DType? = nil,
        edits: [ModelEditor.PlannedEdit] = [], normPreserving: Bool = false,
        metadata: [String: String] = [:], maxShardBytes: Int? = nil
    ) throws -> Summary {
        let fm = FileManager.default
        let target = URL(fileURLWithPath: directory).standardizedFileURL.path
        try OutputPaths.check(
            target, label: "output", kind: .newDirectory,
            inputs: OutputPaths.inputs([("model", session.path), ("adapter", session.adapter)]))
        if let d = requested, !(d == .bf16 || d == .f16 || d == .f32) {
            throw AbliterationError.invalidInput("export: dtype \(d.rawValue) is not a float type (use BF16, F16 or F32)")
        }
        let weights = session.model.weights
        let sourceCheckpoint = floatCheckpoint(session.path)
        let plannedEdits = Dictionary(edits.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for name in plannedEdits.keys where !weights.contains(name) {
            throw AbliterationError.invalidInput("export: the model has no tensor '\(name)' to edit")
        }
        // Shard like the input: its largest shard, when it has several.
        let sourceShardBytes = sourceCheckpoint.flatMap { c in c.shards.count > 1 ? c.shards.map { $0.mappedFile.bytes.count }.max() : nil }
        let shardLimit = maxShardBytes ?? sourceShardBytes ?? SafetensorsCheckpointWriter.defaultMaxShardBytes
        func outputType(_ name: String) -> DType { requested ?? sourceCheckpoint?.info(name)?.dtype ?? .bf16 }

        let temporary = target + ".partial-\(getpid())"
        try? fm.removeItem(atPath: temporary)
        try OutputPaths.createDirectory(temporary)
        do {
            let specs = try weights.names.map {
                SafetensorsWriter.TensorSpec(name: $0, dtype: outputType($0), shape: try weights.shape(of: $0))
            }
            var meta = metadata
            meta["format"] = "pt"
            let writer = try SafetensorsCheckpointWriter(
                directory: temporary, tensors: specs, metadata: meta, maxShardBytes: shardLimit)
            var copied = 0, converted = 0
            var summaries: [TensorEditSummary] = []
            do {
                for spec in specs {
                    if let edit = plannedEdits[spec.name] {
                        var values = try weights.float32(spec.name)
                        summaries.append(try ModelEditor.apply(edit, to: &values, normPreserving: normPreserving).0)
                        try writer.write(spec.name, bytes: try Precision.bytes(values.scalars, as: spec.dtype))
                        converted += 1
                    } else if let checkpoint = sourceCheckpoint, !weights.modifiedNames.contains(spec.name),
                              checkpoint.info(spec.name)?.dtype == spec.dtype {
                        try writer.write(try checkpoint.tensor(spec.name))  // untouched: the input's bytes
                        copied += 1
                    } else {
                        let values = try weights.float32(spec.name)
                        try writer.write(spec.name, bytes: try Precision.bytes(values.scalars, as: spec.dtype))
                        converted += 1
                    }
                }
                try writer.finish()
            } catch {
                writer.cancel()
                throw error
            }
            let dtypeName = outputType(weights.names.first { $0.hasSuffix("proj.weight") } ?? weights.names[0])
            try session.model.configJSON(dtype: torchName(dtypeName)).write(to: URL(fileURLWithPath: temporary + "/config.json"))
            try generationConfig(session).write(to: URL(fileURLWithPath: temporary + "/generation_config.json"))
            try session.tokenizer.writeHuggingFaceFiles(to: temporary)
            guard rename(temporary, target) == 0 else {
                throw AbliterationError.invalidInput("\(target): cannot rename the finished directory into place: \(String(cString: strerror(errno)))")
            }
            return Summary(
                directory: target, tensorCount: specs.count, copiedTensors: copied, convertedTensors: converted,
                shardFiles: writer.shardFileNames, totalBytes: writer.totalSize, edits: summaries)
        } catch {
            try? fm.removeItem(atPath: temporary)
            throw error
        }
    }

    /// The input as a Hugging Face float checkpoint, nil for a GGUF file or a quantized checkpoint.
    static func floatCheckpoint(_ path: String) -> SafetensorsCheckpoint? {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue,
              let checkpoint = try? SafetensorsCheckpoint(directory: path) else { return nil }
        // 4-bit packed weights: not a float checkpoint.
        for name in checkpoint.tensorNames where checkpoint.info(name)?.dtype.isFloatingPoint != true { return nil }
        return checkpoint
    }

    static func torchName(_ d: DType) -> String {
        switch d {
        case .f32: return "float32"
        case .f16: return "float16"
        default: return "bfloat16"
        }
    }

    static func generationConfig(_ session: ModelSession) throws -> Data {
        var config: [String: Any] = ["_from_model_config": true, "transformers_version": "4.46.0"]
        if let b = session.tokenizer.bosTokenID { config["bos_token_id"] = b }
        let stops = session.stopTokens.sorted()
        if !stops.isEmpty { config["eos_token_id"] = stops.count == 1 ? stops[0] : stops }
        return try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys])
    }
}
