import Foundation
import TensorKit
import AbliterationCore
import LanguageModels

/// Writes a loaded (possibly edited) model as a Hugging Face model directory.
///
/// * A Hugging Face float safetensors checkpoint (one file, or shards with `model.safetensors.index.json`)
///   is rewritten as a drop-in replacement for itself: the same shard files with the same tensors in the
///   same order under the same names (a multimodal checkpoint's `language_model.…` prefixes, its vision
///   tower and projector included); every tensor neither edited nor changed by a merged adapter copied
///   byte for byte, the others written in their stored dtype; each shard's `__metadata__` kept, with
///   `metadata` added (and `format: pt` when anything is added). A shard in which nothing changes is
///   copied whole, so a `convert` without an adapter or `--dtype` writes the input's files unchanged.
///   `config.json`, the index and every other top-level file (tokenizer, processor, preprocessor,
///   generation config, chat template, README…) are copied byte for byte; weights in other formats
///   (`.bin`, `.pt`, `.pth`, `.ckpt`, `.gguf`, `.h5`, `.msgpack`, `.onnx`, other `.safetensors`) and
///   subdirectories are left out, since they would hold the unedited model. A requested `dtype` converts every float tensor to it, layout and names kept;
///   the shards' sizes then change, and so do the index's `total_size` and the `dtype`/`torch_dtype`
///   values of `config.json` (nothing else in either file).
/// * A GGUF file or a 4-bit checkpoint becomes the text model alone under canonical names: `config.json`
///   written from the loaded configuration, bf16 weights (`dtype` overrides), sharded like a Hugging Face
///   checkpoint when large. A 4-bit checkpoint's other files (tokenizer, chat template, generation config,
///   processor files…) are copied byte for byte, as for a float checkpoint; for a GGUF file the tokenizer
///   files and `generation_config.json` are written from the loaded tokenizer.
///
/// The directory is written under a temporary name beside the target and renamed when complete; an
/// existing target, or one that is or holds the input, is refused (`OutputPaths`), and the input is only
/// read. `edits` are applied while writing, one tensor at a time, so an ablation needs memory for about
/// one tensor in f32 plus its encoded copy, whatever the model's size. `progress(done, total)` follows the
/// tensors written.
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
        /// The input's layout was kept (a Hugging Face float checkpoint): same files, names and order.
        public var keptInputLayout: Bool = false
        /// Non-weight files of the input copied unchanged (`config.json` included when it was), sorted.
        public var copiedFiles: [String] = []
        /// Entries of the input directory left out: other weight files and subdirectories, sorted.
        public var skippedFiles: [String] = []
    }

    /// File name endings of weights that are not the safetensors checkpoint: left out of a drop-in copy.
    static let otherWeightSuffixes = [".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".gguf", ".h5", ".msgpack", ".onnx"]
    /// The most entries an input directory may have for a drop-in copy.
    static let maxDirectoryEntries = 10_000

    public static func write(
        session: ModelSession, to directory: String, dtype requested: DType? = nil,
        edits: [ModelEditor.PlannedEdit] = [], norms: NormPreservation = .none,
        metadata: [String: String] = [:], maxShardBytes: Int? = nil, progress: ((Int, Int) -> Void)? = nil
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
        let plannedEdits = Dictionary(edits.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for name in plannedEdits.keys where !weights.contains(name) {
            throw AbliterationError.invalidInput("export: the model has no tensor '\(name)' to edit")
        }
        let temporary = target + ".partial-\(getpid())"
        try? fm.removeItem(atPath: temporary)
        try OutputPaths.createDirectory(temporary)
        do {
            var summary: Summary
            if let source = floatCheckpoint(session) {
                summary = try writeKeepingLayout(
                    session: session, source: source, to: temporary, dtype: requested, edits: plannedEdits,
                    norms: norms, metadata: metadata, progress: progress)
            } else {
                summary = try writeTextModel(
                    session: session, to: temporary, dtype: requested, edits: plannedEdits,
                    norms: norms, metadata: metadata, maxShardBytes: maxShardBytes, progress: progress)
            }
            guard rename(temporary, target) == 0 else {
                throw AbliterationError.invalidInput("\(target): cannot rename the finished directory into place: \(String(cString: strerror(errno)))")
            }
            summary.directory = target
            return summary
        } catch {
            try? fm.removeItem(atPath: temporary)
            throw error
        }
    }

    // MARK: - A Hugging Face float checkpoint, layout kept

    /// The input as a Hugging Face float checkpoint whose tensors the model was loaded from: nil for a
    /// GGUF file, or when a tensor the model uses is not stored as floats (a 4-bit checkpoint).
    static func floatCheckpoint(_ session: ModelSession) -> SafetensorsCheckpoint? {
        var isDirectory: ObjCBool = false
        let weights = session.model.weights
        guard FileManager.default.fileExists(atPath: session.path, isDirectory: &isDirectory), isDirectory.boolValue,
              !weights.fileNames.isEmpty, weights.names.allSatisfy({ weights.fileNames[$0] != nil }),
              let checkpoint = try? SafetensorsCheckpoint(directory: session.path) else { return nil }
        for raw in weights.fileNames.values where checkpoint.info(raw)?.dtype.isFloatingPoint != true { return nil }
        return checkpoint
    }

    static func writeKeepingLayout(
        session: ModelSession, source: SafetensorsCheckpoint, to temporary: String, dtype requested: DType?,
        edits: [String: ModelEditor.PlannedEdit], norms: NormPreservation, metadata: [String: String],
        progress: ((Int, Int) -> Void)?
    ) throws -> Summary {
        let weights = session.model.weights
        // The model tensor behind each file tensor; a tied head saved anyway follows the embedding.
        var modelName = Dictionary(weights.fileNames.map { ($0.value, $0.key) }, uniquingKeysWith: { a, _ in a })
        if session.model.configuration.tieWordEmbeddings, !weights.contains("lm_head.weight") {
            for raw in source.tensorNames where modelName[raw] == nil && raw.hasSuffix("lm_head.weight") {
                modelName[raw] = "model.embed_tokens.weight"
            }
        }
        func outputType(_ stored: DType) -> DType { stored.isFloatingPoint ? requested ?? stored : stored }

        var copied = 0, converted = 0, tensorCount = 0, sourceBytes = 0, totalBytes = 0
        var convertedType = false
        var summaries: [TensorEditSummary] = []
        var shardFiles: [String] = []
        let allTensors = source.shards.reduce(0) { $0 + $1.tensorInfos.count }
        progress?(0, allTensors)
        for shard in source.shards {
            let file = (shard.path as NSString).lastPathComponent
            shardFiles.append(file)
            // A shard nothing changes (no edit, merge, conversion or added metadata) is the input's file.
            let untouched = metadata.isEmpty && shard.tensorInfos.allSatisfy { info in
                outputType(info.dtype) == info.dtype
                    && modelName[info.name].map { edits[$0] == nil && !weights.modifiedNames.contains($0) } ?? true
            }
            if untouched {
                try AtomicFile.copy(shard.path, to: (temporary as NSString).appendingPathComponent(file))
                copied += shard.tensorInfos.count
                tensorCount += shard.tensorInfos.count
                let bytes = shard.tensorInfos.reduce(0) { $0 + $1.byteCount }
                sourceBytes += bytes
                totalBytes += bytes
                continue
            }
            let specs = shard.tensorInfos.map { SafetensorsWriter.TensorSpec(name: $0.name, dtype: outputType($0.dtype), shape: $0.shape) }
            var meta = shard.metadata
            if !metadata.isEmpty {
                meta.merge(metadata) { _, new in new }
                if meta["format"] == nil { meta["format"] = "pt" }
            }
            let writer = try SafetensorsWriter(
                path: (temporary as NSString).appendingPathComponent(file), tensors: specs, metadata: meta, keepingOrder: true)
            do {
                for (info, spec) in zip(shard.tensorInfos, specs) {
                    let name = modelName[info.name]
                    if let name, try weights.shape(of: name) != info.shape {
                        throw AbliterationError.dimensionMismatch(
                            "\(shard.path): tensor '\(info.name)' has shape \(info.shape), the loaded '\(name)' \(try weights.shape(of: name))")
                    }
                    if let name, let edit = edits[name] {
                        var values = try weights.float32(name)
                        let editSummary = try ModelEditor.apply(edit, to: &values, norms: norms).0
                        if weights.fileNames[name] == info.name { summaries.append(editSummary) }
                        try writer.write(spec.name, bytes: try Precision.bytes(values.scalars, as: spec.dtype))
                        converted += 1
                    } else if let name, weights.modifiedNames.contains(name) {
                        try writer.write(spec.name, bytes: try Precision.bytes(try weights.float32(name).scalars, as: spec.dtype))
                        converted += 1
                    } else if spec.dtype == info.dtype {
                        try writer.write(try shard.tensor(info.name))  // untouched: the input's bytes
                        copied += 1
                    } else {
                        let values = try shard.tensor(info.name).toFloat32()
                        try writer.write(spec.name, bytes: try Precision.bytes(values.scalars, as: spec.dtype))
                        converted += 1
                    }
                    if spec.dtype != info.dtype { convertedType = true }
                    sourceBytes += info.byteCount
                    totalBytes += spec.byteCount ?? 0
                    tensorCount += 1
                    progress?(tensorCount, allTensors)
                }
                try writer.finish()
            } catch {
                writer.cancel()
                throw error
            }
        }
        let (copiedFiles, skippedFiles) = try copyOtherFiles(
            of: source, to: temporary, dtype: convertedType ? requested : nil, sizeChange: totalBytes - sourceBytes)
        return Summary(
            directory: temporary, tensorCount: tensorCount, copiedTensors: copied, convertedTensors: converted,
            shardFiles: shardFiles, totalBytes: totalBytes, edits: summaries, keptInputLayout: true,
            copiedFiles: copiedFiles, skippedFiles: skippedFiles)
    }

    /// Copies every top-level file of the checkpoint's directory that is not a weight file: byte for
    /// byte, except the index's `total_size` (moved by `sizeChange`) and, when the weights were converted
    /// to `dtype`, `config.json`'s dtype values. Files named in `written` (the caller writes its own) are
    /// neither copied nor listed. Returns the files copied and the entries left out.
    static func copyOtherFiles(
        of source: SafetensorsCheckpoint, to temporary: String, dtype requested: DType?, sizeChange: Int,
        written: Set<String> = []
    ) throws -> (copied: [String], skipped: [String]) {
        let directory = source.directory
        let entries: [String]
        do { entries = try FileManager.default.contentsOfDirectory(atPath: directory) } catch {
            throw AbliterationError.invalidInput("\(directory): cannot list the directory: \(error.localizedDescription)")
        }
        guard entries.count <= maxDirectoryEntries else {
            throw AbliterationError.invalidInput("\(directory): \(entries.count) entries, more than the \(maxDirectoryEntries) a model directory may have")
        }
        let shardFiles = Set(source.shards.map { ($0.path as NSString).lastPathComponent })
        var copied: [String] = [], skipped: [String] = []
        for entry in entries.sorted() where !shardFiles.contains(entry) && !written.contains(entry) {
            let path = (directory as NSString).appendingPathComponent(entry)
            let destination = (temporary as NSString).appendingPathComponent(entry)
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                skipped.append(entry)  // a dangling link
                continue
            }
            let lowered = entry.lowercased()
            if isDirectory.boolValue || otherWeightSuffixes.contains(where: { lowered.hasSuffix($0) }) {
                skipped.append(entry)
                continue
            }
            if entry == SafetensorsCheckpoint.indexFileName && sizeChange != 0 {
                let text = try utf8Text(path)
                try AtomicFile.write(Array(try adjustingTotalSize(text, by: sizeChange, file: path).utf8), to: destination)
            } else if entry == "config.json", let d = requested {
                try AtomicFile.write(Array(replacingDType(try utf8Text(path), with: torchName(d)).utf8), to: destination)
            } else {
                try AtomicFile.copy(path, to: destination)
                copied.append(entry)
            }
        }
        return (copied, skipped)
    }

    static func utf8Text(_ path: String) throws -> String {
        guard let text = String(bytes: try InputFile.contents(path, maxBytes: ModelConfiguration.maxConfigFileBytes), encoding: .utf8) else {
            throw AbliterationError.invalidInput("\(path): not UTF-8 text")
        }
        return text
    }

    /// The index text with its `"total_size": N` moved by `change`, nothing else touched.
    static func adjustingTotalSize(_ text: String, by change: Int, file: String) throws -> String {
        let pattern = try NSRegularExpression(pattern: #""total_size"(\s*):(\s*)([0-9]{1,19})"#)
        let ns = text as NSString
        guard let match = pattern.firstMatch(in: text, range: NSRange(location: 0, length: ns.length)),
              let old = Int(ns.substring(with: match.range(at: 3))) else {
            return text  // no total_size to update
        }
        let (new, overflow) = old.addingReportingOverflow(change)
        guard !overflow, new >= 0 else {
            throw AbliterationError.invalidInput("\(file): metadata.total_size \(old) cannot change by \(change) bytes")
        }
        return ns.replacingCharacters(in: match.range(at: 3), with: String(new))
    }

    /// `config.json` text with every `"dtype"` / `"torch_dtype"` float value (top level and nested
    /// configs) set to `torchDType`, nothing else touched.
    static func replacingDType(_ text: String, with torchDType: String) throws -> String {
        let pattern = try NSRegularExpression(pattern: #"("(?:torch_)?dtype"\s*:\s*")(float32|float16|bfloat16|float64)(")"#)
        return pattern.stringByReplacingMatches(
            in: text, range: NSRange(location: 0, length: (text as NSString).length), withTemplate: "$1\(torchDType)$3")
    }

    // MARK: - Text model under canonical names (GGUF, 4-bit)

    static func writeTextModel(
        session: ModelSession, to temporary: String, dtype requested: DType?, edits: [String: ModelEditor.PlannedEdit],
        norms: NormPreservation, metadata: [String: String], maxShardBytes: Int?, progress: ((Int, Int) -> Void)?
    ) throws -> Summary {
        let weights = session.model.weights
        let shardLimit = maxShardBytes ?? SafetensorsCheckpointWriter.defaultMaxShardBytes
        let outputType = requested ?? .bf16
        let specs = try weights.names.map {
            SafetensorsWriter.TensorSpec(name: $0, dtype: outputType, shape: try weights.shape(of: $0))
        }
        var meta = metadata
        meta["format"] = "pt"
        let writer = try SafetensorsCheckpointWriter(
            directory: temporary, tensors: specs, metadata: meta, maxShardBytes: shardLimit)
        var converted = 0
        var summaries: [TensorEditSummary] = []
        do {
            progress?(0, specs.count)
            for spec in specs {
                var values = try weights.float32(spec.name)
                if let edit = edits[spec.name] {
                    summaries.append(try ModelEditor.apply(edit, to: &values, norms: norms).0)
                }
                try writer.write(spec.name, bytes: try Precision.bytes(values.scalars, as: spec.dtype))
                converted += 1
                progress?(converted, specs.count)
            }
            try writer.finish()
        } catch {
            writer.cancel()
            throw error
        }
        // A Hugging Face directory (4-bit) gives its other files unchanged: tokenizer, chat template,
        // generation config, processor files. Its config.json and index describe the 4-bit layout and are
        // written anew.
        var copiedFiles: [String] = [], skippedFiles: [String] = []
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: session.path, isDirectory: &isDirectory), isDirectory.boolValue {
            let source = try SafetensorsCheckpoint(directory: session.path)
            (copiedFiles, skippedFiles) = try copyOtherFiles(
                of: source, to: temporary, dtype: nil, sizeChange: 0,
                written: Set(["config.json", SafetensorsCheckpoint.indexFileName] + writer.shardFileNames))
        }
        try session.model.configJSON(dtype: torchName(outputType)).write(to: URL(fileURLWithPath: temporary + "/config.json"))
        if !copiedFiles.contains("generation_config.json") {
            try generationConfig(session).write(to: URL(fileURLWithPath: temporary + "/generation_config.json"))
        }
        if !copiedFiles.contains("tokenizer.json") {
            try session.tokenizer.writeHuggingFaceFiles(to: temporary)
        }
        return Summary(
            directory: temporary, tensorCount: specs.count, copiedTensors: 0, convertedTensors: converted,
            shardFiles: writer.shardFileNames, totalBytes: writer.totalSize, edits: summaries,
            copiedFiles: copiedFiles, skippedFiles: skippedFiles)
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
