import Foundation
import TensorKit

/// The `ARCH.*` keys of a model as llama.cpp's converter (`convert_hf_to_gguf.py`, `TextModel.set_gguf_parameters`
/// and each model class) writes them for a Hugging Face checkpoint, and the tensors it writes, for the
/// pipeline's Hugging Face → GGUF conversion (`package` access).
///
/// Common keys, in the converter's order (`p` = `general.architecture`):
///
/// | Key | Value |
/// |---|---|
/// | `p.block_count`, `p.context_length`, `p.embedding_length`, `p.feed_forward_length` | uint32: layers, `max_position_embeddings`, hidden, intermediate |
/// | `p.attention.head_count`, `p.attention.head_count_kv` | uint32 |
/// | `p.rope.scaling.type` = `linear`, `p.rope.scaling.factor` | a linear `rope_scaling` only (Llama 3's scaling is the `rope_freqs.weight` tensor) |
/// | `p.rope.freq_base`, `p.rope.freq_base_swa` | float32: the global base; the sliding layers' base (Gemma 3) |
/// | `p.attention.layer_norm_rms_epsilon` | float32 |
/// | `p.attention.key_length`, `p.attention.value_length` | uint32 head dim, when config.json states `head_dim` (or it is not hidden / heads); see also each architecture |
///
/// then each architecture's own (`ArchitectureDefinition.ggufMetadata`). `general.*` and `tokenizer.*`
/// keys are written by the pipeline and `Tokenizer.ggufMetadata`.
extension CommonConfiguration {
    static func ggufMetadata(_ c: ModelConfiguration, statesHeadDim: Bool, to m: inout GGUFMetadataList) {
        let p = c.architecture.rawValue
        m.set("\(p).block_count", uint32: c.layerCount)
        m.set("\(p).context_length", uint32: c.maxPositionEmbeddings)
        m.set("\(p).embedding_length", uint32: c.hiddenSize)
        m.set("\(p).feed_forward_length", uint32: c.intermediateSize)
        m.set("\(p).attention.head_count", uint32: c.headCount)
        m.set("\(p).attention.head_count_kv", uint32: c.kvHeadCount)
        if case .linear(let factor) = c.ropeScaling {
            m.set("\(p).rope.scaling.type", .string("linear"))
            m.set("\(p).rope.scaling.factor", float32: factor)
        }
        m.set("\(p).rope.freq_base", float32: c.ropeTheta)
        if let local = c.localRopeTheta { m.set("\(p).rope.freq_base_swa", float32: local) }
        m.set("\(p).attention.layer_norm_rms_epsilon", .float32(c.rmsNormEpsilon))
        // The converter writes the head dim when config.json states `head_dim`; a configuration whose
        // head dim is not hidden / heads must have stated it, and llama.cpp derives it otherwise.
        if statesHeadDim || c.headDim * c.headCount != c.hiddenSize {
            m.set("\(p).attention.key_length", uint32: c.headDim)
            m.set("\(p).attention.value_length", uint32: c.headDim)
        }
    }
}

/// One tensor of a converted GGUF file.
package struct GGUFTensorSource: Sendable, Equatable {
    /// The GGUF name (`blk.3.attn_q.weight`).
    package var name: String
    /// Row-major shape as written (the GGUF dims are its reverse).
    package var shape: [Int]
    /// The Hugging Face tensor the values come from, nil for a generated tensor.
    package var hfName: String?
    /// The values of a generated tensor (`rope_freqs.weight`).
    package var values: [Float]?
}

extension LanguageModel {
    /// The `ARCH.*` keys of this model as llama.cpp's converter writes them (see `CommonConfiguration.ggufMetadata`
    /// and the architectures'), or an error naming `source` and the setting when GGUF cannot express the
    /// configuration (llama.cpp would run another model).
    package func ggufHyperparameters(source: String) throws -> GGUFMetadataList {
        var m = GGUFMetadataList()
        CommonConfiguration.ggufMetadata(configuration, statesHeadDim: try configStatesHeadDim(), to: &m)
        try configuration.architecture.definition.ggufMetadata(configuration, to: &m, source: source)
        return m
    }

    /// Whether the config.json of the directory the model was loaded from states `head_dim` (at its top,
    /// or in the `text_config` of a multimodal checkpoint); false for a GGUF source.
    func configStatesHeadDim() throws -> Bool {
        let path = (source as NSString).appendingPathComponent("config.json")
        guard try ModelPath.isDirectory(source), FileManager.default.fileExists(atPath: path) else { return false }
        let data = Data(try InputFile.contents(path, maxBytes: ModelConfiguration.maxConfigFileBytes))
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return false }
        return object["head_dim"] != nil || (object["text_config"] as? [String: Any])?["head_dim"] != nil
    }

    /// The tensors of the GGUF file in the order written: the architecture's generated tensors (Llama 3's
    /// `rope_freqs.weight`), then the model's in model order (embedding, blocks, final norm, head) under
    /// their GGUF names, each with its Hugging Face shape (the GGUF dims are its reverse). The converter
    /// writes them in the checkpoint's order; llama.cpp finds tensors by name.
    package func ggufTensors() throws -> [GGUFTensorSource] {
        let c = configuration
        var out: [GGUFTensorSource] = []
        for (name, values) in c.architecture.definition.ggufGeneratedTensors(c) {
            out.append(GGUFTensorSource(name: name, shape: [values.count], hfName: nil, values: values))
        }
        for hf in weights.names {
            guard let name = ggufTensorName(hf) else {
                throw ModelError.unsupported("\(source): tensor '\(hf)' has no GGUF name")
            }
            out.append(GGUFTensorSource(name: name, shape: try weights.shape(of: hf), hfName: hf, values: nil))
        }
        return out
    }
}
