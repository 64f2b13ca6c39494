/// One block tensor's name after `model.layers.N.` in a Hugging Face checkpoint and after `blk.N.`
/// in a GGUF.
struct BlockTensorName: Sendable, Equatable {
    var hf: String
    var gguf: String
    init(_ hf: String, _ gguf: String) { self.hf = hf; self.gguf = gguf }
}

/// The name tables the architectures put together, in model order. Biases and q/k norms are left
/// out of a model whose configuration has none.
enum BlockTensorNames {
    static let inputNorm = [BlockTensorName("input_layernorm.weight", "attn_norm.weight")]
    static let queryKeyValue = [
        BlockTensorName("self_attn.q_proj.weight", "attn_q.weight"),
        BlockTensorName("self_attn.k_proj.weight", "attn_k.weight"),
        BlockTensorName("self_attn.v_proj.weight", "attn_v.weight"),
    ]
    static let queryKeyValueBiases = [
        BlockTensorName("self_attn.q_proj.bias", "attn_q.bias"),
        BlockTensorName("self_attn.k_proj.bias", "attn_k.bias"),
        BlockTensorName("self_attn.v_proj.bias", "attn_v.bias"),
    ]
    static let queryKeyNorms = [
        BlockTensorName("self_attn.q_norm.weight", "attn_q_norm.weight"),
        BlockTensorName("self_attn.k_norm.weight", "attn_k_norm.weight"),
    ]
    static let attentionOutput = [BlockTensorName("self_attn.o_proj.weight", "attn_output.weight")]
    /// Llama's norm between attention and MLP (Hugging Face calls it post-attention).
    static let feedForwardNorm = [BlockTensorName("post_attention_layernorm.weight", "ffn_norm.weight")]
    /// Gemma's norms between attention and MLP: the post-attention norm (applied to the attention output
    /// before the residual add) and the pre-feed-forward norm (the MLP's input).
    static let sandwichMiddleNorms = [
        BlockTensorName("post_attention_layernorm.weight", "post_attention_norm.weight"),
        BlockTensorName("pre_feedforward_layernorm.weight", "ffn_norm.weight"),
    ]
    /// Gemma's norm on the MLP output before the residual add.
    static let postFeedForwardNorm = [BlockTensorName("post_feedforward_layernorm.weight", "post_ffw_norm.weight")]
    static let gatedMLP = [
        BlockTensorName("mlp.gate_proj.weight", "ffn_gate.weight"),
        BlockTensorName("mlp.up_proj.weight", "ffn_up.weight"),
        BlockTensorName("mlp.down_proj.weight", "ffn_down.weight"),
    ]
}

extension ModelArchitecture {
    /// The Hugging Face tensor names a model of this configuration must have, in model order.
    func tensorNames(_ c: ModelConfiguration) -> [String] {
        var names = ["model.embed_tokens.weight"]
        for i in 0..<c.layerCount {
            for hf in definition.blockTensors.map(\.hf) {
                if hf.hasSuffix(".bias") && !c.attentionBias { continue }
                if hf.contains("_norm.weight") && hf.contains("self_attn") && !c.queryKeyNorm { continue }
                names.append("model.layers.\(i).\(hf)")
            }
        }
        names.append("model.norm.weight")
        if !c.tieWordEmbeddings { names.append("lm_head.weight") }
        return names
    }

    /// The GGUF name of a Hugging Face tensor name, nil when there is none.
    func ggufName(_ hfName: String) -> String? {
        switch hfName {
        case "model.embed_tokens.weight": return "token_embd.weight"
        case "model.norm.weight": return "output_norm.weight"
        case "lm_head.weight": return "output.weight"
        default: break
        }
        guard let (layer, suffix) = Self.splitLayer(hfName, prefix: "model.layers.") else { return nil }
        guard let pair = definition.blockTensors.first(where: { $0.hf == suffix }) else { return nil }
        return "blk.\(layer).\(pair.gguf)"
    }

    /// (layer, rest) for "PREFIX{layer}.rest".
    static func splitLayer(_ name: String, prefix: String) -> (Int, String)? {
        guard name.hasPrefix(prefix) else { return nil }
        let rest = name.dropFirst(prefix.count)
        guard let dot = rest.firstIndex(of: "."), let layer = Int(rest[..<dot]) else { return nil }
        return (layer, String(rest[rest.index(after: dot)...]))
    }

    /// Whether `hfName` is a norm weight (stored as 1 + w in Gemma's GGUF, used as 1 + w by Gemma).
    func isNormWeight(_ hfName: String) -> Bool {
        hfName.hasSuffix("norm.weight")
    }
}
