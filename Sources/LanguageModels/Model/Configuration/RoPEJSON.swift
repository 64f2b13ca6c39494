import TensorKit

/// RoPE settings as config.json writes them (`rope_scaling` in transformers 4, `rope_parameters`
/// in transformers 5), read into the runtime's types.
enum RoPEJSON {
    /// The scaling described by a rope dict; unsupported types are refused by name.
    static func scaling(_ dict: [String: JSONValue]?, source: String) throws -> RoPEScaling {
        guard let dict else { return .none }
        let type = dict["rope_type"]?.string ?? dict["type"]?.string ?? "default"
        switch type {
        case "default": return .none
        case "linear":
            return .linear(factor: dict["factor"]?.double ?? 1)
        case "llama3":
            let original = dict["original_max_position_embeddings"]?.double ?? 8192
            guard let originalMaxPositions = Int(exactly: original),
                  (1...ModelConfiguration.maxContextLength).contains(originalMaxPositions) else {
                throw ModelError.invalidInput(
                    "\(source): rope original_max_position_embeddings \(original) is out of range (1...\(ModelConfiguration.maxContextLength))")
            }
            return .llama3(
                factor: dict["factor"]?.double ?? 8, lowFrequencyFactor: dict["low_freq_factor"]?.double ?? 1,
                highFrequencyFactor: dict["high_freq_factor"]?.double ?? 4,
                originalMaxPositions: originalMaxPositions)
        default:
            throw ModelError.unsupported("\(source): rope scaling type '\(type)' is not supported")
        }
    }

    /// The dict transformers 4 writes as `rope_scaling` (nil for none).
    static func dict(_ scaling: RoPEScaling) -> [String: JSONValue]? {
        switch scaling {
        case .none: return nil
        case .linear(let f): return ["rope_type": .string("linear"), "factor": .number(f)]
        case .llama3(let f, let lo, let hi, let orig):
            return [
                "rope_type": .string("llama3"), "factor": .number(f), "low_freq_factor": .number(lo),
                "high_freq_factor": .number(hi), "original_max_position_embeddings": .number(Double(orig)),
            ]
        }
    }

    /// RoPE scaling from GGUF metadata (`ARCH.rope.scaling.type`, `.factor`), as a `rope_scaling` dict.
    static func dict(gguf: GGUFFile, prefix: String) -> [String: JSONValue]? {
        guard let type = gguf.string("\(prefix).rope.scaling.type"), type == "linear",
              let factor = gguf.float("\(prefix).rope.scaling.factor"), factor != 1 else { return nil }
        return dict(.linear(factor: Double(factor)))
    }
}
