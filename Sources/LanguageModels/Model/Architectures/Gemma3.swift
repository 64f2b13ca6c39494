import TensorKit

/// Gemma 3 text (`model_type` "gemma3_text", or the `text_config` of a multimodal "gemma3"
/// checkpoint): embeddings × √hidden, four RMSNorms per block with (1 + w), per-head q/k RMSNorm,
/// GELU-tanh gated MLP, sliding-window local layers (RoPE base `rope_local_base_freq`) and a global
/// layer every `sliding_window_pattern` blocks (RoPE base `rope_theta` with its scaling), query scale
/// `query_pre_attn_scalar`^−½. llama.cpp stores every norm weight as 1 + w and does not permute Q/K.
///
/// Refused from config.json: `attn_logit_softcapping` other than null (Gemma 3 has no attention soft cap;
/// transformers 5 reads the key and never applies it, its Gemma 2 code does; Docs/checkpoints.md),
/// `use_bidirectional_attention` (EmbeddingGemma's encoder: not causal) and `attention_bias`.
enum Gemma3Architecture: ArchitectureDefinition {
    static let schema = ConfigSchema(
        name: "Gemma 3", defaultModelType: "gemma3_text",
        defaults: .init(vocabSize: 262208, hiddenSize: 2304, intermediateSize: 9216, layerCount: 26, headCount: 8,
                        kvHeadCount: 4, headDim: 256, contextLength: 131072, ropeTheta: 1_000_000,
                        tieWordEmbeddings: true, bosTokenID: 2, eosTokenIDs: .number(1), padTokenID: 0),
        activationKey: "hidden_activation", activations: ["gelu_pytorch_tanh", "gelu_tanh"],
        ropeParametersByLayerType: true, multimodalModelType: "gemma3", ggufContextLength: 32768)
    static let blockTensors = BlockTensorNames.inputNorm + BlockTensorNames.queryKeyValue
        + BlockTensorNames.queryKeyNorms + BlockTensorNames.attentionOutput + BlockTensorNames.sandwichMiddleNorms
        + BlockTensorNames.gatedMLP + BlockTensorNames.postFeedForwardNorm
    static let ggufPermutesQueryKey = false
    static let recipe = BlockRecipe(
        normPlusOne: true, sandwichNorms: true, activation: .geluTanh, scaleEmbeddings: true,
        preFeedForwardNorm: "pre_feedforward_layernorm.weight")

    static func configuration(_ common: CommonConfiguration, json r: ConfigReader, source: String) throws -> ModelConfiguration {
        // transformers 5 nests the local base: rope_parameters.sliding_attention.rope_theta.
        let parameters: [String: JSONValue]? = try r("rope_parameters")
        let localTheta = try parameters?[AttentionSpan.sliding.rawValue]?.object?["rope_theta"]?.double
            ?? r("rope_local_base_freq") ?? 10000
        let slidingWindow = try r("sliding_window") ?? 4096
        let pattern = try r("sliding_window_pattern") ?? 6
        let layerTypes: [AttentionSpan]? = try r("layer_types")
        let queryPreAttnScalar = try r("query_pre_attn_scalar") ?? 256.0
        let finalSoftCap: Double? = try r("final_logit_softcapping")
        let attentionSoftCap: Double? = try r("attn_logit_softcapping")
        let attentionBias = try r("attention_bias") ?? false
        let bidirectional = try r("use_bidirectional_attention") ?? false
        try common.requireActivation(schema, source: source)
        guard !attentionBias else { throw ModelError.unsupported("\(source): attention_bias is not supported for gemma3") }
        if let cap = attentionSoftCap {
            throw ModelError.unsupported(
                "\(source): attn_logit_softcapping \(cap) is not supported for gemma3 (Gemma 3 has no attention soft cap and transformers ignores the key; set it to null)")
        }
        guard !bidirectional else {
            throw ModelError.unsupported("\(source): use_bidirectional_attention true is not supported for gemma3 (the runtime is causal)")
        }
        var c = try common.configuration(source: source)
        c.localRopeTheta = localTheta
        c.slidingWindow = slidingWindow
        c.layerSpans = layerTypes ?? ModelConfiguration.gemmaLayerSpans(layerCount: c.layerCount, pattern: pattern)
        c.queryScale = Float(1 / queryPreAttnScalar.squareRoot())
        c.queryKeyNorm = true
        c.finalLogitSoftCap = finalSoftCap.map(Float.init)
        return c
    }

    /// The local RoPE base is `gemma3.rope.freq_base_swa` (newer converters write it), else 10000; the
    /// layer pattern `gemma3.attention.sliding_window_pattern`, else 6: llama.cpp's defaults. The query
    /// scale follows llama.cpp: head_dim^−½, except the 27B model (62 blocks), which uses (hidden / heads)^−½.
    static func configuration(_ common: CommonConfiguration, gguf: GGUFFile) throws -> ModelConfiguration {
        var c = try common.configuration(source: gguf.path)
        let scalar = ggufQueryScalar(c)
        let pattern = gguf.int("gemma3.attention.sliding_window_pattern") ?? 6
        c.localRopeTheta = Double(gguf.float("gemma3.rope.freq_base_swa") ?? 10000)
        c.slidingWindow = gguf.int("gemma3.attention.sliding_window") ?? 512
        c.layerSpans = ModelConfiguration.gemmaLayerSpans(layerCount: c.layerCount, pattern: pattern)
        c.queryScale = 1 / scalar.squareRoot()
        c.queryKeyNorm = true
        c.finalLogitSoftCap = gguf.float("gemma3.final_logit_softcapping")
        return c
    }

    /// The query pre-attention scalar a GGUF implies (llama.cpp derives it; the file has no key for it).
    static func ggufQueryScalar(_ c: ModelConfiguration) -> Float {
        c.layerCount == 62 && c.headCount > 0 ? Float(c.hiddenSize / c.headCount) : Float(c.headDim)
    }

    /// As the converter's `Gemma3Model`: `key_length`/`value_length` (always), `final_logit_softcapping`
    /// (when set), `sliding_window` (when there are sliding layers). The layer pattern goes in
    /// `gemma3.attention.sliding_window_pattern` when it is not llama.cpp's default of a global layer every
    /// 6th block (the converter leaves it out; llama.cpp and this tool read it). Refused, naming `source`:
    /// attention logit soft-capping (the converter refuses it too), a query scale other than the one a GGUF
    /// implies (`ggufQueryScalar`), and layer types that follow no period.
    static func ggufMetadata(_ c: ModelConfiguration, to m: inout GGUFMetadataList, source: String) throws {
        guard c.attentionLogitSoftCap == nil else {
            throw ModelError.unsupported("\(source): attn_logit_softcapping is set; a GGUF Gemma 3 has none (llama.cpp would run another model)")
        }
        let scalar = ggufQueryScalar(c)
        let implied = 1 / scalar.squareRoot()
        guard abs(c.queryScale - implied) <= 1e-6 * implied else {
            let stated = 1 / (Double(c.queryScale) * Double(c.queryScale))
            throw ModelError.unsupported(
                "\(source): query_pre_attn_scalar \(stated.rounded()) is not the \(Int(scalar)) a GGUF Gemma 3 implies (llama.cpp derives it from the head dim); the model cannot be written as GGUF")
        }
        m.set("gemma3.attention.key_length", uint32: c.headDim)
        m.set("gemma3.attention.value_length", uint32: c.headDim)
        if let cap = c.finalLogitSoftCap, cap != 0 { m.set("gemma3.final_logit_softcapping", .float32(cap)) }
        if c.layerSpans.contains(.sliding) {
            m.set("gemma3.attention.sliding_window", uint32: c.slidingWindow ?? 0)
            let period = c.layerSpans.firstIndex(of: .full).map { $0 + 1 } ?? 0
            guard c.layerSpans == ModelConfiguration.gemmaLayerSpans(layerCount: c.layerCount, pattern: period) else {
                throw ModelError.unsupported(
                    "\(source): layer_types follow no period (a global layer every Nth block); GGUF cannot express them")
            }
            if period != 6 { m.set("gemma3.attention.sliding_window_pattern", uint32: period) }
        } else {
            throw ModelError.unsupported("\(source): layer_types has no sliding_attention layer; a GGUF Gemma 3 without sliding_window is not read back the same way")
        }
    }

    static func ggufGeneratedTensors(_ c: ModelConfiguration) -> [(name: String, values: [Float])] { [] }

    static func write(_ c: ModelConfiguration, to json: inout ConfigWriter) {
        json.set("rope_local_base_freq", c.localRopeTheta ?? 10000)
        json.set("sliding_window", c.slidingWindow ?? 4096)
        // The pattern when the layer types follow one (transformers reads layer_types first anyway).
        let period = c.layerSpans.firstIndex(of: .full).map { $0 + 1 }
        let regular = period.map { c.layerSpans == ModelConfiguration.gemmaLayerSpans(layerCount: c.layerCount, pattern: $0) }
        json.set("sliding_window_pattern", regular == true ? period : 6)
        json.set("layer_types", c.layerSpans)
        let scale = Double(c.queryScale)
        json.set("query_pre_attn_scalar", (1 / (scale * scale)).rounded())
        json.set("final_logit_softcapping", orNull: c.finalLogitSoftCap.map { JSONValue.number(Double($0)) })
        json.set("attn_logit_softcapping", JSONValue.null)
        json.set("attention_bias", false)
    }
}
