import TensorKit

/// `qwen2` and `qwen3`: the llama block plus q/k/v biases (Qwen 2) or per-head q/k RMSNorm before
/// RoPE (Qwen 3, plain weight w, with an explicit `head_dim`). llama.cpp's converter does not
/// permute Qwen's Q/K rows.
enum QwenArchitecture: ArchitectureDefinition {
    static let schema = ConfigSchema(
        name: "Qwen", defaultModelType: "qwen2",
        defaults: .init(vocabSize: 151936, hiddenSize: 4096, intermediateSize: 22016, layerCount: 32, headCount: 32,
                        contextLength: 32768),
        ggufContextLength: 32768)
    static let blockTensors = BlockTensorNames.inputNorm + BlockTensorNames.queryKeyValue
        + BlockTensorNames.queryKeyValueBiases + BlockTensorNames.queryKeyNorms + BlockTensorNames.attentionOutput
        + BlockTensorNames.feedForwardNorm + BlockTensorNames.gatedMLP
    static let ggufPermutesQueryKey = false
    static let recipe = LlamaArchitecture.recipe

    static func configuration(_ common: CommonConfiguration, json r: ConfigReader, source: String) throws -> ModelConfiguration {
        let attentionBias: Bool? = try r("attention_bias")
        let useSlidingWindow = try r("use_sliding_window") ?? false
        try common.requireActivation(schema, source: source)
        guard !useSlidingWindow else {
            throw ModelError.unsupported("\(source): use_sliding_window is not supported for \(common.architecture.rawValue)")
        }
        var c = try common.configuration(source: source)
        c.attentionBias = attentionBias ?? (c.architecture == .qwen2)
        c.queryKeyNorm = c.architecture == .qwen3
        return c
    }

    static func configuration(_ common: CommonConfiguration, gguf: GGUFFile) throws -> ModelConfiguration {
        var c = try common.configuration(source: gguf.path)
        c.attentionBias = gguf.tensorNames.contains("blk.0.attn_q.bias")
        c.queryKeyNorm = c.architecture == .qwen3
        return c
    }

    /// `attention_bias` is written for Qwen 3 only (Qwen 2's default is true).
    static func write(_ c: ModelConfiguration, to json: inout ConfigWriter) {
        json.set("attention_bias", c.architecture == .qwen3 ? c.attentionBias : nil)
        json.set("use_sliding_window", false)
    }

    /// Nothing beyond the common keys, except that Qwen 3's config.json always states `head_dim`, so the
    /// converter always writes `qwen3.attention.key_length` / `value_length`.
    static func ggufMetadata(_ c: ModelConfiguration, to m: inout GGUFMetadataList, source: String) throws {
        guard c.architecture == .qwen3 else { return }
        m.set("qwen3.attention.key_length", uint32: c.headDim)
        m.set("qwen3.attention.value_length", uint32: c.headDim)
    }

    static func ggufGeneratedTensors(_ c: ModelConfiguration) -> [(name: String, values: [Float])] { [] }
}
