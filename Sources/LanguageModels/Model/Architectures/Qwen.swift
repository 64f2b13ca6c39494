import Foundation
import TensorKit

/// Hugging Face `config.json` of a `qwen2` or `qwen3` model.
///
/// Qwen 2 has biases on q/k/v; Qwen 3 has none but normalizes queries and keys per head (plain
/// RMSNorm, weight w) before RoPE, and carries an explicit `head_dim`.
public struct QwenConfiguration: Codable, Sendable, Equatable {
    public var architectures: [String] = ["Qwen2ForCausalLM"]
    public var modelType: String = "qwen2"
    public var vocabSize: Int = 151936
    public var hiddenSize: Int = 4096
    public var intermediateSize: Int = 22016
    public var numHiddenLayers: Int = 32
    public var numAttentionHeads: Int = 32
    public var numKeyValueHeads: Int?
    public var headDim: Int?
    public var hiddenAct: String = "silu"
    public var maxPositionEmbeddings: Int = 32768
    public var rmsNormEps: Double = 1e-6
    public var ropeTheta: Double = 10000
    var ropeScaling: [String: JSONValue]?
    public var tieWordEmbeddings: Bool = false
    public var attentionBias: Bool?
    public var useSlidingWindow: Bool = false
    public var bosTokenId: Int?
    var eosTokenId: JSONValue?
    public var padTokenId: Int?
    public var torchDtype: String = "bfloat16"

    enum CodingKeys: String, CodingKey {
        case architectures, modelType = "model_type", vocabSize = "vocab_size", hiddenSize = "hidden_size"
        case intermediateSize = "intermediate_size", numHiddenLayers = "num_hidden_layers"
        case numAttentionHeads = "num_attention_heads", numKeyValueHeads = "num_key_value_heads"
        case headDim = "head_dim", hiddenAct = "hidden_act", maxPositionEmbeddings = "max_position_embeddings"
        case rmsNormEps = "rms_norm_eps", ropeTheta = "rope_theta", ropeScaling = "rope_scaling"
        case ropeParameters = "rope_parameters", tieWordEmbeddings = "tie_word_embeddings"
        case attentionBias = "attention_bias", useSlidingWindow = "use_sliding_window"
        case bosTokenId = "bos_token_id", eosTokenId = "eos_token_id", padTokenId = "pad_token_id"
        case torchDtype = "torch_dtype", dtype
    }

    public init() {}

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        modelType = try c.decodeIfPresent(String.self, forKey: .modelType) ?? modelType
        architectures = try c.decodeIfPresent([String].self, forKey: .architectures)
            ?? [modelType == "qwen3" ? "Qwen3ForCausalLM" : "Qwen2ForCausalLM"]
        vocabSize = try c.decodeIfPresent(Int.self, forKey: .vocabSize) ?? vocabSize
        hiddenSize = try c.decodeIfPresent(Int.self, forKey: .hiddenSize) ?? hiddenSize
        intermediateSize = try c.decodeIfPresent(Int.self, forKey: .intermediateSize) ?? intermediateSize
        numHiddenLayers = try c.decodeIfPresent(Int.self, forKey: .numHiddenLayers) ?? numHiddenLayers
        numAttentionHeads = try c.decodeIfPresent(Int.self, forKey: .numAttentionHeads) ?? numAttentionHeads
        numKeyValueHeads = try c.decodeIfPresent(Int.self, forKey: .numKeyValueHeads)
        headDim = try c.decodeIfPresent(Int.self, forKey: .headDim)
        hiddenAct = try c.decodeIfPresent(String.self, forKey: .hiddenAct) ?? hiddenAct
        maxPositionEmbeddings = try c.decodeIfPresent(Int.self, forKey: .maxPositionEmbeddings) ?? maxPositionEmbeddings
        rmsNormEps = try c.decodeIfPresent(Double.self, forKey: .rmsNormEps) ?? rmsNormEps
        ropeTheta = try c.decodeIfPresent(Double.self, forKey: .ropeTheta) ?? ropeTheta
        ropeScaling = try c.decodeIfPresent([String: JSONValue].self, forKey: .ropeScaling)
        if let parameters = try c.decodeIfPresent([String: JSONValue].self, forKey: .ropeParameters) {
            if let theta = parameters["rope_theta"]?.double { ropeTheta = theta }
            if ropeScaling == nil { ropeScaling = parameters }
        }
        tieWordEmbeddings = try c.decodeIfPresent(Bool.self, forKey: .tieWordEmbeddings) ?? tieWordEmbeddings
        attentionBias = try c.decodeIfPresent(Bool.self, forKey: .attentionBias)
        useSlidingWindow = try c.decodeIfPresent(Bool.self, forKey: .useSlidingWindow) ?? false
        bosTokenId = try c.decodeIfPresent(Int.self, forKey: .bosTokenId)
        eosTokenId = try c.decodeIfPresent(JSONValue.self, forKey: .eosTokenId)
        padTokenId = try c.decodeIfPresent(Int.self, forKey: .padTokenId)
        torchDtype = try c.decodeIfPresent(String.self, forKey: .torchDtype)
            ?? c.decodeIfPresent(String.self, forKey: .dtype) ?? torchDtype
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(architectures, forKey: .architectures)
        try c.encode(modelType, forKey: .modelType)
        try c.encode(vocabSize, forKey: .vocabSize)
        try c.encode(hiddenSize, forKey: .hiddenSize)
        try c.encode(intermediateSize, forKey: .intermediateSize)
        try c.encode(numHiddenLayers, forKey: .numHiddenLayers)
        try c.encode(numAttentionHeads, forKey: .numAttentionHeads)
        try c.encodeIfPresent(numKeyValueHeads, forKey: .numKeyValueHeads)
        try c.encodeIfPresent(headDim, forKey: .headDim)
        try c.encode(hiddenAct, forKey: .hiddenAct)
        try c.encode(maxPositionEmbeddings, forKey: .maxPositionEmbeddings)
        try c.encode(rmsNormEps, forKey: .rmsNormEps)
        try c.encode(ropeTheta, forKey: .ropeTheta)
        try c.encode(ropeScaling.map(JSONValue.object) ?? .null, forKey: .ropeScaling)
        try c.encode(tieWordEmbeddings, forKey: .tieWordEmbeddings)
        try c.encodeIfPresent(attentionBias, forKey: .attentionBias)
        try c.encode(useSlidingWindow, forKey: .useSlidingWindow)
        try c.encodeIfPresent(bosTokenId, forKey: .bosTokenId)
        try c.encodeIfPresent(eosTokenId, forKey: .eosTokenId)
        try c.encodeIfPresent(padTokenId, forKey: .padTokenId)
        try c.encode(torchDtype, forKey: .torchDtype)
    }

    public func runtimeConfiguration(source: String) throws -> ModelConfiguration {
        let architecture = try ModelArchitecture(identifier: modelType, source: source)
        guard architecture == .qwen2 || architecture == .qwen3 else {
            throw ModelError.invalidInput("\(source): model_type '\(modelType)' is not a Qwen model")
        }
        guard hiddenAct == "silu" else {
            throw ModelError.unsupported("\(source): hidden_act '\(hiddenAct)' is not supported for \(modelType)")
        }
        guard !useSlidingWindow else {
            throw ModelError.unsupported("\(source): use_sliding_window is not supported for \(modelType)")
        }
        let heads = numAttentionHeads
        let c = ModelConfiguration(
            architecture: architecture, vocabSize: vocabSize, hiddenSize: hiddenSize,
            intermediateSize: intermediateSize, layerCount: numHiddenLayers, headCount: heads,
            kvHeadCount: numKeyValueHeads ?? heads, headDim: headDim ?? (heads > 0 ? hiddenSize / heads : 0),
            rmsNormEpsilon: Float(rmsNormEps), ropeTheta: ropeTheta,
            ropeScaling: try RoPEJSON.scaling(ropeScaling, source: source),
            attentionBias: attentionBias ?? (architecture == .qwen2), queryKeyNorm: architecture == .qwen3,
            tieWordEmbeddings: tieWordEmbeddings, maxPositionEmbeddings: maxPositionEmbeddings,
            bosTokenID: bosTokenId, eosTokenIDs: eosTokenId?.ints ?? [], padTokenID: padTokenId)
        try c.validate(source: source)
        return c
    }

    public init(_ c: ModelConfiguration, dtype: String = "bfloat16") {
        modelType = c.architecture.rawValue
        architectures = [c.architecture == .qwen3 ? "Qwen3ForCausalLM" : "Qwen2ForCausalLM"]
        vocabSize = c.vocabSize
        hiddenSize = c.hiddenSize
        intermediateSize = c.intermediateSize
        numHiddenLayers = c.layerCount
        numAttentionHeads = c.headCount
        numKeyValueHeads = c.kvHeadCount
        headDim = c.headDim
        maxPositionEmbeddings = c.maxPositionEmbeddings
        rmsNormEps = Double(c.rmsNormEpsilon)
        ropeTheta = c.ropeTheta
        ropeScaling = RoPEJSON.dict(c.ropeScaling)
        tieWordEmbeddings = c.tieWordEmbeddings
        attentionBias = c.architecture == .qwen3 ? c.attentionBias : nil
        bosTokenId = c.bosTokenID
        eosTokenId = .tokenIDs(c.eosTokenIDs)
        padTokenId = c.padTokenID
        torchDtype = dtype
    }
}

/// `qwen2` and `qwen3`: the llama block plus q/k/v biases (Qwen 2) or q/k norms (Qwen 3).
/// llama.cpp's converter does not permute Qwen's Q/K rows.
enum QwenArchitecture: ArchitectureDefinition {
    static let blockTensorNames: [(gguf: String, hf: String)] = [
        ("attn_norm.weight", "input_layernorm.weight"),
        ("attn_q.weight", "self_attn.q_proj.weight"),
        ("attn_k.weight", "self_attn.k_proj.weight"),
        ("attn_v.weight", "self_attn.v_proj.weight"),
        ("attn_q.bias", "self_attn.q_proj.bias"),
        ("attn_k.bias", "self_attn.k_proj.bias"),
        ("attn_v.bias", "self_attn.v_proj.bias"),
        ("attn_q_norm.weight", "self_attn.q_norm.weight"),
        ("attn_k_norm.weight", "self_attn.k_norm.weight"),
        ("attn_output.weight", "self_attn.o_proj.weight"),
        ("ffn_norm.weight", "post_attention_layernorm.weight"),
        ("ffn_gate.weight", "mlp.gate_proj.weight"),
        ("ffn_up.weight", "mlp.up_proj.weight"),
        ("ffn_down.weight", "mlp.down_proj.weight"),
    ]
    static let ggufPermutesQueryKey = false
    static let recipe = LlamaArchitecture.recipe

    static func configuration(json: Data, source: String) throws -> ModelConfiguration {
        try ConfigJSON.decode(QwenConfiguration.self, from: json, source: source).runtimeConfiguration(source: source)
    }

    static func configJSON(_ configuration: ModelConfiguration, dtype: String) throws -> Data {
        try ConfigJSON.encode(QwenConfiguration(configuration, dtype: dtype))
    }

    static func configuration(gguf: GGUFFile) throws -> ModelConfiguration {
        let p = gguf.string("general.architecture") ?? "qwen2"
        let architecture = try ModelArchitecture(identifier: p, source: gguf.path)
        let hidden = try gguf.requiredInt("\(p).embedding_length")
        let heads = try gguf.requiredInt("\(p).attention.head_count")
        let c = ModelConfiguration(
            architecture: architecture, vocabSize: try gguf.vocabularySize(prefix: p), hiddenSize: hidden,
            intermediateSize: try gguf.requiredInt("\(p).feed_forward_length"),
            layerCount: try gguf.requiredInt("\(p).block_count"), headCount: heads,
            kvHeadCount: gguf.int("\(p).attention.head_count_kv") ?? heads,
            headDim: gguf.int("\(p).attention.key_length") ?? (heads > 0 ? hidden / heads : 0),
            rmsNormEpsilon: gguf.float("\(p).attention.layer_norm_rms_epsilon") ?? 1e-6,
            ropeTheta: Double(gguf.float("\(p).rope.freq_base") ?? 10000),
            ropeScaling: RoPEJSON.scaling(gguf: gguf, prefix: p),
            attentionBias: gguf.tensorNames.contains("blk.0.attn_q.bias"),
            queryKeyNorm: architecture == .qwen3,
            tieWordEmbeddings: !gguf.tensorNames.contains("output.weight"),
            maxPositionEmbeddings: gguf.int("\(p).context_length") ?? 32768,
            bosTokenID: gguf.bosTokenID, eosTokenIDs: gguf.eosTokenID.map { [$0] } ?? [], padTokenID: gguf.padTokenID)
        try c.validate(source: gguf.path)
        return c
    }
}
