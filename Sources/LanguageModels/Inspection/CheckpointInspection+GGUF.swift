import TensorKit

extension CheckpointInspection {
    /// Reads the `{arch}.*` keys llama.cpp defines (`LLM_KV_*`), and the `tokenizer.*` keys.
    static func inspectGGUF(_ gguf: GGUFFile) -> CheckpointInspection {
        let tensors = gguf.tensorInfos.map {
            TensorEntry(name: $0.name, type: $0.type.name, shape: $0.shape, bytes: $0.byteCount)
        }
        var result = CheckpointInspection(path: gguf.path, format: .gguf, tensors: tensors)
        result.formatVersion = Int(gguf.version)
        let arch = gguf.string("general.architecture")
        result.architecture = arch
        result.modelName = gguf.string("general.name")
        result.tokenizer = gguf.string("tokenizer.ggml.model")
        result.hasChatTemplate = gguf.string("tokenizer.chat_template") != nil

        let prefix = arch.map { $0 + "." } ?? ""
        /// An integer, or the largest entry of a per-layer array (some architectures vary it per layer).
        func count(_ key: String) -> Int? {
            gguf.int(prefix + key) ?? gguf.ints(prefix + key)?.max()
        }
        var h = HyperParameters()
        h.layers = count("block_count")
        h.hiddenSize = count("embedding_length")
        h.ffnSize = count("feed_forward_length")
        h.heads = count("attention.head_count")
        h.kvHeads = count("attention.head_count_kv") ?? h.heads
        if let keyLength = count("attention.key_length") {
            h.headDim = keyLength
        } else if let hidden = h.hiddenSize, let heads = h.heads, heads > 0 {
            h.headDim = hidden / heads
        }
        h.vocabSize = count("vocab_size")
            ?? gguf.metadata["tokenizer.ggml.tokens"]?.arrayValue?.count
            ?? gguf.info("token_embd.weight")?.shape.first
        h.contextLength = count("context_length")
        h.ropeBase = double(gguf.float(prefix + "rope.freq_base"))
        h.normEpsilon = double(gguf.float(prefix + "attention.layer_norm_rms_epsilon") ?? gguf.float(prefix + "attention.layer_norm_epsilon"))
        h.slidingWindow = count("attention.sliding_window")
        result.hyperParameters = h
        return result
    }

    static func inspectSafetensorsFile(_ file: SafetensorsFile) -> CheckpointInspection {
        let tensors = file.tensorInfos.map {
            TensorEntry(name: $0.name, type: $0.dtype.rawValue, shape: $0.shape, bytes: $0.byteCount)
        }
        return CheckpointInspection(path: file.path, format: .safetensors, tensors: tensors)
    }
}
