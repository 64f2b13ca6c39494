import Foundation
import TensorKit

/// Hugging Face `config.json` of a Gemma 3 text model (`model_type` "gemma3_text", or the
/// `text_config` of a multimodal "gemma3" checkpoint).
public struct Gemma3TextConfiguration: Codable, Sendable, Equatable {
    public var architectures: [String] = ["Gemma3ForCausalLM"]
    public var modelType: String = "gemma3_text"
    public var vocabSize: Int = 262208
    public var hiddenSize: Int = 2304
    public var intermediateSize: Int = 9216
    public var numHiddenLayers: Int = 26
    public var numAttentionHeads: Int = 8
    public var numKeyValueHeads: Int = 4
    public var headDim: Int = 256
    public var hiddenActivation: String = "gelu_pytorch_tanh"
    public var maxPositionEmbeddings: Int = 131072
    public var rmsNormEps: Double = 1e-6
    public var ropeTheta: Double = 1_000_000
    public var ropeLocalBaseFreq: Double = 10000
    var ropeScaling: [String: JSONValue]?
    public var slidingWindow: Int = 4096
    public var slidingWindowPattern: Int = 6
    public var layerTypes: [AttentionSpan]?
    public var queryPreAttnScalar: Double = 256
    public var finalLogitSoftcapping: Double?
    public var attnLogitSoftcapping: Double?
    public var attentionBias: Bool = false
    public var tieWordEmbeddings: Bool = true
    public var bosTokenId: Int? = 2
    var eosTokenId: JSONValue? = .number(1)
    public var padTokenId: Int? = 0
    public var torchDtype: String = "bfloat16"

    enum CodingKeys: String, CodingKey {
        case architectures, modelType = "model_type", vocabSize = "vocab_size", hiddenSize = "hidden_size"
        case intermediateSize = "intermediate_size", numHiddenLayers = "num_hidden_layers"
        case numAttentionHeads = "num_attention_heads", numKeyValueHeads = "num_key_value_heads"
        case headDim = "head_dim", hiddenActivation = "hidden_activation"
        case maxPositionEmbeddings = "max_position_embeddings", rmsNormEps = "rms_norm_eps"
        case ropeTheta = "rope_theta", ropeLocalBaseFreq = "rope_local_base_freq", ropeScaling = "rope_scaling"
        case ropeParameters = "rope_parameters"
        case slidingWindow = "sliding_window", slidingWindowPattern = "sliding_window_pattern"
        case layerTypes = "layer_types", queryPreAttnScalar = "query_pre_attn_scalar"
        case finalLogitSoftcapping = "final_logit_softcapping", attnLogitSoftcapping = "attn_logit_softcapping"
        case attentionBias = "attention_bias", tieWordEmbeddings = "tie_word_embeddings"
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
        numKeyValueHeads = try c.decodeIfPresent(Int.self, forKey: .numKeyValueHeads) ?? numKeyValueHeads
        headDim = try c.decodeIfPresent(Int.self, forKey: .headDim) ?? headDim
        hiddenActivation = try c.decodeIfPresent(String.self, forKey: .hiddenActivation) ?? hiddenActivation
        maxPositionEmbeddings = try c.decodeIfPresent(Int.self, forKey: .maxPositionEmbeddings) ?? maxPositionEmbeddings
        rmsNormEps = try c.decodeIfPresent(Double.self, forKey: .rmsNormEps) ?? rmsNormEps
        ropeTheta = try c.decodeIfPresent(Double.self, forKey: .ropeTheta) ?? ropeTheta
        ropeLocalBaseFreq = try c.decodeIfPresent(Double.self, forKey: .ropeLocalBaseFreq) ?? ropeLocalBaseFreq
        ropeScaling = try c.decodeIfPresent([String: JSONValue].self, forKey: .ropeScaling)
        // transformers 5: {"full_attention": {...}, "sliding_attention": {...}}
        if let parameters = try c.decodeIfPresent([String: JSONValue].self, forKey: .ropeParameters) {
            if let full = parameters["full_attention"]?.object {
                if let theta = full["rope_theta"]?.double { ropeTheta = theta }
                if ropeScaling == nil { ropeScaling = full }
            }
            if let local = parameters["sliding_attention"]?.object, let theta = local["rope_theta"]?.double {
                ropeLocalBaseFreq = theta
            }
        }
        slidingWindow = try c.decodeIfPresent(Int.self, forKey: .slidingWindow) ?? slidingWindow
        slidingWindowPattern = try c.decodeIfPresent(Int.self, forKey: .slidingWindowPattern) ?? slidingWindowPattern
        layerTypes = try c.decodeIfPresent([AttentionSpan].self, forKey: .layerTypes)
        queryPreAttnScalar = try c.decodeIfPresent(Double.self, forKey: .queryPreAttnScalar) ?? queryPreAttnScalar
        finalLogitSoftcapping = try c.decodeIfPresent(Double.self, forKey: .finalLogitSoftcapping)
        attnLogitSoftcapping = try c.decodeIfPresent(Double.self, forKey: .attnLogitSoftcapping)
        attentionBias = try c.decodeIfPresent(Bool.self, forKey: .attentionBias) ?? attentionBias
        tieWordEmbeddings = try c.decodeIfPresent(Bool.self, forKey: .tieWordEmbeddings) ?? tieWordEmbeddings
        bosTokenId = try c.decodeIfPresent(Int.self, forKey: .bosTokenId) ?? bosTokenId
        eosTokenId = try c.decodeIfPresent(JSONValue.self, forKey: .eosTokenId) ?? eosTokenId
        padTokenId = try c.decodeIfPresent(Int.self, forKey: .padTokenId) ?? padTokenId
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
        try c.encode(numKeyValueHeads, forKey: .numKeyValueHeads)
        try c.encode(headDim, forKey: .headDim)
        try c.encode(hiddenActivation, forKey: .hiddenActivation)
        try c.encode(maxPositionEmbeddings, forKey: .maxPositionEmbeddings)
        try c.encode(rmsNormEps, forKey: .rmsNormEps)
        try c.encode(ropeTheta, forKey: .ropeTheta)
        try c.encode(ropeLocalBaseFreq, forKey: .ropeLocalBaseFreq)
        try c.encode(ropeScaling.map(JSONValue.object) ?? .null, forKey: .ropeScaling)
        try c.encode(slidingWindow, forKey: .slidingWindow)
        try c.encode(slidingWindowPattern, forKey: .slidingWindowPattern)
        try c.encodeIfPresent(layerTypes, forKey: .layerTypes)
        try c.encode(queryPreAttnScalar, forKey: .queryPreAttnScalar)
        try c.encode(finalLogitSoftcapping.map(JSONValue.number) ?? .null, forKey: .finalLogitSoftcapping)
        try c.encode(attnLogitSoftcapping.map(JSONValue.number) ?? .null, forKey: .attnLogitSoftcapping)
        try c.encode(attentionBias, forKey: .attentionBias)
        try c.encode(tieWordEmbeddings, forKey: .tieWordEmbeddings)
        try c.encodeIfPresent(bosTokenId, forKey: .bosTokenId)
        try c.encodeIfPresent(eosTokenId, forKey: .eosTokenId)
        try c.encodeIfPresent(padTokenId, forKey: .padTokenId)
        try c.encode(torchDtype, forKey: .torchDtype)
    }

    public func runtimeConfiguration(source: String) throws -> ModelConfiguration {
        guard hiddenActivation == "gelu_pytorch_tanh" || hiddenActivation == "gelu_tanh" else {
            throw ModelError.unsupported(
                "\(source): hidden_activation '\(hiddenActivation)' is not supported for gemma3 (need gelu_pytorch_tanh)")
        }
        guard !attentionBias else { throw ModelError.unsupported("\(source): attention_bias is not supported for gemma3") }
        let c = ModelConfiguration(
            architecture: .gemma3, vocabSize: vocabSize, hiddenSize: hiddenSize, intermediateSize: intermediateSize,
            layerCount: numHiddenLayers, headCount: numAttentionHeads, kvHeadCount: numKeyValueHeads,
            headDim: headDim, rmsNormEpsilon: Float(rmsNormEps), ropeTheta: ropeTheta,
            ropeScaling: try RoPEJSON.scaling(ropeScaling, source: source), localRopeTheta: ropeLocalBaseFreq,
            slidingWindow: slidingWindow,
            layerSpans: layerTypes ?? ModelConfiguration.gemmaLayerSpans(layerCount: numHiddenLayers, pattern: slidingWindowPattern),
            queryScale: Float(1 / queryPreAttnScalar.squareRoot()), queryKeyNorm: true,
            tieWordEmbeddings: tieWordEmbeddings, maxPositionEmbeddings: maxPositionEmbeddings,
            bosTokenID: bosTokenId, eosTokenIDs: eosTokenId?.ints ?? [], padTokenID: padTokenId,
            attentionLogitSoftCap: attnLogitSoftcapping.map(Float.init),
            finalLogitSoftCap: finalLogitSoftcapping.map(Float.init))
        try c.validate(source: source)
        return c
    }

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
        ropeLocalBaseFreq = c.localRopeTheta ?? 10000
        ropeScaling = RoPEJSON.dict(c.ropeScaling)
        slidingWindow = c.slidingWindow ?? slidingWindow
        layerTypes = c.layerSpans
        if let period = c.layerSpans.firstIndex(of: .full).map({ $0 + 1 }),
           c.layerSpans == ModelConfiguration.gemmaLayerSpans(layerCount: c.layerCount, pattern: period) {
            slidingWindowPattern = period
        }
        let scale = Double(c.queryScale)
        queryPreAttnScalar = (1 / (scale * scale)).rounded()
        finalLogitSoftcapping = c.finalLogitSoftCap.map(Double.init)
        attnLogitSoftcapping = c.attentionLogitSoftCap.map(Double.init)
        tieWordEmbeddings = c.tieWordEmbeddings
        bosTokenId = c.bosTokenID
        eosTokenId = .tokenIDs(c.eosTokenIDs)
        padTokenId = c.padTokenID
        torchDtype = dtype
    }
}

/// Gemma 3 text: embeddings × √hidden, four RMSNorms per block with (1 + w), per-head q/k RMSNorm,
/// GELU-tanh gated MLP, sliding-window local layers (RoPE base `rope_local_base_freq`) and a global
/// layer every `sliding_window_pattern` blocks (RoPE base `rope_theta` with its scaling), query scale
/// `query_pre_attn_scalar`^−½. llama.cpp stores every norm weight as 1 + w and does not permute Q/K.
enum Gemma3Architecture: ArchitectureDefinition {
    static let blockTensorNames: [(gguf: String, hf: String)] = [
        ("attn_norm.weight", "input_layernorm.weight"),
        ("attn_q.weight", "self_attn.q_proj.weight"),
        ("attn_k.weight", "self_attn.k_proj.weight"),
        ("attn_v.weight", "self_attn.v_proj.weight"),
        ("attn_q_norm.weight", "self_attn.q_norm.weight"),
        ("attn_k_norm.weight", "self_attn.k_norm.weight"),
        ("attn_output.weight", "self_attn.o_proj.weight"),
        ("post_attention_norm.weight", "post_attention_layernorm.weight"),
        ("ffn_norm.weight", "pre_feedforward_layernorm.weight"),
        ("ffn_gate.weight", "mlp.gate_proj.weight"),
        ("ffn_up.weight", "mlp.up_proj.weight"),
        ("ffn_down.weight", "mlp.down_proj.weight"),
        ("post_ffw_norm.weight", "post_feedforward_layernorm.weight"),
    ]
    static let ggufPermutesQueryKey = false
    static let recipe = BlockRecipe(
        normPlusOne: true, sandwichNorms: true, activation: .geluTanh, scaleEmbeddings: true,
        preFeedForwardNorm: "pre_feedforward_layernorm.weight")

    static func configuration(json: Data, source: String) throws -> ModelConfiguration {
        // A multimodal checkpoint nests the text model's settings in `text_config`.
        if let object = try? JSONSerialization.jsonObject(with: json) as? [String: Any],
           (object["model_type"] as? String) == "gemma3", let text = object["text_config"] as? [String: Any] {
            let inner = try JSONSerialization.data(withJSONObject: text)
            return try ConfigJSON.decode(Gemma3TextConfiguration.self, from: inner, source: source)
                .runtimeConfiguration(source: source)
        }
        return try ConfigJSON.decode(Gemma3TextConfiguration.self, from: json, source: source)
            .runtimeConfiguration(source: source)
    }

    static func configJSON(_ configuration: ModelConfiguration, dtype: String) throws -> Data {
        try ConfigJSON.encode(Gemma3TextConfiguration(configuration, dtype: dtype))
    }

    /// From `gemma3.*` metadata. The local RoPE base (10000) and the layer pattern (6) are not in the
    /// file; llama.cpp uses the same constants. The query scale follows llama.cpp: head_dim^−½, except
    /// the 27B model (62 blocks), which uses (hidden / heads)^−½.
    static func configuration(gguf: GGUFFile) throws -> ModelConfiguration {
        let p = "gemma3"
        let hidden = try gguf.requiredInt("\(p).embedding_length")
        let heads = try gguf.requiredInt("\(p).attention.head_count")
        let layers = try gguf.requiredInt("\(p).block_count")
        let headDim = gguf.int("\(p).attention.key_length") ?? 256
        let scalar = layers == 62 && heads > 0 ? Float(hidden / heads) : Float(headDim)
        let pattern = gguf.int("\(p).attention.sliding_window_pattern") ?? 6
        let c = ModelConfiguration(
            architecture: .gemma3, vocabSize: try gguf.vocabularySize(prefix: p), hiddenSize: hidden,
            intermediateSize: try gguf.requiredInt("\(p).feed_forward_length"), layerCount: layers,
            headCount: heads, kvHeadCount: gguf.int("\(p).attention.head_count_kv") ?? heads, headDim: headDim,
            rmsNormEpsilon: gguf.float("\(p).attention.layer_norm_rms_epsilon") ?? 1e-6,
            ropeTheta: Double(gguf.float("\(p).rope.freq_base") ?? 1_000_000),
            ropeScaling: RoPEJSON.scaling(gguf: gguf, prefix: p), localRopeTheta: 10000,
            slidingWindow: gguf.int("\(p).attention.sliding_window") ?? 512,
            layerSpans: ModelConfiguration.gemmaLayerSpans(layerCount: layers, pattern: pattern),
            queryScale: 1 / scalar.squareRoot(), queryKeyNorm: true,
            tieWordEmbeddings: !gguf.tensorNames.contains("output.weight"),
            maxPositionEmbeddings: gguf.int("\(p).context_length") ?? 32768,
            bosTokenID: gguf.bosTokenID, eosTokenIDs: gguf.eosTokenID.map { [$0] } ?? [], padTokenID: gguf.padTokenID,
            finalLogitSoftCap: gguf.float("\(p).final_logit_softcapping"))
        try c.validate(source: gguf.path)
        return c
    }
}
