import TensorKit

/// The `llama` architecture (SmolLM2, Llama 3.x, Mistral / Mistral Nemo): pre-norm blocks,
/// SiLU-gated MLP, grouped-query attention, RoPE; optional q/k/v biases.
enum LlamaArchitecture: ArchitectureDefinition {
    static let schema = ConfigSchema(
        name: "Llama", defaultModelType: "llama",
        defaults: .init(vocabSize: 32000, hiddenSize: 4096, intermediateSize: 11008, layerCount: 32, headCount: 32,
                        contextLength: 2048),
        ggufHeadDimKeys: ["attention.key_length", "rope.dimension_count"],
        ggufContextLength: 2048, ggufRMSNormEpsilon: 1e-5)
    static let blockTensors = BlockTensorNames.inputNorm + BlockTensorNames.queryKeyValue
        + BlockTensorNames.queryKeyValueBiases + BlockTensorNames.attentionOutput
        + BlockTensorNames.feedForwardNorm + BlockTensorNames.gatedMLP
    static let ggufPermutesQueryKey = true
    static let recipe = BlockRecipe(
        normPlusOne: false, sandwichNorms: false, activation: .silu, scaleEmbeddings: false,
        preFeedForwardNorm: "post_attention_layernorm.weight")

    static func configuration(_ common: CommonConfiguration, json r: ConfigReader, source: String) throws -> ModelConfiguration {
        let attentionBias = try r("attention_bias") ?? false
        let mlpBias = try r("mlp_bias") ?? false
        try common.requireActivation(schema, source: source)
        guard !mlpBias else { throw ModelError.unsupported("\(source): mlp_bias is not supported") }
        var c = try common.configuration(source: source)
        c.attentionBias = attentionBias
        return c
    }

    /// Llama 3's frequency factors (`rope_freqs.weight`) are read by the loader.
    static func configuration(_ common: CommonConfiguration, gguf: GGUFFile) throws -> ModelConfiguration {
        var c = try common.configuration(source: gguf.path)
        c.attentionBias = gguf.tensorNames.contains("blk.0.attn_q.bias")
        return c
    }

    static func write(_ c: ModelConfiguration, to json: inout ConfigWriter) {
        json.set("attention_bias", c.attentionBias)
        json.set("mlp_bias", false)
    }
}
