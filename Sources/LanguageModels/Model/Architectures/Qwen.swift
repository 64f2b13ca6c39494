import TensorKit

/// `qwen2` and `qwen3`: the llama block plus q/k/v biases (Qwen 2, always: transformers builds them
/// whatever `attention_bias` says) or per-head q/k RMSNorm before RoPE (Qwen 3, plain weight w, with an
/// explicit `head_dim`, 128 when absent as in transformers). A Qwen 3 with `attention_bias` (biases on
/// o_proj too) and a sliding window (`use_sliding_window`) are refused. llama.cpp's converter does not
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
        let attentionBias = try r("attention_bias") ?? false
        let useSlidingWindow = try r("use_sliding_window") ?? false
        try common.requireActivation(schema, source: source)
        guard !useSlidingWindow else {
            throw ModelError.unsupported("\(source): use_sliding_window is not supported for \(common.architecture.rawValue)")
        }
        let qwen3 = common.architecture == .qwen3
        if qwen3 && attentionBias {
            throw ModelError.unsupported(
                "\(source): attention_bias true is not supported for qwen3 (a bias on o_proj writes into the residual stream, which the edit leaves as it is)")
        }
        var common = common
        if qwen3 && common.headDim == nil { common.headDim = 128 }
        var c = try common.configuration(source: source)
        c.attentionBias = !qwen3
        c.queryKeyNorm = qwen3
        return c
    }

    static func configuration(_ common: CommonConfiguration, gguf: GGUFFile) throws -> ModelConfiguration {
        var c = try common.configuration(source: gguf.path)
        c.attentionBias = gguf.tensorNames.contains("blk.0.attn_q.bias")
        c.queryKeyNorm = c.architecture == .qwen3
        return c
    }

    /// `attention_bias` is written for Qwen 3 only (Qwen 2 has its biases whatever the key says).
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
