import Foundation
import TensorKit

/// What a measurement was taken on and how: enough to refuse a mismatched combination later.
public struct MeasurementMetadata: Codable, Equatable, Sendable {
    /// The model file or directory (as given), and the adapter merged onto it, if any.
    public var model: String
    public var adapter: String?
    public var architecture: String
    public var hiddenSize: Int
    /// Number of transformer blocks; the means cover residual indices 0...layerCount.
    public var layerCount: Int
    public var harmfulCount: Int
    public var harmlessCount: Int
    /// The Winsorization quantile q (1 = no clipping).
    public var winsorizeQuantile: Double
    /// The weights the forward passes ran on: `none`, `nf4`, `nf4-dq`, `fp4`, `fp4-dq` (bitsandbytes 4-bit,
    /// `-dq` with double-quantized absmax) or `q8_0`.
    public var quantization: String
    /// Whether the chat template was applied, and the system prompt used (nil: the template's default).
    public var chatTemplate: Bool
    public var systemPrompt: String?
    /// How the prompts' token ids begin: `template` (one BOS, written by the chat template; the tokenizer
    /// adds none), `tokenizer` (one BOS, added by the tokenizer, `add_bos_token`, to raw prompts), `none`
    /// (no BOS), or `mixed`. nil in files written before this was recorded.
    public var bos: String?
    /// Where the vector was read: always "last prompt token" for now.
    public var position: String
    /// The layer convention, spelled out in the file.
    public var layerConvention: String
    public var toolVersion: String

    public init(
        model: String, adapter: String?, architecture: String, hiddenSize: Int, layerCount: Int,
        harmfulCount: Int, harmlessCount: Int, winsorizeQuantile: Double, quantization: String,
        chatTemplate: Bool, systemPrompt: String?, bos: String? = nil
    ) {
        self.model = model
        self.adapter = adapter
        self.architecture = architecture
        self.hiddenSize = hiddenSize
        self.layerCount = layerCount
        self.harmfulCount = harmfulCount
        self.harmlessCount = harmlessCount
        self.winsorizeQuantile = winsorizeQuantile
        self.quantization = quantization
        self.chatTemplate = chatTemplate
        self.systemPrompt = systemPrompt
        self.bos = bos
        self.position = "last prompt token"
        self.layerConvention = Measurements.layerConvention
        self.toolVersion = AbliterateVersion.current
    }
}

/// The version string written into every file the tool produces.
package enum AbliterateVersion {
    package static let current = "0.1.0"
}

/// Per-layer running means of the residual stream for harmful and harmless prompts.
///
/// `harmful[L]` and `harmless[L]` accumulate the residual at index L: index 0 is the embedding
/// output, index L the input of block L (Hugging Face `hidden_states[L]`), and index `layerCount` the
/// output of the last block before the final norm. Each vector was Winsorized on its own before it was
/// added, so the result does not depend on batching.
///
/// On disk it is a safetensors file: `harmful.mean`, `harmless.mean` (f32, `[layerCount + 1, hidden]`),
/// `harmful.m2`, `harmless.m2` (the per-component sums of squared deviations, f32, same shape), and the
/// metadata as JSON under the `__metadata__` key `abliterate.measurements`.
public struct Measurements: Sendable {
    static let layerConvention =
        "index L = residual at the input of block L (HF hidden_states[L]); 0 = embeddings; layerCount = output of the last block, before the final norm"
    /// The largest layer count and hidden size a measurements file may declare (its metadata is
    /// untrusted input; these match the runtime's bounds on model configurations).
    static let maxLayerCount = 1024
    static let maxHiddenSize = 1 << 16
    static let metadataKey = "abliterate.measurements"

    public var metadata: MeasurementMetadata
    public var harmful: [RunningMean]
    public var harmless: [RunningMean]

    /// Means for residual indices 0…layerCount (layerCount + 1 of each, all of hidden size); throws when
    /// the counts or dimensions disagree with `metadata`.
    public init(metadata: MeasurementMetadata, harmful: [RunningMean], harmless: [RunningMean]) throws {
        let expected = metadata.layerCount + 1
        guard harmful.count == expected, harmless.count == expected else {
            throw AbliterationError.dimensionMismatch(
                "measurements: \(harmful.count) harmful and \(harmless.count) harmless layers, expected \(expected)")
        }
        for m in harmful + harmless where m.dimension != metadata.hiddenSize {
            throw AbliterationError.dimensionMismatch(
                "measurements: a mean of dimension \(m.dimension) in a model of hidden size \(metadata.hiddenSize)")
        }
        self.metadata = metadata
        self.harmful = harmful
        self.harmless = harmless
    }

    /// Residual indices covered: 0...layerCount.
    public var layers: ClosedRange<Int> { 0...metadata.layerCount }

    /// The refusal direction measured at residual index `layer`.
    ///
    /// `biprojected` also projects out the harmless mean at residual index `target`: the input of the
    /// block being edited (block ℓ reads index ℓ, `hidden_states[ℓ]`; the embedding writes index 0 and is
    /// given 0). Without `target` it is `layer`, where biprojected equals projected.
    public func direction(at layer: Int, method: RefusalDirection.Method, target: Int? = nil) throws -> RefusalDirection {
        try checkLayer(layer)
        return try direction(
            harmful: harmful[layer].mean, harmless: harmless[layer].mean, label: RefusalDirection.prefix(layer),
            method: method, target: target ?? layer)
    }

    /// The refusal direction at a residual position p ∈ [0, layerCount], fractional between two measured
    /// residuals: with k = ⌊p⌋ and t = p − k, the method applied to the interpolated means
    /// μ_H(p) = (1 − t)·μ_H(k) + t·μ_H(k + 1) and μ_A(p) = (1 − t)·μ_A(k) + t·μ_A(k + 1), in Float64. A whole
    /// p is `direction(at: Int(p), …)` exactly. (heretic interpolates the two unit directions instead; here
    /// the projection of `projected` also uses the interpolated harmless mean.) `target` as above.
    public func direction(at position: Double, method: RefusalDirection.Method, target: Int? = nil) throws -> RefusalDirection {
        guard position.isFinite, position >= 0, position <= Double(metadata.layerCount) else {
            throw AbliterationError.layerOutOfRange(
                "layer \(LayerPlan.layerText(position)) is outside the measured residual indices \(layers.lowerBound)...\(layers.upperBound)")
        }
        let k = Int(position.rounded(.down)), t = position - Double(k)
        guard t > 0 else { return try direction(at: k, method: method, target: target) }
        func mix(_ means: [RunningMean]) -> [Double] {
            zip(means[k].mean, means[k + 1].mean).map { (1 - t) * $0 + t * $1 }
        }
        return try direction(
            harmful: mix(harmful), harmless: mix(harmless), label: "layer \(LayerPlan.layerText(position)): ",
            method: method, target: target ?? k)
    }

    /// The direction of `method` from two means; `biprojected` against the harmless mean of residual `target`.
    private func direction(
        harmful h: [Double], harmless a: [Double], label: String, method: RefusalDirection.Method, target: Int
    ) throws -> RefusalDirection {
        switch method {
        case .conventional: return try RefusalDirection.conventional(harmful: h, harmless: a, label: label)
        case .projected: return try RefusalDirection.projected(harmful: h, harmless: a, label: label)
        case .biprojected:
            try checkLayer(target)
            return try RefusalDirection.biprojected(
                harmful: h, harmless: a, targetHarmless: harmless[target].mean, label: label,
                targetName: "harmless mean of target residual \(target)")
        }
    }

    /// The write-up's diagnostics at every residual index. Index 0 (token embeddings of the last
    /// prompt token, the same token for every prompt of a chat template) is often degenerate: it
    /// is reported as nil rather than thrown.
    public func diagnostics() -> [RefusalDiagnostics?] {
        layers.map { try? RefusalDiagnostics(harmful: harmful[$0], harmless: harmless[$0], layer: $0) }
    }

    func checkLayer(_ layer: Int) throws {
        guard layers.contains(layer) else {
            throw AbliterationError.layerOutOfRange(
                "layer \(layer) is outside the measured residual indices \(layers.lowerBound)...\(layers.upperBound)")
        }
    }

    /// Refuses a model whose architecture, hidden size or layer count differ from the measured one.
    public func checkCompatible(architecture: String, hiddenSize: Int, layerCount: Int, model: String) throws {
        var problems: [String] = []
        if architecture != metadata.architecture { problems.append("architecture \(metadata.architecture) vs \(architecture)") }
        if hiddenSize != metadata.hiddenSize { problems.append("hidden size \(metadata.hiddenSize) vs \(hiddenSize)") }
        if layerCount != metadata.layerCount { problems.append("layer count \(metadata.layerCount) vs \(layerCount)") }
        if !problems.isEmpty {
            throw AbliterationError.mismatch(
                "measurements of \(metadata.model) do not fit \(model): " + problems.joined(separator: ", "))
        }
    }

    // MARK: - File I/O

    /// Writes the measurements to a safetensors file (temporary file, then rename); refuses to write over
    /// the measured model or adapter.
    public func write(to path: String) throws {
        try OutputPaths.check(
            path, label: "output", kind: .file,
            inputs: OutputPaths.inputs([("model", metadata.model), ("adapter", metadata.adapter)]))
        let rows = metadata.layerCount + 1, hidden = metadata.hiddenSize
        func stack(_ means: [RunningMean], _ field: (RunningMean) -> [Double]) -> [UInt8] {
            var floats = [Float]()
            floats.reserveCapacity(rows * hidden)
            for m in means { floats.append(contentsOf: field(m).map { Float($0) }) }
            return floats.withUnsafeBytes { Array($0) }
        }
        let json = try JSONEncoder.sorted.encode(metadata)
        var meta = [Measurements.metadataKey: String(decoding: json, as: UTF8.self)]
        meta["format"] = "pt"
        let tensors: [(name: String, dtype: DType, shape: [Int], bytes: [UInt8])] = [
            ("harmful.mean", .f32, [rows, hidden], stack(harmful, { $0.mean })),
            ("harmful.m2", .f32, [rows, hidden], stack(harmful, { $0.sumOfSquaredDeviations })),
            ("harmless.mean", .f32, [rows, hidden], stack(harmless, { $0.mean })),
            ("harmless.m2", .f32, [rows, hidden], stack(harmless, { $0.sumOfSquaredDeviations })),
        ]
        try SafetensorsWriter.write(tensors: tensors, metadata: meta, to: path)
    }

    /// Reads a measurements file, checking that every tensor is there with the shape the metadata says.
    public init(contentsOf path: String) throws {
        let file: SafetensorsFile
        do { file = try SafetensorsFile(path: path) } catch {
            let reason = ErrorText.message(error)
            throw AbliterationError.invalidInput(
                reason.hasPrefix(path + ": ") ? "\(reason); not a readable measurements file" : "\(path): not a readable measurements file: \(reason)")
        }
        guard let json = file.metadata[Measurements.metadataKey] else {
            throw AbliterationError.invalidInput(
                "\(path): no '\(Measurements.metadataKey)' metadata; not a file written by `abliterate measure`")
        }
        let meta: MeasurementMetadata
        do { meta = try JSONDecoder().decode(MeasurementMetadata.self, from: Data(json.utf8)) } catch {
            throw AbliterationError.invalidInput("\(path): metadata '\(Measurements.metadataKey)' is not valid: \(ErrorText.message(error))")
        }
        guard (0...Measurements.maxLayerCount).contains(meta.layerCount),
              (1...Measurements.maxHiddenSize).contains(meta.hiddenSize) else {
            throw AbliterationError.invalidInput(
                "\(path): metadata '\(Measurements.metadataKey)': layer count \(meta.layerCount) or hidden size \(meta.hiddenSize) is out of range (0...\(Measurements.maxLayerCount), 1...\(Measurements.maxHiddenSize))")
        }
        let maxCount = Int(Int32.max)
        guard (0...maxCount).contains(meta.harmfulCount), (0...maxCount).contains(meta.harmlessCount) else {
            throw AbliterationError.invalidInput(
                "\(path): metadata '\(Measurements.metadataKey)': prompt counts \(meta.harmfulCount), \(meta.harmlessCount) are out of range (0...\(maxCount))")
        }
        let rows = meta.layerCount + 1, hidden = meta.hiddenSize
        func load(_ name: String) throws -> [[Double]] {
            let t: StoredTensor
            do { t = try file.tensor(name) } catch {
                throw AbliterationError.invalidInput("\(path): tensor '\(name)' missing")
            }
            guard t.type == .dense(.f32), t.shape == [rows, hidden] else {
                throw AbliterationError.invalidInput(
                    "\(path): tensor '\(name)' is \(t.type) \(t.shape), expected F32 \([rows, hidden])")
            }
            let values = try t.toFloat32().scalars
            guard values.allSatisfy({ $0.isFinite }) else {
                throw AbliterationError.degenerate("\(path): tensor '\(name)' holds NaN or infinite values")
            }
            return (0..<rows).map { r in values[(r * hidden)..<((r + 1) * hidden)].map { Double($0) } }
        }
        let (hm, h2, am, a2) = (try load("harmful.mean"), try load("harmful.m2"), try load("harmless.mean"), try load("harmless.m2"))
        let harmful = try (0..<rows).map {
            try RunningMean(count: meta.harmfulCount, mean: hm[$0], sumOfSquaredDeviations: h2[$0])
        }
        let harmless = try (0..<rows).map {
            try RunningMean(count: meta.harmlessCount, mean: am[$0], sumOfSquaredDeviations: a2[$0])
        }
        try self.init(metadata: meta, harmful: harmful, harmless: harmless)
    }
}

extension JSONEncoder {
    /// An encoder with sorted keys and pretty printing, for files people read and diff.
    package static var sorted: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return e
    }
}
