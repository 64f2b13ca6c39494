/// The architecture families the runtime runs. Anything else is refused by name.
public enum ModelArchitecture: String, Sendable, CaseIterable, Codable {
    case llama, qwen2, qwen3, gemma2, gemma3

    /// The architecture for a GGUF `general.architecture` value or a config.json `model_type`.
    public init(identifier: String, source: String) throws {
        switch identifier {
        case "llama", "mistral": self = .llama
        case "qwen2": self = .qwen2
        case "qwen3": self = .qwen3
        case "gemma2": self = .gemma2
        case "gemma3", "gemma3_text": self = .gemma3
        default:
            throw ModelError.unsupported(
                "\(source): architecture '\(identifier)' is not supported (supported: llama, mistral, qwen2, qwen3, gemma2, gemma3)")
        }
    }

    /// The `model_type` config.json gets on export.
    var huggingFaceModelType: String { self == .gemma3 ? "gemma3_text" : rawValue }

    /// The transformers class config.json's `architectures` names on export.
    var huggingFaceClass: String {
        switch self {
        case .llama: return "LlamaForCausalLM"
        case .qwen2: return "Qwen2ForCausalLM"
        case .qwen3: return "Qwen3ForCausalLM"
        case .gemma2: return "Gemma2ForCausalLM"
        case .gemma3: return "Gemma3ForCausalLM"
        }
    }
}
