/// An architecture's config.json conventions and defaults (transformers' own for absent keys).
struct ConfigSchema: Sendable {
    /// The family's name in errors ("Qwen"), and the `model_type` assumed when config.json has none.
    var name: String
    var defaultModelType: String
    struct Defaults: Sendable {
        var vocabSize: Int, hiddenSize: Int, intermediateSize: Int, layerCount: Int, headCount: Int
        var kvHeadCount: Int? = nil
        var headDim: Int? = nil
        var contextLength: Int
        var rmsNormEpsilon: Double = 1e-6
        var ropeTheta: Double = 10000
        var tieWordEmbeddings = false
        var bosTokenID: Int? = nil
        var eosTokenIDs: JSONValue? = nil
        var padTokenID: Int? = nil
    }
    var defaults: Defaults
    /// The key naming the MLP activation, and the activations the runtime implements (the first is written).
    var activationKey = "hidden_act"
    var activations = ["silu"]
    /// `rope_parameters` is split by layer type (`full_attention`, `sliding_attention`).
    var ropeParametersByLayerType = false
    /// A multimodal checkpoint of this `model_type` nests the text model's settings in `text_config`.
    var multimodalModelType: String? = nil
    /// GGUF keys (after `ARCH.`) giving the head dim, first present wins; else `defaults.headDim`, else hidden / heads.
    var ggufHeadDimKeys = ["attention.key_length"]
    /// GGUF defaults where they differ from config.json's.
    var ggufContextLength: Int
    var ggufRMSNormEpsilon: Float = 1e-6
}
