import Foundation
import TensorKit

/// Hugging Face `config.json` of a `llama` model (SmolLM2, Llama 3.x, Mistral / Mistral Nemo).
///
/// Keys as transformers writes them; absent keys take transformers' defaults. transformers 5's
/// `rope_parameters` and `dtype` are read as well as the older `rope_theta`/`rope_scaling`/`torch_dtype`.
public struct LlamaConfiguration: Codable, Sendable, Equatable {
    public var architectures: [String] = ["LlamaForCausalLM"]
    public var modelType: String = "llama"
    public var vocabSize: Int = 32000
    public var hiddenSize: Int = 4096
    public var intermediateSize: Int = 11008
    public var numHiddenLayers: Int = 32
    public var numAttentionHeads: Int = 32
    public var numKeyValueHeads: Int?
    public var headDim: Int?
    public var hiddenAct: String = "silu"
    public var maxPositionEmbeddings: Int = 2048
    public var rmsNormEps: Double = 1e-6
    public var ropeTheta: Double = 10000
    var ropeScaling: [String: JSONValue]?
    public var tieWordEmbeddings: Bool = false
    public var attentionBias: Bool = false
    public var mlpBias: Bool = false
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
        case ropeParameters = "rope_parameters"
        case tieWordEmbeddings = "tie_word_embeddings", attentionBias = "attention_bias", mlpBias = "mlp_bias"
        case bosTokenId = "bos_token_id", eosTokenId = "eos_token_id", padTokenId = "pad_token_id"
        case torchDtype = "torch_dtype", dtype
    }

    public init() {}

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        architectures = try c.decodeIfPresent([String].self, forKey: .architectures) ?? architectures
        modelType = try c.decodeIfPresent(String.self, forKey: .modelType) ?? modelType
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
        attentionBias = try c.decodeIfPresent(Bool.self, forKey: .attentionBias) ?? attentionBias
        mlpBias = try c.decodeIfPresent(Bool.self, forKey: .mlpBias) ?? mlpBias
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
        try c.encode(attentionBias, forKey: .attentionBias)
        try c.encode(mlpBias, forKey: .mlpBias)
        try c.encodeIfPresent(bosTokenId, forKey: .bosTokenId)
        try c.encodeIfPresent(eosTokenId, forKey: .eosTokenId)
        try c.encodeIfPresent(padTokenId, forKey: .padTokenId)
        try c.encode(torchDtype, forKey: .torchDtype)
    }

    /// The runtime configuration; refuses what the runtime does not implement.
    public func runtimeConfiguration(source: String) throws -> ModelConfiguration {
        guard hiddenAct == "silu" else {
            throw ModelError.unsupported("\(source): hidden_act '\(hiddenAct)' is not supported for llama (need silu)")
        }
        guard !mlpBias else { throw ModelError.unsupported("\(source): mlp_bias is not supported") }
        let heads = numAttentionHeads
        let headDim = self.headDim ?? (heads > 0 ? hiddenSize / heads : 0)
        let c = ModelConfiguration(
            architecture: .llama, vocabSize: vocabSize, hiddenSize: hiddenSize, intermediateSize: intermediateSize,
            layerCount: numHiddenLayers, headCount: heads, kvHeadCount: numKeyValueHeads ?? heads, headDim: headDim,
            rmsNormEpsilon: Float(rmsNormEps), ropeTheta: ropeTheta,
            ropeScaling: try RoPEJSON.scaling(ropeScaling, source: source), attentionBias: attentionBias,
            tieWordEmbeddings: tieWordEmbeddings, maxPositionEmbeddings: maxPositionEmbeddings,
            bosTokenID: bosTokenId, eosTokenIDs: eosTokenId?.ints ?? [], padTokenID: padTokenId)
        try c.validate(source: source)
        return c
    }

    /// The config.json of a runtime configuration.
    public init(_ c: ModelConfiguration, dtype: String = "bfloat16") {
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
        attentionBias = c.attentionBias
        bosTokenId = c.bosTokenID
        eosTokenId = .tokenIDs(c.eosTokenIDs)
        padTokenId = c.padTokenID
        torchDtype = dtype
    }
}

/// The `llama` architecture: pre-norm blocks, SiLU-gated MLP, grouped-query attention, RoPE.
enum LlamaArchitecture: ArchitectureDefinition {
    static let blockTensorNames: [(gguf: String, hf: String)] = [
        ("attn_norm.weight", "input_layernorm.weight"),
        ("attn_q.weight", "self_attn.q_proj.weight"),
        ("attn_k.weight", "self_attn.k_proj.weight"),
        ("attn_v.weight", "self_attn.v_proj.weight"),
        ("attn_q.bias", "self_attn.q_proj.bias"),
        ("attn_k.bias", "self_attn.k_proj.bias"),
        ("attn_v.bias", "self_attn.v_proj.bias"),
        ("attn_output.weight", "self_attn.o_proj.weight"),
        ("ffn_norm.weight", "post_attention_layernorm.weight"),
        ("ffn_gate.weight", "mlp.gate_proj.weight"),
        ("ffn_up.weight", "mlp.up_proj.weight"),
        ("ffn_down.weight", "mlp.down_proj.weight"),
    ]
    static let ggufPermutesQueryKey = true
    static let recipe = BlockRecipe(
        normPlusOne: false, sandwichNorms: false, activation: .silu, scaleEmbeddings: false,
        preFeedForwardNorm: "post_attention_layernorm.weight")

    static func configuration(json: Data, source: String) throws -> ModelConfiguration {
        try ConfigJSON.decode(LlamaConfiguration.self, from: json, source: source).runtimeConfiguration(source: source)
    }

    static func configJSON(_ configuration: ModelConfiguration, dtype: String) throws -> Data {
        try ConfigJSON.encode(LlamaConfiguration(configuration, dtype: dtype))
    }

    /// From `llama.*` metadata. Llama 3's frequency factors (`rope_freqs.weight`) are read by the loader.
    static func configuration(gguf: GGUFFile) throws -> ModelConfiguration {
        let p = "llama"
        let hidden = try gguf.requiredInt("\(p).embedding_length")
        let heads = try gguf.requiredInt("\(p).attention.head_count")
        let headDim = gguf.int("\(p).attention.key_length") ?? gguf.int("\(p).rope.dimension_count")
            ?? (heads > 0 ? hidden / heads : 0)
        let hasOutput = gguf.tensorNames.contains("output.weight")
        let c = ModelConfiguration(
            architecture: .llama, vocabSize: try gguf.vocabularySize(prefix: p), hiddenSize: hidden,
            intermediateSize: try gguf.requiredInt("\(p).feed_forward_length"),
            layerCount: try gguf.requiredInt("\(p).block_count"), headCount: heads,
            kvHeadCount: gguf.int("\(p).attention.head_count_kv") ?? heads, headDim: headDim,
            rmsNormEpsilon: gguf.float("\(p).attention.layer_norm_rms_epsilon") ?? 1e-5,
            ropeTheta: Double(gguf.float("\(p).rope.freq_base") ?? 10000),
            ropeScaling: RoPEJSON.scaling(gguf: gguf, prefix: p),
            attentionBias: gguf.tensorNames.contains("blk.0.attn_q.bias"),
            tieWordEmbeddings: !hasOutput, maxPositionEmbeddings: gguf.int("\(p).context_length") ?? 2048,
            bosTokenID: gguf.bosTokenID, eosTokenIDs: gguf.eosTokenID.map { [$0] } ?? [], padTokenID: gguf.padTokenID)
        try c.validate(source: gguf.path)
        return c
    }
}
