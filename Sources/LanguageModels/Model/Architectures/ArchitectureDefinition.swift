import Foundation
import TensorKit

/// What differs between architectures, one file each (`Llama.swift`, `Qwen.swift`, `Gemma2.swift`, `Gemma3.swift`):
/// config.json defaults, the tensor name table, the block's shape, and the settings beyond the
/// common core (`CommonConfiguration`). The forward pass reads only this and `ModelConfiguration`.
protocol ArchitectureDefinition {
    static var schema: ConfigSchema { get }
    /// Hugging Face and GGUF name of each block tensor, in model order.
    static var blockTensors: [BlockTensorName] { get }
    /// llama.cpp's converter permuted the rows of Q and K (for its interleaved RoPE).
    static var ggufPermutesQueryKey: Bool { get }
    static var recipe: BlockRecipe { get }
    /// The configuration from the common settings and the architecture's own config.json keys
    /// (decoded first, then checked); refuses what the runtime does not implement.
    static func configuration(_ common: CommonConfiguration, json: ConfigReader, source: String) throws -> ModelConfiguration
    /// The configuration from the common settings and the architecture's own GGUF metadata.
    static func configuration(_ common: CommonConfiguration, gguf: GGUFFile) throws -> ModelConfiguration
    /// Writes the architecture's own config.json keys.
    static func write(_ c: ModelConfiguration, to json: inout ConfigWriter)
    /// Adds the architecture's own GGUF keys after the common ones (`CommonConfiguration.ggufMetadata`),
    /// as llama.cpp's converter writes them; throws, naming `source`, when GGUF cannot express the
    /// configuration.
    static func ggufMetadata(_ c: ModelConfiguration, to m: inout GGUFMetadataList, source: String) throws
    /// Tensors llama.cpp's converter generates rather than copies (Llama 3's `rope_freqs.weight`), by GGUF name.
    static func ggufGeneratedTensors(_ c: ModelConfiguration) -> [(name: String, values: [Float])]
}

/// The shape of a decoder block and its surroundings.
struct BlockRecipe: Sendable {
    enum Activation: Sendable { case silu, geluTanh }
    /// Norm weights are used as (1 + w) in Hugging Face's convention (Gemma).
    var normPlusOne: Bool
    /// Attention and MLP outputs are normalized before the residual add (Gemma 2 and 3's four norms).
    var sandwichNorms: Bool
    var activation: Activation
    /// Embeddings multiplied by √hidden (Gemma).
    var scaleEmbeddings: Bool
    /// HF name of the norm before the MLP.
    var preFeedForwardNorm: String

    /// The norm (HF name after `model.layers.N.`) that block tensor `suffix` writes through before the
    /// residual add, when the block has sandwich norms: `o_proj` → `post_attention_layernorm`,
    /// `down_proj` → `post_feedforward_layernorm`. Nil for any other tensor or architecture.
    func outputNorm(ofBlockTensor suffix: String) -> String? {
        guard sandwichNorms else { return nil }
        switch suffix {
        case "self_attn.o_proj.weight": return "post_attention_layernorm.weight"
        case "mlp.down_proj.weight": return "post_feedforward_layernorm.weight"
        default: return nil
        }
    }

    /// The norm (HF name after `model.layers.N.`) through which block tensor `suffix` reads the residual
    /// stream: `q_proj`/`k_proj`/`v_proj` → `input_layernorm`, `gate_proj`/`up_proj` → the norm before the
    /// MLP (`post_attention_layernorm` in Llama and Qwen, `pre_feedforward_layernorm` in Gemma). Nil for
    /// a tensor that does not read the residual.
    func inputNorm(ofBlockTensor suffix: String) -> String? {
        switch suffix {
        case "self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight": return "input_layernorm.weight"
        case "mlp.gate_proj.weight", "mlp.up_proj.weight": return preFeedForwardNorm
        default: return nil
        }
    }
}

extension ArchitectureDefinition {
    /// The configuration from a config.json; its `model_type` must name this architecture.
    static func configuration(json: Data, source: String) throws -> ModelConfiguration {
        var json = json
        if let nested = schema.multimodalModelType,
           let object = try? JSONSerialization.jsonObject(with: json) as? [String: Any],
           (object["model_type"] as? String) == nested, let text = object["text_config"] as? [String: Any] {
            json = try JSONSerialization.data(withJSONObject: text)
        }
        return try ConfigJSON.read(json, source: source) { r in
            let identifier = try r("model_type", as: String.self) ?? schema.defaultModelType
            let architecture = try member(identifier, key: "model_type", source: source)
            let common = try CommonConfiguration(json: r, architecture: architecture, schema: schema)
            let c = try configuration(common, json: r, source: source)
            try c.validate(source: source)
            return c
        }
    }

    /// The configuration from GGUF metadata; `general.architecture` must name this architecture.
    static func configuration(gguf: GGUFFile) throws -> ModelConfiguration {
        let identifier = gguf.string("general.architecture") ?? schema.defaultModelType
        let architecture = try member(identifier, key: "general.architecture", source: gguf.path)
        let c = try configuration(try CommonConfiguration(gguf: gguf, architecture: architecture, schema: schema), gguf: gguf)
        try c.validate(source: gguf.path)
        return c
    }

    /// The architecture `identifier` names, refused unless this definition is the one for it.
    private static func member(_ identifier: String, key: String, source: String) throws -> ModelArchitecture {
        let architecture = try ModelArchitecture(identifier: identifier, source: source)
        guard ObjectIdentifier(architecture.definition) == ObjectIdentifier(Self.self) else {
            throw ModelError.invalidInput("\(source): \(key) '\(identifier)' is not a \(schema.name) model")
        }
        return architecture
    }

    /// A Hugging Face config.json for `configuration`, with weights stored as `dtype` (e.g. "bfloat16").
    static func configJSON(_ configuration: ModelConfiguration, dtype: String) throws -> Data {
        var w = ConfigWriter()
        CommonConfiguration.write(configuration, schema: schema, dtype: dtype, to: &w)
        write(configuration, to: &w)
        return try ConfigJSON.encode(w)
    }
}

extension ModelArchitecture {
    var definition: ArchitectureDefinition.Type {
        switch self {
        case .llama: return LlamaArchitecture.self
        case .qwen2, .qwen3: return QwenArchitecture.self
        case .gemma2: return Gemma2Architecture.self
        case .gemma3: return Gemma3Architecture.self
        }
    }
}
