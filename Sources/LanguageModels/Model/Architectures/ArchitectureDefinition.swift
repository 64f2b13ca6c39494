import Foundation
import TensorKit

/// What differs between architectures, gathered in one place per architecture file
/// (`Llama.swift`, `Qwen.swift`, `Gemma3.swift`); the forward pass reads only this and
/// `ModelConfiguration`.
protocol ArchitectureDefinition {
    /// The configuration from GGUF metadata (`general.architecture` already checked).
    static func configuration(gguf: GGUFFile) throws -> ModelConfiguration
    /// The configuration from a config.json.
    static func configuration(json: Data, source: String) throws -> ModelConfiguration
    /// A Hugging Face config.json for `configuration`, with weights stored as `dtype` (e.g. "bfloat16").
    static func configJSON(_ configuration: ModelConfiguration, dtype: String) throws -> Data
    /// Hugging Face name of each GGUF block tensor, by suffix after `blk.N.`.
    static var blockTensorNames: [(gguf: String, hf: String)] { get }
    /// llama.cpp's converter permuted the rows of Q and K (for its interleaved RoPE).
    static var ggufPermutesQueryKey: Bool { get }
    static var recipe: BlockRecipe { get }
}

/// The shape of a decoder block and its surroundings.
struct BlockRecipe: Sendable {
    enum Activation: Sendable { case silu, geluTanh }
    /// Norm weights are used as (1 + w) in Hugging Face's convention (Gemma).
    var normPlusOne: Bool
    /// Attention and MLP outputs are normalized before the residual add (Gemma 3's four norms).
    var sandwichNorms: Bool
    var activation: Activation
    /// Embeddings multiplied by √hidden (Gemma).
    var scaleEmbeddings: Bool
    /// HF name of the norm before the MLP.
    var preFeedForwardNorm: String
}

extension ModelArchitecture {
    var definition: ArchitectureDefinition.Type {
        switch self {
        case .llama: return LlamaArchitecture.self
        case .qwen2, .qwen3: return QwenArchitecture.self
        case .gemma3: return Gemma3Architecture.self
        }
    }

    /// The Hugging Face tensor names a model of this configuration must have, in model order.
    func tensorNames(_ c: ModelConfiguration) -> [String] {
        var names = ["model.embed_tokens.weight"]
        for i in 0..<c.layerCount {
            for (_, hf) in definition.blockTensorNames {
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
        guard let pair = definition.blockTensorNames.first(where: { $0.hf == suffix }) else { return nil }
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

/// The llama.cpp converter's Q/K permutation, undone on rows.
///
/// The converter reshapes a weight (rows = heads·d) to (heads, 2, d/2, in), swaps axes 1 and 2
/// and flattens back: Hugging Face row h·d + s·d/2 + r sits at GGUF row h·d + 2r + s.
enum QueryKeyPermutation {
    /// For each Hugging Face row, the GGUF row holding it.
    static func ggufRowForHFRow(rows: Int, heads: Int) -> [Int] {
        let d = rows / heads, half = d / 2
        var map = [Int](repeating: 0, count: rows)
        for h in 0..<heads {
            for s in 0..<2 {
                for r in 0..<half { map[h * d + s * half + r] = h * d + 2 * r + s }
            }
        }
        return map
    }
}

/// A JSON value, for the loosely typed parts of config.json (rope settings, token ids).
enum JSONValue: Codable, Equatable, Sendable {
    case number(Double), string(String), bool(Bool), array([JSONValue]), object([String: JSONValue]), null

    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let d = try? c.decode(Double.self) { self = .number(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }

    func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .number(let d):
            if d == d.rounded(), abs(d) < 1e15 { try c.encode(Int(d)) } else { try c.encode(d) }
        case .string(let s): try c.encode(s)
        case .bool(let b): try c.encode(b)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        case .null: try c.encodeNil()
        }
    }

    var double: Double? { if case .number(let d) = self { return d } else { return nil } }
    var string: String? { if case .string(let s) = self { return s } else { return nil } }
    var object: [String: JSONValue]? { if case .object(let o) = self { return o } else { return nil } }
    /// Token ids the way config.json writes eos_token_id: one id as a number, several as an array.
    static func tokenIDs(_ ids: [Int]) -> JSONValue {
        ids.count == 1 ? .number(Double(ids[0])) : .array(ids.map { .number(Double($0)) })
    }

    /// An int, or the ints of an array (eos_token_id may be either); the inverse of `tokenIDs`.
    /// Numbers that are not integers an `Int` holds are left out.
    var ints: [Int] {
        switch self {
        case .number(let d): return Int(exactly: d).map { [$0] } ?? []
        case .array(let a): return a.compactMap { $0.double.flatMap { Int(exactly: $0) } }
        default: return []
        }
    }
}

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

    /// RoPE scaling from GGUF metadata (`ARCH.rope.scaling.type`, `.factor`).
    static func scaling(gguf: GGUFFile, prefix: String) -> RoPEScaling {
        guard let type = gguf.string("\(prefix).rope.scaling.type"), type == "linear",
              let factor = gguf.float("\(prefix).rope.scaling.factor"), factor != 1 else { return .none }
        return .linear(factor: Double(factor))
    }
}

/// Reading required GGUF metadata with errors that name the key.
extension GGUFFile {
    func requiredInt(_ key: String) throws -> Int {
        guard let v = int(key) else {
            throw ModelError.invalidInput("\(path): metadata key '\(key)' is missing or not an integer")
        }
        return v
    }

    /// Token ids from the tokenizer metadata.
    var bosTokenID: Int? { int("tokenizer.ggml.bos_token_id") }
    var eosTokenID: Int? { int("tokenizer.ggml.eos_token_id") }
    var padTokenID: Int? { int("tokenizer.ggml.padding_token_id") }

    /// The vocabulary size: `ARCH.vocab_size`, else the token list, else the embedding rows.
    func vocabularySize(prefix: String) throws -> Int {
        if let v = int("\(prefix).vocab_size") { return v }
        if let tokens = metadata["tokenizer.ggml.tokens"], case .array(let a) = tokens { return a.count }
        return try tensor("token_embd.weight").shape.first ?? 0
    }
}

/// Encoding helpers for config.json.
enum ConfigJSON {
    static func encode<T: Encodable>(_ value: T) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(value)
    }

    static func decode<T: Decodable>(_ type: T.Type, from data: Data, source: String) throws -> T {
        do {
            return try JSONDecoder().decode(type, from: data)
        } catch let DecodingError.keyNotFound(key, _) {
            throw ModelError.invalidInput("\(source): key '\(key.stringValue)' is missing")
        } catch let DecodingError.typeMismatch(_, context) {
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            throw ModelError.invalidInput("\(source): key '\(path)' has the wrong type")
        } catch {
            throw ModelError.invalidInput("\(source): cannot parse: \(ErrorText.message(error))")
        }
    }
}
