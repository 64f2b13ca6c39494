import Foundation
import TensorKit

/// Reads a model's configuration and weights from a GGUF file or a Hugging Face directory and
/// brings them to the runtime's canonical form (Hugging Face names, `[out, in]`, HF Q/K row order,
/// effective norm weights). Missing or unexpected tensors are errors that name them.
enum CheckpointLoader {
    struct Loaded {
        var configuration: ModelConfiguration
        var weights: ModelWeights
        /// Llama 3 frequency factors from a GGUF's `rope_freqs.weight`.
        var ropeFrequencyFactors: [Float]?
    }

    static func load(path: String) throws -> Loaded {
        try ModelPath.isDirectory(path) ? loadDirectory(path) : loadGGUF(path)
    }

    /// The shape each tensor must have.
    static func expectedShape(_ name: String, _ c: ModelConfiguration) -> [Int] {
        let h = c.hiddenSize
        switch name {
        case "model.embed_tokens.weight", "lm_head.weight": return [c.vocabSize, h]
        case "model.norm.weight": return [h]
        default: break
        }
        let suffix = ModelArchitecture.splitLayer(name, prefix: "model.layers.")?.1 ?? name
        switch suffix {
        case "self_attn.q_proj.weight": return [c.queryWidth, h]
        case "self_attn.k_proj.weight", "self_attn.v_proj.weight": return [c.keyValueWidth, h]
        case "self_attn.q_proj.bias": return [c.queryWidth]
        case "self_attn.k_proj.bias", "self_attn.v_proj.bias": return [c.keyValueWidth]
        case "self_attn.o_proj.weight": return [h, c.queryWidth]
        case "self_attn.q_norm.weight", "self_attn.k_norm.weight": return [c.headDim]
        case "mlp.gate_proj.weight", "mlp.up_proj.weight": return [c.intermediateSize, h]
        case "mlp.down_proj.weight": return [h, c.intermediateSize]
        default: return [h]  // the block norms
        }
    }

    /// Checks the declared layer count against the blocks the file has tensors for (highest block
    /// index + 1), before anything is built per layer: a header claiming a million blocks next to the
    /// tensors of two is refused at once, naming `key`. (Gaps below are missing tensors, found later.)
    static func checkLayerCount(_ c: ModelConfiguration, tensorNames: [String], blockPrefix: String,
                                key: String, source: String) throws {
        let highest = tensorNames.compactMap { ModelArchitecture.splitLayer($0, prefix: blockPrefix)?.0 }.max() ?? -1
        guard highest == c.layerCount - 1 else {
            let found = highest < 0 ? "no block tensors" : "tensors for blocks 0...\(highest)"
            throw ModelError.invalidInput("\(source): '\(key)' is \(c.layerCount) but the file has \(found)")
        }
    }

    /// Throws unless a file tensor has exactly the shape the configuration implies (every dimension,
    /// trailing 1s included: the runtime indexes rows by the expected shape).
    static func checkShape(_ found: [Int], expected: [Int], tensor: String, source: String) throws {
        guard found == expected else {
            throw ModelError.dimensionMismatch("\(source): tensor '\(tensor)' has shape \(found), expected \(expected)")
        }
    }

    /// Whether a tensor is kept as a dense f32 vector (norms and biases).
    static func isVector(_ name: String) -> Bool { name.hasSuffix("norm.weight") || name.hasSuffix(".bias") }

    // MARK: - GGUF

    static func loadGGUF(_ path: String) throws -> Loaded {
        let file = try GGUFFile(path: path)
        guard let identifier = file.string("general.architecture") else {
            throw ModelError.invalidInput("\(path): metadata key 'general.architecture' is missing")
        }
        let architecture = try ModelArchitecture(identifier: identifier, source: path)
        let definition = architecture.definition
        let c = try definition.configuration(gguf: file)
        try checkLayerCount(c, tensorNames: file.tensorNames, blockPrefix: "blk.", key: "\(identifier).block_count", source: path)
        let names = architecture.tensorNames(c)

        // Unexpected tensors: anything the name map does not produce (llama's rope_freqs aside).
        let ggufNames = Dictionary(uniqueKeysWithValues: names.map { (architecture.ggufName($0)!, $0) })
        let allowed: Set<String> = ["rope_freqs.weight"]
        let unexpected = file.tensorNames.filter { ggufNames[$0] == nil && !allowed.contains($0) }
        if !unexpected.isEmpty {
            throw ModelError.invalidInput(
                "\(path): unexpected tensors for \(identifier): \(unexpected.prefix(8).joined(separator: ", "))"
                    + (unexpected.count > 8 ? " (and \(unexpected.count - 8) more)" : ""))
        }
        let present = Set(file.tensorNames)
        var entries: [String: ModelWeights.Entry] = [:]
        for name in names {
            let ggufName = architecture.ggufName(name)!
            guard present.contains(ggufName) else {
                throw ModelError.invalidInput("\(path): missing tensor '\(ggufName)' (\(name))")
            }
            var tensor = try file.tensor(ggufName)
            let shape = expectedShape(name, c)
            try checkShape(tensor.shape, expected: shape, tensor: ggufName, source: path)
            if definition.ggufPermutesQueryKey {
                if name.hasSuffix("q_proj.weight") || name.hasSuffix("q_proj.bias") {
                    tensor = try unpermuteRows(tensor, heads: c.headCount, shape: shape, path: path)
                } else if name.hasSuffix("k_proj.weight") || name.hasSuffix("k_proj.bias") {
                    tensor = try unpermuteRows(tensor, heads: c.kvHeadCount, shape: shape, path: path)
                }
            }
            if isVector(name) {
                entries[name] = .init(shape: shape, storage: .dense(try tensor.toFloat32().scalars))
            } else {
                entries[name] = .init(shape: shape, storage: .stored(tensor))
            }
        }
        var factors: [Float]?
        if present.contains("rope_freqs.weight") {
            let tensor = try file.tensor("rope_freqs.weight")
            try checkShape(tensor.shape, expected: [c.headDim / 2], tensor: "rope_freqs.weight", source: path)
            factors = try tensor.toFloat32().scalars
        }
        let weights = ModelWeights(names: names, entries: entries, architecture: architecture)
        return Loaded(configuration: c, weights: weights, ropeFrequencyFactors: factors)
    }

    /// Reorders the rows of a llama.cpp-permuted Q or K tensor to Hugging Face's order, as bytes
    /// (a row of a quantized tensor is a whole number of blocks).
    static func unpermuteRows(_ t: StoredTensor, heads: Int, shape: [Int], path: String) throws -> StoredTensor {
        let rows = shape[0]
        guard heads > 0, rows % heads == 0, (rows / heads) % 2 == 0 else {
            throw ModelError.dimensionMismatch("\(path): cannot unpermute '\(t.name)': \(rows) rows, \(heads) heads")
        }
        let rowBytes = t.bytes.count / rows
        let map = QueryKeyPermutation.ggufRowForHFRow(rows: rows, heads: heads)
        let owner = OwnedBytes(count: t.bytes.count)
        for (hfRow, ggufRow) in map.enumerated() {
            let source = UnsafeRawBufferPointer(rebasing: t.bytes[(ggufRow * rowBytes)..<((ggufRow + 1) * rowBytes)])
            UnsafeMutableRawBufferPointer(rebasing: owner.buffer[(hfRow * rowBytes)..<((hfRow + 1) * rowBytes)])
                .copyMemory(from: source)
        }
        return StoredTensor(
            name: t.name, type: t.type, shape: shape,
            bytes: UnsafeRawBufferPointer(start: owner.buffer.baseAddress, count: t.bytes.count), owner: owner)
    }

    // MARK: - Hugging Face directory

    static func loadDirectory(_ directory: String) throws -> Loaded {
        let configPath = (directory as NSString).appendingPathComponent("config.json")
        guard FileManager.default.fileExists(atPath: configPath) else {
            throw ModelError.invalidInput("\(directory): no config.json")
        }
        let json = Data(try InputFile.contents(configPath, maxBytes: ModelConfiguration.maxConfigFileBytes))
        guard let object = try? JSONSerialization.jsonObject(with: json) as? [String: Any] else {
            throw ModelError.invalidInput("\(configPath): not a JSON object")
        }
        guard let modelType = object["model_type"] as? String else {
            throw ModelError.invalidInput("\(configPath): key 'model_type' is missing")
        }
        let architecture = try ModelArchitecture(identifier: modelType, source: configPath)
        let c = try architecture.definition.configuration(json: json, source: configPath)
        let checkpoint = try SafetensorsCheckpoint(directory: directory)
        try checkLayerCount(c, tensorNames: checkpoint.tensorNames.map(canonicalName), blockPrefix: "model.layers.",
                            key: "num_hidden_layers", source: configPath)

        // Canonical name of each file tensor; vision parts of multimodal checkpoints are skipped.
        var fileName: [String: String] = [:]
        var unexpected: [String] = []
        let names = architecture.tensorNames(c)
        let wanted = Set(names)
        let quantAuxiliary = [".absmax", ".quant_map", ".nested_absmax", ".nested_quant_map", ".quant_state."]
        for raw in checkpoint.tensorNames {
            if quantAuxiliary.contains(where: { raw.contains($0) }) { continue }
            if raw.hasSuffix("rotary_emb.inv_freq") { continue }
            if raw.hasPrefix("vision_tower.") || raw.hasPrefix("multi_modal_projector.")
                || raw.hasPrefix("model.vision_tower.") || raw.hasPrefix("model.multi_modal_projector.") { continue }
            let canonical = canonicalName(raw)
            if wanted.contains(canonical) {
                fileName[canonical] = raw
            } else if canonical == "lm_head.weight" && c.tieWordEmbeddings {
                continue  // a tied head saved anyway
            } else {
                unexpected.append(raw)
            }
        }
        if !unexpected.isEmpty {
            throw ModelError.invalidInput(
                "\(directory): unexpected tensors for \(modelType): \(unexpected.prefix(8).joined(separator: ", "))"
                    + (unexpected.count > 8 ? " (and \(unexpected.count - 8) more)" : ""))
        }
        let plusOne = architecture.definition.recipe.normPlusOne
        var entries: [String: ModelWeights.Entry] = [:]
        for name in names {
            guard let raw = fileName[name] else {
                throw ModelError.invalidInput("\(directory): missing tensor '\(name)'")
            }
            let shape = expectedShape(name, c)
            if !isVector(name), let bnb = try BitsAndBytesWeight.read(checkpoint, raw, source: directory) {
                try checkShape(bnb.shape, expected: shape, tensor: raw, source: directory)
                entries[name] = .init(shape: shape, storage: .bitsAndBytes(bnb))
                continue
            }
            let tensor = try CheckpointTensors.read(checkpoint, raw, expectedShape: shape, source: directory)
            if isVector(name) {
                entries[name] = .init(
                    shape: shape, storage: .dense(try tensor.toFloat32().scalars),
                    plusOneAtRuntime: plusOne && architecture.isNormWeight(name))
            } else {
                entries[name] = .init(shape: shape, storage: .stored(tensor))
            }
        }
        let weights = ModelWeights(names: names, entries: entries, architecture: architecture, fileNames: fileName)
        return Loaded(configuration: c, weights: weights, ropeFrequencyFactors: nil)
    }

    /// Maps multimodal prefixes to the text model's names:
    /// `language_model.model.X` and `model.language_model.X` → `model.X`, `language_model.lm_head` → `lm_head`.
    static func canonicalName(_ raw: String) -> String {
        if raw.hasPrefix("language_model.") { return String(raw.dropFirst("language_model.".count)) }
        if raw.hasPrefix("model.language_model.") { return "model." + raw.dropFirst("model.language_model.".count) }
        return raw
    }
}
