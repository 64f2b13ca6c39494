import TensorKit

/// Gemma 2 (`model_type` "gemma2", `Gemma2ForCausalLM`): Gemma 3's block without the q/k norms, plus
/// the attention logit soft cap. Embeddings × √hidden, four RMSNorms per block with (1 + w) (input,
/// post-attention, pre-feed-forward, post-feed-forward), GELU-tanh gated MLP, query scale
/// `query_pre_attn_scalar`^−½, one RoPE base (`rope_theta`) for every layer. Blocks alternate sliding
/// (window `sliding_window`, 4096 when absent) and global attention, starting with a sliding one
/// (transformers: block i is sliding when i is even, unless `layer_types` says otherwise).
///
///     sⱼ = cap_attn · tanh((q · kⱼ) · scale / cap_attn)     (`attn_logit_softcapping`, 50 when absent)
///     logits = cap_final · tanh(logits / cap_final)        (`final_logit_softcapping`, 30 when absent)
///
/// A null cap means none. llama.cpp stores every norm weight as 1 + w, does not permute Q/K, and writes
/// `gemma2.attn_logit_softcapping`, `gemma2.final_logit_softcapping` and `gemma2.attention.sliding_window`.
///
/// Refused from config.json: `attention_bias` (a bias on o_proj writes into the residual stream, which the
/// edit leaves as it is) and `use_bidirectional_attention` (the runtime is causal).
enum Gemma2Architecture: ArchitectureDefinition {
    static let schema = ConfigSchema(
        name: "Gemma 2", defaultModelType: "gemma2",
        defaults: .init(vocabSize: 256000, hiddenSize: 2304, intermediateSize: 9216, layerCount: 26, headCount: 8,
                        kvHeadCount: 4, headDim: 256, contextLength: 8192, ropeTheta: 10000,
                        tieWordEmbeddings: true, bosTokenID: 2, eosTokenIDs: .number(1), padTokenID: 0),
        activationKey: "hidden_activation", activations: ["gelu_pytorch_tanh", "gelu_tanh"],
        ggufContextLength: 8192)
    static let blockTensors = BlockTensorNames.inputNorm + BlockTensorNames.queryKeyValue
        + BlockTensorNames.attentionOutput + BlockTensorNames.sandwichMiddleNorms + BlockTensorNames.gatedMLP
        + BlockTensorNames.postFeedForwardNorm
    static let ggufPermutesQueryKey = false
    /// The same block shape as Gemma 3: (1 + w) norms, sandwich norms (so the norm-aware edit applies),
    /// GELU-tanh, scaled embeddings.
    static let recipe = Gemma3Architecture.recipe

    /// Block i's span when config.json has no `layer_types`: sliding for even i, global for odd i.
    static let layerPattern = 2
    static let defaultAttentionSoftCap = 50.0, defaultFinalSoftCap = 30.0

    static func configuration(_ common: CommonConfiguration, json r: ConfigReader, source: String) throws -> ModelConfiguration {
        // Absent keys take transformers' defaults; a null one means none (no window, no cap).
        let slidingWindow: Int? = r.contains("sliding_window") ? try r("sliding_window") : 4096
        let layerTypes: [AttentionSpan]? = try r("layer_types")
        let queryPreAttnScalar = try r("query_pre_attn_scalar") ?? 256.0
        let attentionSoftCap: Double? = r.contains("attn_logit_softcapping")
            ? try r("attn_logit_softcapping") : defaultAttentionSoftCap
        let finalSoftCap: Double? = r.contains("final_logit_softcapping")
            ? try r("final_logit_softcapping") : defaultFinalSoftCap
        let attentionBias = try r("attention_bias") ?? false
        let bidirectional = try r("use_bidirectional_attention") ?? false
        try common.requireActivation(schema, source: source)
        guard !attentionBias else {
            throw ModelError.unsupported(
                "\(source): attention_bias true is not supported for gemma2 (a bias on o_proj writes into the residual stream, which the edit leaves as it is)")
        }
        guard !bidirectional else {
            throw ModelError.unsupported("\(source): use_bidirectional_attention true is not supported for gemma2 (the runtime is causal)")
        }
        for (key, cap) in [("attn_logit_softcapping", attentionSoftCap), ("final_logit_softcapping", finalSoftCap)] {
            if let cap, !(cap > 0 && cap.isFinite) {
                throw ModelError.invalidInput("\(source): \(key) \(cap) is not a positive number")
            }
        }
        var c = try common.configuration(source: source)
        c.slidingWindow = slidingWindow
        c.layerSpans = layerTypes ?? ModelConfiguration.gemmaLayerSpans(layerCount: c.layerCount, pattern: layerPattern)
        c.queryScale = Float(1 / queryPreAttnScalar.squareRoot())
        c.attentionLogitSoftCap = attentionSoftCap.map(Float.init)
        c.finalLogitSoftCap = finalSoftCap.map(Float.init)
        return c
    }

    /// The layer pattern is not in the file (llama.cpp: every second block global, as transformers). The
    /// query scale follows llama.cpp: head_dim^−½, except the 27B model (46 blocks), which uses
    /// (hidden / heads)^−½ (its query_pre_attn_scalar is 144 = 4608 / 32). Absent caps take llama.cpp's
    /// defaults (50 and 30) and the window 4096.
    static func configuration(_ common: CommonConfiguration, gguf: GGUFFile) throws -> ModelConfiguration {
        var c = try common.configuration(source: gguf.path)
        let scalar = ggufQueryScalar(c)
        c.slidingWindow = gguf.int("gemma2.attention.sliding_window") ?? 4096
        c.layerSpans = ModelConfiguration.gemmaLayerSpans(layerCount: c.layerCount, pattern: layerPattern)
        c.queryScale = 1 / scalar.squareRoot()
        c.attentionLogitSoftCap = gguf.float("gemma2.attn_logit_softcapping") ?? Float(defaultAttentionSoftCap)
        c.finalLogitSoftCap = gguf.float("gemma2.final_logit_softcapping") ?? Float(defaultFinalSoftCap)
        return c
    }

    /// The query pre-attention scalar a GGUF implies (llama.cpp derives it; the file has no key for it).
    static func ggufQueryScalar(_ c: ModelConfiguration) -> Float {
        c.layerCount == 46 && c.headCount > 0 ? Float(c.hiddenSize / c.headCount) : Float(c.headDim)
    }

    /// As the converter's `Gemma2Model`: `key_length`/`value_length`, both soft caps and the sliding window.
    /// Refused, naming `source`, where a GGUF would be read back as another model: a cap or the window
    /// set to null (llama.cpp then uses 50, 30 and 4096), layers other than alternating sliding/global
    /// starting with a sliding one, and a query scale other than the one a GGUF implies (`ggufQueryScalar`).
    static func ggufMetadata(_ c: ModelConfiguration, to m: inout GGUFMetadataList, source: String) throws {
        guard let attentionCap = c.attentionLogitSoftCap, let finalCap = c.finalLogitSoftCap, let window = c.slidingWindow else {
            throw ModelError.unsupported(
                "\(source): attn_logit_softcapping, final_logit_softcapping or sliding_window is null; a GGUF Gemma 2 always has them (llama.cpp would run another model)")
        }
        guard c.layerSpans == ModelConfiguration.gemmaLayerSpans(layerCount: c.layerCount, pattern: layerPattern) else {
            throw ModelError.unsupported(
                "\(source): layer_types are not alternating sliding/global from block 0; a GGUF Gemma 2 cannot express them")
        }
        let implied = 1 / ggufQueryScalar(c).squareRoot()
        guard abs(c.queryScale - implied) <= 1e-6 * implied else {
            let stated = 1 / (Double(c.queryScale) * Double(c.queryScale))
            throw ModelError.unsupported(
                "\(source): query_pre_attn_scalar \(stated.rounded()) is not the \(Int(ggufQueryScalar(c))) a GGUF Gemma 2 implies (llama.cpp derives it from the head dim); the model cannot be written as GGUF")
        }
        m.set("gemma2.attention.key_length", uint32: c.headDim)
        m.set("gemma2.attention.value_length", uint32: c.headDim)
        m.set("gemma2.attn_logit_softcapping", .float32(attentionCap))
        m.set("gemma2.final_logit_softcapping", .float32(finalCap))
        m.set("gemma2.attention.sliding_window", uint32: window)
    }

    static func ggufGeneratedTensors(_ c: ModelConfiguration) -> [(name: String, values: [Float])] { [] }

    static func write(_ c: ModelConfiguration, to json: inout ConfigWriter) {
        json.set("sliding_window", orNull: c.slidingWindow)
        json.set("layer_types", c.layerSpans)
        let scale = Double(c.queryScale)
        json.set("query_pre_attn_scalar", (1 / (scale * scale)).rounded())
        json.set("attn_logit_softcapping", orNull: c.attentionLogitSoftCap.map { JSONValue.number(Double($0)) })
        json.set("final_logit_softcapping", orNull: c.finalLogitSoftCap.map { JSONValue.number(Double($0)) })
        json.set("attention_bias", false)
    }
}
