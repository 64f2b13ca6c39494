import Foundation
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

    /// `llama.vocab_size` and `llama.rope.dimension_count` (the head dim), as the converter's `LlamaModel` adds them.
    static func ggufMetadata(_ c: ModelConfiguration, to m: inout GGUFMetadataList, source: String) throws {
        m.set("llama.vocab_size", uint32: c.vocabSize)
        m.set("llama.rope.dimension_count", uint32: c.headDim)
    }

    /// With Llama 3's RoPE scaling, `rope_freqs.weight`: one factor per rotary pair that llama.cpp divides
    /// the inverse frequency by, computed as the converter does in f32: fᵢ = 1 / base^(2i/d),
    /// wavelength λ = 2π / fᵢ; factor 1 when λ < original / high_freq_factor, `factor` when
    /// λ > original / low_freq_factor, else 1 / ((1 − s)/factor + s) with s = (original/λ − low) / (high − low).
    static func ggufGeneratedTensors(_ c: ModelConfiguration) -> [(name: String, values: [Float])] {
        guard case .llama3(let factor, let low, let high, let original) = c.ropeScaling else { return [] }
        let f = Float(factor), lo = Float(low), hi = Float(high), orig = Float(original)
        let lowWavelength = orig / lo, highWavelength = orig / hi
        let factors = (0..<(c.headDim / 2)).map { i -> Float in
            let frequency = 1 / powf(Float(c.ropeTheta), Float(2 * i) / Float(c.headDim))
            let wavelength = 2 * Float.pi / frequency
            if wavelength < highWavelength { return 1 }
            if wavelength > lowWavelength { return f }
            let smooth = (orig / wavelength - lo) / (hi - lo)
            return 1 / ((1 - smooth) / f + smooth)
        }
        return [("rope_freqs.weight", factors)]
    }
}
