import Foundation
import TensorKit

extension CheckpointInspection {
    /// A Hugging Face model directory: `config.json` for the architecture and hyper-parameters,
    /// safetensors weights (single or sharded), `tokenizer.json` / `tokenizer_config.json` /
    /// `chat_template.jinja` for the tokenizer.
    static func inspectHuggingFaceDirectory(_ directory: String) throws -> CheckpointInspection {
        let url = URL(fileURLWithPath: directory)
        let checkpoint = try SafetensorsCheckpoint(directory: directory)
        let tensors = checkpoint.tensorNames.compactMap(checkpoint.info).map {
            TensorEntry(name: $0.name, type: $0.dtype.rawValue, shape: $0.shape, bytes: $0.byteCount)
        }
        var result = CheckpointInspection(path: directory, format: .huggingFace, tensors: tensors)

        let configPath = url.appendingPathComponent("config.json").path
        if FileManager.default.fileExists(atPath: configPath) {
            let config = try jsonObject(at: configPath)
            let architectures = config["architectures"] as? [String]
            result.architecture = (config["model_type"] as? String) ?? architectures?.first
            result.modelName = architectures?.first
            result.hyperParameters = hyperParameters(config)
        }

        let tokenizerPath = url.appendingPathComponent("tokenizer.json").path
        if FileManager.default.fileExists(atPath: tokenizerPath) {
            // Read as the tokenizer loader reads it: a real Gemma 3 tokenizer.json is 33 MB, beyond a config's bound.
            result.tokenizer = try TokenizerJSON.parse(try InputFile.contents(tokenizerPath), name: tokenizerPath)["model"]?["type"]?.string
        }
        let tokenizerConfigPath = url.appendingPathComponent("tokenizer_config.json").path
        if FileManager.default.fileExists(atPath: tokenizerConfigPath),
           try jsonObject(at: tokenizerConfigPath)["chat_template"] != nil {
            result.hasChatTemplate = true
        }
        for name in ["chat_template.jinja", "chat_template.json"]
        where FileManager.default.fileExists(atPath: url.appendingPathComponent(name).path) {
            result.hasChatTemplate = true
        }
        return result
    }

    /// Hyper-parameters from config.json keys (with the GPT-2 style aliases), looking into
    /// `text_config` first for multimodal configs, and `rope_parameters` (transformers ≥ 5) for the RoPE base.
    static func hyperParameters(_ root: [String: Any]) -> HyperParameters {
        let scopes = [root["text_config"] as? [String: Any], root].compactMap { $0 }
        func value(_ keys: [String]) -> Any? {
            for scope in scopes {
                for key in keys {
                    if let v = scope[key], !(v is NSNull) { return v }
                }
            }
            return nil
        }
        func int(_ keys: String...) -> Int? { (value(keys) as? NSNumber)?.intValue }
        func double(_ keys: String...) -> Double? { (value(keys) as? NSNumber)?.doubleValue }

        var h = HyperParameters()
        h.layers = int("num_hidden_layers", "n_layer", "num_layers")
        h.hiddenSize = int("hidden_size", "n_embd", "d_model")
        h.ffnSize = int("intermediate_size", "n_inner", "ffn_dim")
        h.heads = int("num_attention_heads", "n_head")
        h.kvHeads = int("num_key_value_heads") ?? h.heads
        h.headDim = int("head_dim") ?? {
            guard let hidden = h.hiddenSize, let heads = h.heads, heads > 0 else { return nil }
            return hidden / heads
        }()
        h.vocabSize = int("vocab_size")
        h.contextLength = int("max_position_embeddings", "n_positions")
        h.ropeBase = double("rope_theta")
            ?? ((value(["rope_parameters"]) as? [String: Any])?["rope_theta"] as? NSNumber)?.doubleValue
        h.normEpsilon = double("rms_norm_eps", "layer_norm_eps", "layer_norm_epsilon")
        h.slidingWindow = int("sliding_window")
        return h
    }

    static func jsonObject(at path: String) throws -> [String: Any] {
        let data: Data
        do { data = Data(try InputFile.contents(path, maxBytes: ModelConfiguration.maxConfigFileBytes)) } catch {
            throw ModelError.invalidInput("\(path): cannot read: \(error)")
        }
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw ModelError.invalidInput("\(path): not a JSON object")
        }
        return object
    }
}
