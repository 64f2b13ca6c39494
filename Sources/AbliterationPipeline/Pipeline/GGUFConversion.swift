import Foundation
import TensorKit
import AbliterationCore
import LanguageModels

/// Writes a model loaded from a Hugging Face directory (possibly edited, or with a LoRA adapter merged) as
/// a GGUF file that llama.cpp loads: what llama.cpp's `convert_hf_to_gguf.py` writes for llama, qwen2,
/// qwen3, gemma2 and gemma3, followed, for the quantized types, by what `llama-quantize` makes of it without an
/// importance matrix.
///
/// * Names, layout and hyper-parameters: `LanguageModel.ggufTensors`, `ggufLayout` (llama's Q/K rows
///   permuted, Gemma's norms as 1 + w) and `ggufHyperparameters` (`ARCH.*` keys); the tokenizer:
///   `Tokenizer.ggufMetadata`. Then `general.architecture`, `general.type` (`model`), `general.name` (the
///   directory's name as the converter titles it when no model card names the model, `displayName`),
///   `general.size_label` (the parameter count as gguf-py
///   rounds it, e.g. `135M`), `general.file_type` (llama.cpp's `LLAMA_FTYPE_*`), `general.quantization_version`
///   (2), and the provenance keys (`provenanceKeys`).
/// * Types (`FileType`, `tensorType`): 1-D tensors and norms F32; every other weight in the file type,
///   with llama.cpp's rules for the output tensor, `attn_v` and `ffn_down` and its fall-backs for rows that
///   are not a whole number of blocks.
/// * Values: each tensor read in f32 from the checkpoint (bf16, f16 and f32 exactly), edited there
///   (`ModelEditor.apply`) when the plan edits it, and encoded once (`GGMLQuantizer`). llama.cpp's two-step
///   route rounds to f16 or bf16 first and quantizes that; here the source values are quantized directly.
///
/// Streaming: the header, metadata and directory are written first, computed from the shapes and types;
/// then one tensor at a time (its f32 copy, its GGUF-layout copy when permuted, its encoding), whatever
/// the model's size. The file is staged under `<path>.tmp-<pid>-<n>` and renamed when complete; an output
/// that is an input is refused (`OutputPaths`).
public enum GGUFConversion {
    /// The file's type, named as llama.cpp names it: the converter's `--outtype` (f32, f16, bf16, q8_0) or
    /// `llama-quantize`'s type (Q4_0 … Q6_K, Q4_K and Q5_K being its aliases of Q4_K_M and Q5_K_M).
    public enum FileType: String, Sendable, CaseIterable, CustomStringConvertible {
        /// The converter's default: bf16 when the checkpoint's first matrix is bf16, else f16.
        case auto
        case f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1
        case q4_K_S = "q4_k_s", q4_K_M = "q4_k_m", q5_K_S = "q5_k_s", q5_K_M = "q5_k_m", q6_K = "q6_k"

        /// A name as above, case-insensitive; `q4_k` and `q5_k` are `q4_k_m` and `q5_k_m` (as in `llama-quantize`).
        public init(parsing text: String) throws {
            let t = text.lowercased()
            let aliases = ["q4_k": FileType.q4_K_M, "q5_k": .q5_K_M]
            guard let type = aliases[t] ?? FileType(rawValue: t) else {
                throw AbliterationError.invalidInput(
                    "GGUF file type '\(UserText.sanitized(text))' is not one this tool writes: use "
                        + Self.allCases.map(\.rawValue).joined(separator: ", ") + " (q4_k, q5_k: q4_k_m, q5_k_m)")
            }
            self = type
        }

        /// `Q4_K_M`, `F16`, …
        public var description: String { rawValue.uppercased() }

        /// The type of a weight no rule applies to.
        public var baseType: GGMLType {
            switch self {
            case .auto, .f16: return .f16
            case .f32: return .f32
            case .bf16: return .bf16
            case .q8_0: return .q8_0
            case .q4_0: return .q4_0
            case .q4_1: return .q4_1
            case .q5_0: return .q5_0
            case .q5_1: return .q5_1
            case .q4_K_S, .q4_K_M: return .q4_K
            case .q5_K_S, .q5_K_M: return .q5_K
            case .q6_K: return .q6_K
            }
        }

        /// llama.cpp's `general.file_type` (`LLAMA_FTYPE_ALL_F32` = 0 … `MOSTLY_BF16` = 32).
        public var llamaFileType: UInt32 {
            switch self {
            case .f32: return 0
            case .auto, .f16: return 1
            case .q4_0: return 2
            case .q4_1: return 3
            case .q8_0: return 7
            case .q5_0: return 8
            case .q5_1: return 9
            case .q4_K_S: return 14
            case .q4_K_M: return 15
            case .q5_K_S: return 16
            case .q5_K_M: return 17
            case .q6_K: return 18
            case .bf16: return 32
            }
        }

        /// Whether the converter writes the file by itself (else `llama-quantize` makes it from the converter's).
        var isConverterType: Bool { [.auto, .f32, .f16, .bf16, .q8_0].contains(self) }

        /// `auto` resolved for a model: bf16 when its first matrix is stored as bf16, else f16.
        func resolved(for weights: ModelWeights) throws -> FileType {
            guard self == .auto else { return self }
            for name in weights.names where try weights.shape(of: name).count >= 2 {
                return try weights.storageType(of: name) == .dense(.bf16) ? .bf16 : .f16
            }
            return .f16
        }
    }

    /// The provenance keys every conversion writes (others come from the caller, e.g. `abliterate.plan`);
    /// `abliterate.directions_sha256` as `GGUFExport.provenanceKeys` describes it.
    public static let provenanceKeys = [
        "abliterate.tool_version", "abliterate.source", "abliterate.adapter", "abliterate.edited_tensors",
        "abliterate.gguf_type", "abliterate.directions_sha256",
    ]

    /// `general.quantization_version`: ggml's `GGML_QNT_VERSION`.
    static let quantizationVersion: UInt32 = 2

    /// llama.cpp's `use_more_bits`: the first and last eighth of the blocks, and every third between.
    static func useMoreBits(_ layer: Int, _ layerCount: Int) -> Bool {
        layer < layerCount / 8 || layer >= 7 * layerCount / 8 || (layer - layerCount / 8) % 3 == 2
    }

    /// The type of GGUF tensor `name` with row-major `shape` in a file of `fileType` (resolved, not `auto`):
    ///
    /// * 1-D tensors, norms (`*_norm.weight`) and anything not named `*.weight`: F32 (the converter).
    /// * f32, f16, bf16, q8_0: that type; q8_0 falls back to F16 for a row length that is not a multiple
    ///   of 32 (the converter).
    /// * The quantized types start from `baseType` and apply `llama-quantize`'s rules (its
    ///   `llama_tensor_get_type` without an importance matrix, for models without experts):
    ///   - `output.weight`, or `token_embd.weight` when the head is tied to it: Q6_K, or Q8_0 when the row
    ///     length is not a multiple of the base type's block, and kept Q8_0 for q8_0;
    ///   - `attn_v.weight` of block i of n: Q6_K for Q4_K_M and Q5_K_M when `useMoreBits(i, n)`; Q5_K for
    ///     Q4_K_S when i < 4; Q5_K instead of Q4_K for a llama with 80 blocks and grouped-query attention
    ///     (llama.cpp's "70B" type);
    ///   - `ffn_down.weight`: Q6_K for Q4_K_M and Q5_K_M when `useMoreBits(i, n)`; Q5_K for Q4_K_S when i < n/8;
    ///   - then a row length that is not a multiple of the type's block falls back: Q4_K → Q5_0,
    ///     Q5_K → Q5_1, Q6_K → Q8_0 (32-value blocks), and to F16 when that does not fit either.
    static func tensorType(
        _ name: String, shape: [Int], fileType: FileType, layerCount: Int, tiedEmbeddings: Bool, llama70B: Bool
    ) -> GGMLType {
        let rowLength = shape.last ?? 1
        if shape.count < 2 || name.hasSuffix("_norm.weight") || !name.hasSuffix(".weight") { return .f32 }
        let base = fileType.baseType
        if fileType.isConverterType {
            return base == .q8_0 && rowLength % 32 != 0 ? .f16 : base
        }
        var type = base
        let layer = name.hasPrefix("blk.") ? Int(name.dropFirst(4).prefix { $0 != "." }) : nil
        if name == "output.weight" || (tiedEmbeddings && name == "token_embd.weight") {
            if rowLength % base.blockSize != 0 { type = .q8_0 } else if base != .q8_0 { type = .q6_K }
        } else if let layer, name.hasSuffix(".attn_v.weight") {
            if [.q4_K_M, .q5_K_M].contains(fileType) && useMoreBits(layer, layerCount) {
                type = .q6_K
            } else if fileType == .q4_K_S && layer < 4 {
                type = .q5_K
            }
            if llama70B && (type == .q3_K || type == .q4_K) { type = .q5_K }
        } else if let layer, name.hasSuffix(".ffn_down.weight") {
            if [.q4_K_M, .q5_K_M].contains(fileType) && useMoreBits(layer, layerCount) {
                type = .q6_K
            } else if fileType == .q4_K_S && layer < layerCount / 8 {
                type = .q5_K
            }
        }
        guard rowLength % type.blockSize != 0 else { return type }
        switch type {
        case .q4_K: type = .q5_0
        case .q5_K: type = .q5_1
        case .q6_K: type = .q8_0
        default: break
        }
        return rowLength % type.blockSize == 0 ? type : .f16
    }

    /// gguf-py's `size_label`: the parameter count in K, M, B or T with at least two significant digits
    /// (`model_weight_count_rounded_notation`), e.g. 134,515,008 → `135M`.
    static func sizeLabel(_ parameters: Int) -> String {
        let n = Double(parameters)
        let (scaled, suffix): (Double, String) =
            n > 1e12 ? (n * 1e-12, "T") : n > 1e9 ? (n * 1e-9, "B") : n > 1e6 ? (n * 1e-6, "M") : (n * 1e-3, "K")
        let digits = String(Int(scaled.rounded(.toNearestOrEven))).drop { $0 == "0" }.count
        return String(format: "%.\(max(2 - digits, 0))f", scaled) + suffix
    }

    /// `general.name` from a directory name, as gguf-py's `Metadata.id_to_title` makes it when nothing else
    /// names the model: `-` becomes a space, and each all-lowercase word that is not a version (`v1.2`) or
    /// number-like is title-cased as Python's `str.title` does (`smol-bf16` → `Smol Bf16`).
    static func displayName(_ directoryName: String) -> String {
        directoryName.replacingOccurrences(of: "-", with: " ").split(whereSeparator: \.isWhitespace).map { word -> String in
            let w = String(word)
            let cased = w.filter(\.isCased)
            let versionLike = w.first?.isNumber == true
                || (w.first == "v" && w.count > 1 && w.dropFirst().split(separator: ".", omittingEmptySubsequences: false)
                    .allSatisfy { !$0.isEmpty && $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) })
            guard !cased.isEmpty, cased.allSatisfy(\.isLowercase), !versionLike else { return w }
            var out = "", previousCased = false
            for c in w {
                out += c.isCased ? (previousCased ? c.lowercased() : c.uppercased()) : String(c)
                previousCased = c.isCased
            }
            return out
        }.joined(separator: " ")
    }

    /// Writes `session` (a Hugging Face directory, loaded without quantization) to the GGUF file `path`
    /// in `fileType`, applying `edits` on the way. Every error names the file and the tensor or key.
    public static func write(
        session: ModelSession, to path: String, fileType requested: FileType = .auto,
        edits: [ModelEditor.PlannedEdit] = [], norms: NormPreservation = .none, provenance: [String: String] = [:]
    ) throws -> GGUFExport.Summary {
        try OutputPaths.check(
            path, label: "output", kind: .file,
            inputs: OutputPaths.inputs([("model", session.path), ("adapter", session.adapter)]))
        let directory = UserText.sanitized(session.path, limit: 400)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: session.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw AbliterationError.invalidInput("\(directory): GGUF conversion needs a Hugging Face directory")
        }
        guard session.quantization == .none else {
            throw AbliterationError.unsupported("GGUF output: the base weights were quantized at load (\(session.quantization.rawValue)); load the model without quantization to write it")
        }
        let model = session.model
        let weights = model.weights
        let c = model.configuration
        let fileType = try requested.resolved(for: weights)
        let configPath = (session.path as NSString).appendingPathComponent("config.json")
        let directoryName = URL(fileURLWithPath: OutputPaths.resolved(session.path)).lastPathComponent
        let shownPath = UserText.sanitized(path, limit: 400)
        let plannedEdits = Dictionary(edits.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for name in plannedEdits.keys where !weights.contains(name) {
            throw AbliterationError.invalidInput("\(directory): the model has no tensor '\(name)' to edit")
        }

        // Directory: every tensor with its type.
        let tensors = try model.ggufTensors()
        let llama70B = c.architecture == .llama && c.layerCount == 80 && c.headCount != c.kvHeadCount
        var specs: [GGUFStreamWriter.TensorSpec] = []
        var parameters = 0
        for t in tensors {
            let type = tensorType(
                t.name, shape: t.shape, fileType: fileType, layerCount: c.layerCount,
                tiedEmbeddings: c.tieWordEmbeddings, llama70B: llama70B)
            specs.append(try GGUFStreamWriter.TensorSpec(name: t.name, type: type, dims: t.shape.reversed(), file: path))
            parameters += t.shape.reduce(1, *)
        }

        // Metadata: general, hyper-parameters, tokenizer, provenance (the token arrays released once encoded).
        var keys = provenance
        keys["abliterate.tool_version"] = AbliterateVersion.current
        keys["abliterate.source"] = directoryName
        keys["abliterate.adapter"] = session.adapter.map { URL(fileURLWithPath: $0).lastPathComponent } ?? "none"
        keys["abliterate.edited_tensors"] = String(plannedEdits.count)
        keys["abliterate.gguf_type"] = fileType.description
        keys["abliterate.directions_sha256"] = try GGUFExport.directionsFingerprint(
            tensors.compactMap { $0.hfName.flatMap { plannedEdits[$0] } })
        let entries: [(key: String, entry: [UInt8])]
        do {
            var metadata = GGUFMetadataList()
            metadata.set("general.architecture", .string(c.architecture.rawValue))
            metadata.set("general.type", .string("model"))
            metadata.set("general.name", .string(displayName(directoryName)))
            metadata.set("general.size_label", .string(sizeLabel(parameters)))
            metadata.append(contentsOf: try model.ggufHyperparameters(source: configPath))
            metadata.set("general.file_type", .uint32(fileType.llamaFileType))
            metadata.set("general.quantization_version", .uint32(quantizationVersion))
            metadata.append(contentsOf: try session.tokenizer.ggufMetadata(
                vocabularySize: c.vocabSize, configuration: c,
                source: (session.path as NSString).appendingPathComponent("tokenizer.json")))
            for key in keys.keys.sorted() { metadata.set(key, .string(keys[key]!)) }
            entries = try metadata.entries.map { (key: $0.key, entry: try GGUFWriter.encodeEntry(key: $0.key, value: $0.value, file: path)) }
        }

        let writer = try GGUFStreamWriter(path: path, metadata: entries, tensors: specs)
        var encoded: [String: String] = [:]
        var summaries: [TensorEditSummary] = []
        do {
            for (t, spec) in zip(tensors, specs) {
                let layout: [Float]
                if let values = t.values {
                    layout = values
                } else if let hf = t.hfName {  // the f32 tensor is released (or shared with `layout`) before encoding
                    var values = try weights.float32(hf)
                    if let edit = plannedEdits[hf] {
                        summaries.append(try ModelEditor.apply(edit, to: &values, norms: norms).0)
                    }
                    layout = try model.ggufLayout(hf, values.scalars)
                } else {
                    throw AbliterationError.invalidInput("\(shownPath): tensor '\(t.name)' has no values")
                }
                let bytes: [UInt8]
                do {
                    bytes = try GGMLQuantizer.encode(layout, as: spec.type, tensor: spec.name)
                } catch {
                    throw AbliterationError.invalidInput("\(shownPath): tensor '\(spec.name)' (\(t.hfName ?? "generated")): \(error)")
                }
                try writer.append(spec.name, bytes)
                encoded[spec.name] = spec.type.name
            }
            try writer.finish()
        } catch {
            writer.cancel()
            throw error
        }
        return GGUFExport.Summary(
            path: OutputPaths.resolved(path), tensorCount: specs.count, copiedTensors: 0, encodedTensors: encoded,
            totalBytes: writer.totalBytes, edits: summaries, provenance: keys)
    }
}
