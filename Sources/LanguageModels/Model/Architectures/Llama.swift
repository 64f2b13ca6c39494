import Foundation
import TensorKit

/// The `llama` architecture (SmolLM2, Llama 3.x) and `mistral` (Mistral 7B, Mistral Nemo): pre-norm
/// blocks, SiLU-gated MLP, grouped-query attention, RoPE. Mistral's `sliding_window` (transformers'
/// default 4096 when the key is absent, none when it is null) makes every block attend to that many
/// positions; q/k/v biases are read from GGUF files only.
///
/// A Hugging Face Llama with `attention_bias` or `mlp_bias` is refused: transformers then gives o_proj
/// and the MLP biases too, which write into the residual stream beside the weights the edit changes.
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
        let mistral = try r("model_type", as: String.self) == "mistral"
        // Mistral's attention and MLP have no biases whatever the keys say; Llama's follow them.
        let attentionBias = mistral ? false : try r("attention_bias") ?? false
        let mlpBias = mistral ? false : try r("mlp_bias") ?? false
        let slidingWindow: Int? = mistral ? (r.contains("sliding_window") ? try r("sliding_window") : 4096) : nil
        try common.requireActivation(schema, source: source)
        for (key, set) in [("attention_bias", attentionBias), ("mlp_bias", mlpBias)] where set {
            throw ModelError.unsupported(
                "\(source): \(key) true is not supported for llama (biases on o_proj or the MLP write into the residual stream, which the edit leaves as they are)")
        }
        var c = try common.configuration(source: source)
        if let slidingWindow {
            c.slidingWindow = slidingWindow
            c.layerSpans = (1...ModelConfiguration.maxLayerCount).contains(c.layerCount)
                ? Array(repeating: .sliding, count: c.layerCount) : []
        }
        return c
    }

    /// Llama 3's frequency factors (`rope_freqs.weight`) are read by the loader.
    static func configuration(_ common: CommonConfiguration, gguf: GGUFFile) throws -> ModelConfiguration {
        var c = try common.configuration(source: gguf.path)
        c.attentionBias = gguf.tensorNames.contains("blk.0.attn_q.bias")
        return c
    }

    /// A model with a sliding window is written as Mistral (the only Llama-like family with one).
    static func write(_ c: ModelConfiguration, to json: inout ConfigWriter) {
        json.set("attention_bias", c.attentionBias)
        json.set("mlp_bias", false)
        if let window = c.slidingWindow, c.layerSpans.contains(.sliding) {
            json.set("architectures", ["MistralForCausalLM"])
            json.set("model_type", "mistral")
            json.set("sliding_window", window)
        }
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
