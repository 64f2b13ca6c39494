import TensorKit

/// The settings every llama-like architecture has, read once from a config.json and once from GGUF
/// metadata (`ARCH.block_count` …); each architecture then adds its own (`ArchitectureDefinition`).
struct CommonConfiguration {
    var architecture: ModelArchitecture
    /// Sizes; kv heads and head dim nil when the file leaves them to be derived from the head count.
    var vocabSize: Int, hiddenSize: Int, intermediateSize: Int, layerCount: Int, headCount: Int
    var kvHeadCount: Int?, headDim: Int?
    var activation: String
    var contextLength: Int
    var rmsNormEpsilon: Double, ropeTheta: Double
    /// The global layers' scaling, as config.json's `rope_scaling` dict.
    var ropeScaling: [String: JSONValue]?
    var tieWordEmbeddings: Bool
    var bosTokenID: Int?, eosTokenIDs: JSONValue?, padTokenID: Int?

    /// The runtime configuration of the common settings (not yet validated); `source` names the file.
    func configuration(source: String) throws -> ModelConfiguration {
        let heads = headCount
        return ModelConfiguration(
            architecture: architecture, vocabSize: vocabSize, hiddenSize: hiddenSize,
            intermediateSize: intermediateSize, layerCount: layerCount, headCount: heads,
            kvHeadCount: kvHeadCount ?? heads, headDim: headDim ?? (heads > 0 ? hiddenSize / heads : 0),
            rmsNormEpsilon: Float(rmsNormEpsilon), ropeTheta: ropeTheta,
            ropeScaling: try RoPEJSON.scaling(ropeScaling, source: source),
            tieWordEmbeddings: tieWordEmbeddings, maxPositionEmbeddings: contextLength,
            bosTokenID: bosTokenID, eosTokenIDs: eosTokenIDs?.ints ?? [], padTokenID: padTokenID)
    }

    /// Throws unless the activation is one the architecture's block implements.
    func requireActivation(_ schema: ConfigSchema, source: String) throws {
        guard schema.activations.contains(activation) else {
            throw ModelError.unsupported(
                "\(source): \(schema.activationKey) '\(activation)' is not supported for \(architecture.rawValue)"
                    + " (need \(schema.activations[0]))")
        }
    }
}

/// The Hugging Face config.json keys transformers writes for llama-like models.
enum CommonKey {
    static let vocabSize = "vocab_size", hiddenSize = "hidden_size", intermediateSize = "intermediate_size"
    static let layerCount = "num_hidden_layers", headCount = "num_attention_heads"
    static let kvHeadCount = "num_key_value_heads", headDim = "head_dim"
    static let contextLength = "max_position_embeddings", rmsNormEpsilon = "rms_norm_eps"
    static let ropeTheta = "rope_theta", ropeScaling = "rope_scaling", ropeParameters = "rope_parameters"
    static let tieWordEmbeddings = "tie_word_embeddings"
    static let bos = "bos_token_id", eos = "eos_token_id", pad = "pad_token_id"
}

extension CommonConfiguration {
    /// From a config.json: absent keys take the architecture's defaults (transformers' own).
    /// transformers 5's `rope_parameters` and `dtype` are read as well as the older
    /// `rope_theta`/`rope_scaling`/`torch_dtype`.
    init(json r: ConfigReader, architecture: ModelArchitecture, schema s: ConfigSchema) throws {
        let d = s.defaults
        _ = try r("architectures", as: [String].self)
        self.architecture = architecture
        vocabSize = try r(CommonKey.vocabSize) ?? d.vocabSize
        hiddenSize = try r(CommonKey.hiddenSize) ?? d.hiddenSize
        intermediateSize = try r(CommonKey.intermediateSize) ?? d.intermediateSize
        layerCount = try r(CommonKey.layerCount) ?? d.layerCount
        headCount = try r(CommonKey.headCount) ?? d.headCount
        kvHeadCount = try r(CommonKey.kvHeadCount) ?? d.kvHeadCount
        headDim = try r(CommonKey.headDim) ?? d.headDim
        activation = try r(s.activationKey) ?? s.activations[0]
        contextLength = try r(CommonKey.contextLength) ?? d.contextLength
        rmsNormEpsilon = try r(CommonKey.rmsNormEpsilon) ?? d.rmsNormEpsilon
        ropeTheta = try r(CommonKey.ropeTheta) ?? d.ropeTheta
        ropeScaling = try r(CommonKey.ropeScaling)
        if var parameters = try r(CommonKey.ropeParameters, as: [String: JSONValue].self) {
            // Architectures with local and global layers nest them: {"full_attention": {...}, ...}.
            if s.ropeParametersByLayerType { parameters = parameters[AttentionSpan.full.rawValue]?.object ?? [:] }
            if let theta = parameters["rope_theta"]?.double { ropeTheta = theta }
            if ropeScaling == nil { ropeScaling = parameters }
        }
        tieWordEmbeddings = try r(CommonKey.tieWordEmbeddings) ?? d.tieWordEmbeddings
        bosTokenID = try r(CommonKey.bos) ?? d.bosTokenID
        eosTokenIDs = try r(CommonKey.eos) ?? d.eosTokenIDs
        padTokenID = try r(CommonKey.pad) ?? d.padTokenID
        _ = try r("torch_dtype", as: String.self) ?? r("dtype", as: String.self)
    }

    /// From `ARCH.*` GGUF metadata; `tokenizer.ggml.*` gives the special tokens, and the head is tied
    /// when the file has no `output.weight`.
    init(gguf: GGUFFile, architecture: ModelArchitecture, schema s: ConfigSchema) throws {
        let p = architecture.rawValue, d = s.defaults
        self.architecture = architecture
        hiddenSize = try gguf.requiredInt("\(p).embedding_length")
        headCount = try gguf.requiredInt("\(p).attention.head_count")
        layerCount = try gguf.requiredInt("\(p).block_count")
        vocabSize = try gguf.vocabularySize(prefix: p)
        intermediateSize = try gguf.requiredInt("\(p).feed_forward_length")
        kvHeadCount = gguf.int("\(p).attention.head_count_kv")
        headDim = s.ggufHeadDimKeys.lazy.compactMap { gguf.int("\(p).\($0)") }.first ?? d.headDim
        activation = s.activations[0]
        contextLength = gguf.int("\(p).context_length") ?? s.ggufContextLength
        rmsNormEpsilon = Double(gguf.float("\(p).attention.layer_norm_rms_epsilon") ?? s.ggufRMSNormEpsilon)
        ropeTheta = Double(gguf.float("\(p).rope.freq_base") ?? Float(d.ropeTheta))
        ropeScaling = RoPEJSON.dict(gguf: gguf, prefix: p)
        tieWordEmbeddings = !gguf.tensorNames.contains("output.weight")
        bosTokenID = gguf.bosTokenID
        eosTokenIDs = gguf.eosTokenID.map { .number(Double($0)) }
        padTokenID = gguf.padTokenID
    }

    /// Writes the common keys of `c` (the architecture adds its own).
    static func write(_ c: ModelConfiguration, schema s: ConfigSchema, dtype: String, to w: inout ConfigWriter) {
        w.set("architectures", [c.architecture.huggingFaceClass])
        w.set("model_type", c.architecture.huggingFaceModelType)
        w.set(CommonKey.vocabSize, c.vocabSize)
        w.set(CommonKey.hiddenSize, c.hiddenSize)
        w.set(CommonKey.intermediateSize, c.intermediateSize)
        w.set(CommonKey.layerCount, c.layerCount)
        w.set(CommonKey.headCount, c.headCount)
        w.set(CommonKey.kvHeadCount, c.kvHeadCount)
        w.set(CommonKey.headDim, c.headDim)
        w.set(s.activationKey, s.activations[0])
        w.set(CommonKey.contextLength, c.maxPositionEmbeddings)
        w.set(CommonKey.rmsNormEpsilon, Double(c.rmsNormEpsilon))
        w.set(CommonKey.ropeTheta, c.ropeTheta)
        w.set(CommonKey.ropeScaling, orNull: RoPEJSON.dict(c.ropeScaling).map(JSONValue.object))
        w.set(CommonKey.tieWordEmbeddings, c.tieWordEmbeddings)
        w.set(CommonKey.bos, c.bosTokenID)
        w.set(CommonKey.eos, JSONValue.tokenIDs(c.eosTokenIDs))
        w.set(CommonKey.pad, c.padTokenID)
        w.set("torch_dtype", dtype)
    }
}
