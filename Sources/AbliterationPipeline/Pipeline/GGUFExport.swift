import Foundation
import TensorKit
import AbliterationCore
import LanguageModels

/// Writes a loaded (possibly edited) GGUF model as a GGUF file that llama.cpp loads, in one streaming
/// pass.
///
/// What is kept: the source's metadata entries byte for byte and in order (any `abliterate.*` keys of an
/// earlier run are replaced), then the provenance keys (`provenanceKeys`); every tensor in the source's
/// order with the same names, dimensions and alignment; the data of every tensor that was neither edited
/// nor changed by a merged LoRA adapter copied byte for byte. A changed tensor is read in f32 (Hugging
/// Face layout), edited there (`ModelEditor.apply`), brought back to the GGUF layout
/// (`LanguageModel.ggufLayout`) and encoded (`GGMLQuantizer`) as its own type, or as `editedType`. With
/// unchanged types every tensor keeps its offset in the data section.
///
/// Memory: one changed tensor at a time, as f32 plus its encoded copy (the edit works in place), whatever
/// the model's size; untouched tensors are copied from the memory-mapped source.
///
/// `progress(done, total)` follows the tensors written (from a GGUF source). The file is staged under
/// `<path>.tmp-<pid>-<n>` and renamed when complete; an output that is an input is refused (`OutputPaths`),
/// as is a model whose base was quantized at load. A Hugging Face source is converted whole instead
/// (`GGUFConversion`, in the file type `modelType`).
public enum GGUFExport {
    /// The type changed tensors are written in.
    public enum TensorType: Sendable, Equatable, CustomStringConvertible {
        /// Each tensor's type in the source.
        case same
        case type(GGMLType)

        /// `same`, or a writable type name (`GGMLQuantizer.supportedTypes`, case-insensitive: f32, f16,
        /// bf16, q4_0, q4_1, q5_0, q5_1, q8_0, q4_k, q5_k, q6_k).
        public init(parsing text: String) throws {
            let t = text.lowercased()
            if t == "same" { self = .same; return }
            guard let type = GGMLQuantizer.supportedTypes.first(where: { $0.name.lowercased() == t }) else {
                throw AbliterationError.invalidInput(
                    "GGUF tensor type '\(UserText.sanitized(text))' is not one this tool writes: use same, "
                        + GGMLQuantizer.supportedTypes.map { $0.name.lowercased() }.joined(separator: ", "))
            }
            self = .type(type)
        }

        public var description: String {
            switch self {
            case .same: return "same"
            case .type(let t): return t.name
            }
        }
    }

    /// What was written.
    public struct Summary: Sendable, Codable, Equatable {
        public var path: String
        public var tensorCount: Int
        /// Tensors whose bytes were copied from the source.
        public var copiedTensors: Int
        /// Tensors re-encoded after an edit or a merge, by GGUF name, with the type written.
        public var encodedTensors: [String: String]
        public var totalBytes: Int
        public var edits: [TensorEditSummary]
        /// The `abliterate.*` metadata written.
        public var provenance: [String: String]

        /// What the commands print: `wrote PATH: N tensors (C copied unchanged, E re-encoded as F32 61, Q8_0 211), B bytes`.
        public var line: String {
            var counts: [String: Int] = [:]
            for type in encodedTensors.values { counts[type, default: 0] += 1 }
            let types = counts.keys.sorted().map { "\($0) \(counts[$0]!)" }.joined(separator: ", ")
            let encoded = encodedTensors.isEmpty ? "none re-encoded" : "\(encodedTensors.count) re-encoded as \(types)"
            return "wrote \(path): \(tensorCount) tensors (\(copiedTensors) copied unchanged, \(encoded)), \(totalBytes) bytes"
        }
    }

    /// Whether `path` names a GGUF file (ends in `.gguf`, any case).
    public static func isGGUFPath(_ path: String) -> Bool { path.lowercased().hasSuffix(".gguf") }

    /// The provenance keys every export writes (others come from the caller, e.g. `abliterate.plan`).
    /// `abliterate.directions_sha256` is the SHA-256 of, for each edited tensor in file order, its Hugging
    /// Face name in UTF-8, a zero byte, the scale as little-endian f32 and the unit vector it was
    /// orthogonalized against as little-endian f64 values (empty input when nothing was edited).
    public static let provenanceKeys = [
        "abliterate.tool_version", "abliterate.source", "abliterate.adapter", "abliterate.edited_tensors",
        "abliterate.edited_type", "abliterate.directions_sha256",
    ]

    /// The SHA-256 behind `abliterate.directions_sha256` of `edits` in file order (see `provenanceKeys`).
    static func directionsFingerprint(_ edits: [ModelEditor.PlannedEdit]) throws -> String {
        var fingerprint = SHA256()
        for edit in edits {
            fingerprint.update(Array(edit.name.utf8) + [0])
            withUnsafeBytes(of: edit.scale.bitPattern.littleEndian) { fingerprint.update($0) }
            for v in try edit.editDirection() { withUnsafeBytes(of: v.bitPattern.littleEndian) { fingerprint.update($0) } }
        }
        return fingerprint.finalize().map { String(format: "%02x", $0) }.joined()
    }

    /// Whether a GGUF written from `source` is a whole conversion (a Hugging Face directory) rather than
    /// a copy of a GGUF file; throws when the types given do not fit the source: `editedType` is for a GGUF
    /// source, `modelType` for a Hugging Face one. Callers check early, before any long work.
    public static func checkTypes(source: String, editedType: TensorType, modelType: GGUFConversion.FileType?) throws -> Bool {
        var isDirectory: ObjCBool = false
        let shown = UserText.sanitized(source, limit: 400)
        if FileManager.default.fileExists(atPath: source, isDirectory: &isDirectory), isDirectory.boolValue {
            guard editedType == .same else {
                throw AbliterationError.invalidInput(
                    "\(shown): --edited-type is for a GGUF source; a Hugging Face directory is converted whole, in --gguf-type")
            }
            return true
        }
        if let modelType {
            throw AbliterationError.invalidInput(
                "\(shown): --gguf-type \(modelType.rawValue) is for a Hugging Face source; a GGUF source keeps its tensors' types (--edited-type sets the changed tensors')")
        }
        return false
    }

    /// Writes `session` as the GGUF file `path`. From a GGUF source: the source with the changed tensors
    /// re-encoded in `editedType` (`modelType` must be nil). From a Hugging Face directory: the whole model
    /// converted in `modelType` (nil: `auto`) by `GGUFConversion.write` (`editedType` must be `same`).
    public static func write(
        session: ModelSession, to path: String, editedType: TensorType = .same, modelType: GGUFConversion.FileType? = nil,
        edits: [ModelEditor.PlannedEdit] = [], norms: NormPreservation = .none, provenance: [String: String] = [:],
        progress: ((Int, Int) -> Void)? = nil
    ) throws -> Summary {
        try OutputPaths.check(
            path, label: "output", kind: .file,
            inputs: OutputPaths.inputs([("model", session.path), ("adapter", session.adapter)]))
        if try checkTypes(source: session.path, editedType: editedType, modelType: modelType) {
            return try GGUFConversion.write(
                session: session, to: path, fileType: modelType ?? .auto, edits: edits, norms: norms,
                provenance: provenance)
        }
        guard session.quantization == .none else {
            throw AbliterationError.unsupported("GGUF output: the base weights were quantized at load (\(session.quantization.rawValue)); load the model without quantization to write it")
        }
        let model = session.model
        let weights = model.weights
        let source = try GGUFFile(path: session.path)

        // Which GGUF tensors change, and from which Hugging Face tensor.
        var hfNameOf: [String: String] = [:]
        for name in weights.names {
            guard let g = model.ggufTensorName(name) else { continue }
            hfNameOf[g] = name
        }
        let plannedEdits = Dictionary(edits.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let changedHF = Set(plannedEdits.keys).union(weights.modifiedNames)
        var changed: Set<String> = []
        for name in changedHF {
            guard weights.contains(name), let g = model.ggufTensorName(name), source.info(g) != nil else {
                throw AbliterationError.invalidInput("\(UserText.sanitized(session.path, limit: 400)): no GGUF tensor for '\(name)' to write")
            }
            changed.insert(g)
        }

        // Directory: the source's, changed tensors in their output type.
        var specs: [GGUFStreamWriter.TensorSpec] = []
        for info in source.tensorInfos {
            var type = info.type
            if changed.contains(info.name) {
                if case .type(let t) = editedType { type = t }
                guard GGMLQuantizer.supportedTypes.contains(type) else {
                    throw AbliterationError.unsupported(
                        "\(UserText.sanitized(session.path, limit: 400)): tensor '\(info.name)' is \(type.name), which this tool cannot encode; pass --edited-type with one of "
                            + GGMLQuantizer.supportedTypes.map { $0.name.lowercased() }.joined(separator: ", "))
                }
            }
            specs.append(try GGUFStreamWriter.TensorSpec(name: info.name, type: type, dims: info.dims, file: path))
        }

        var keys = provenance
        keys["abliterate.tool_version"] = AbliterateVersion.current
        keys["abliterate.source"] = URL(fileURLWithPath: session.path).lastPathComponent
        keys["abliterate.adapter"] = session.adapter.map { URL(fileURLWithPath: $0).lastPathComponent } ?? "none"
        keys["abliterate.edited_tensors"] = String(plannedEdits.count)
        keys["abliterate.edited_type"] = editedType.description
        // Edited tensors in file order.
        keys["abliterate.directions_sha256"] = try directionsFingerprint(
            source.tensorInfos.compactMap { hfNameOf[$0.name].flatMap { plannedEdits[$0] } })

        // Metadata: the source's entries as stored, then the provenance.
        var metadata: [(key: String, entry: [UInt8])] = []
        let bytes = source.mappedFile.bytes
        for (key, range) in zip(source.metadataKeys, source.metadataEntryRanges) where !key.hasPrefix("abliterate.") {
            metadata.append((key, Array(bytes[range])))
        }
        for key in keys.keys.sorted() {
            metadata.append((key, try GGUFWriter.encodeEntry(key: key, value: .string(keys[key]!), file: path)))
        }

        let writer = try GGUFStreamWriter(path: path, metadata: metadata, tensors: specs, alignment: source.alignment)
        var copied = 0
        var encoded: [String: String] = [:]
        var summaries: [TensorEditSummary] = []
        do {
            progress?(0, specs.count)
            for (n, spec) in specs.enumerated() {
                defer { progress?(n + 1, specs.count) }
                guard changed.contains(spec.name), let hf = hfNameOf[spec.name] else {
                    try writer.append(spec.name, try source.tensor(spec.name).bytes)
                    copied += 1
                    continue
                }
                let layout: [Float]
                do {  // the f32 tensor is released (or shared with `layout`) before encoding
                    var values = try weights.float32(hf)
                    if let edit = plannedEdits[hf] {
                        summaries.append(try ModelEditor.apply(edit, to: &values, norms: norms).0)
                    }
                    layout = try model.ggufLayout(hf, values.scalars)
                }
                try writer.append(spec.name, try GGMLQuantizer.encode(layout, as: spec.type, tensor: spec.name))
                encoded[spec.name] = spec.type.name
            }
            try writer.finish()
        } catch {
            writer.cancel()
            throw error
        }
        return Summary(
            path: OutputPaths.resolved(path), tensorCount: specs.count, copiedTensors: copied, encodedTensors: encoded,
            totalBytes: writer.totalBytes, edits: summaries, provenance: keys)
    }
}
