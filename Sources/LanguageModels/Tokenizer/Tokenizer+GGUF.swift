import TensorKit

extension Tokenizer {
    /// The tokenizer a GGUF file describes (`tokenizer.ggml.*`, `tokenizer.chat_template`), built the way
    /// Hugging Face transformers builds it from the same file:
    /// - `gpt2`: byte-level BPE with the file's merges; tokens outside GPT-2's alphabet are respelled as
    ///   their bytes; the split follows `tokenizer.ggml.pre` (`smollm`: digits one by one).
    /// - `llama`: SentencePiece BPE with byte fallback; merges from the file, else derived from the
    ///   vocabulary, ranked by score, or for Gemma by token order (Gemma's scores are not its merge order);
    ///   Gemma's runs of spaces, stored as real spaces, are respelled `▁▁...` and are ordinary tokens.
    /// Control tokens become special tokens and user-defined ones added tokens, both matched whole.
    public static func load(gguf file: GGUFFile) throws -> Tokenizer {
        try Tokenizer(vocabulary: vocabulary(gguf: file))
    }

    /// `load(gguf:)` from a path.
    public static func load(ggufPath path: String) throws -> Tokenizer {
        try load(gguf: GGUFFile(path: path))
    }

    /// The tokenizer of a model path: a Hugging Face directory (`load(directory:)`) or a GGUF file
    /// (`load(ggufPath:)`). Throws naming the path when nothing is there.
    public static func load(path: String) throws -> Tokenizer {
        try ModelPath.isDirectory(path) ? load(directory: path) : load(ggufPath: path)
    }

    public static func vocabulary(gguf file: GGUFFile) throws -> TokenizerVocabulary {
        let name = file.path
        guard let kind = file.string("tokenizer.ggml.model") else {
            throw ModelError.invalidInput("\(name): tokenizer.ggml.model missing")
        }
        guard var tokens = file.strings("tokenizer.ggml.tokens"), !tokens.isEmpty else {
            throw ModelError.invalidInput("\(name): tokenizer.ggml.tokens missing or empty")
        }
        let n = tokens.count
        var types = [TokenType](repeating: .normal, count: n)
        if let raw = file.ints("tokenizer.ggml.token_type") {
            guard raw.count == n else {
                throw ModelError.invalidInput("\(name): tokenizer.ggml.token_type has \(raw.count) entries for \(n) tokens")
            }
            types = raw.map { TokenType(rawValue: $0) ?? .normal }
        }
        let family = file.string("general.architecture") ?? ""
        let merges: [(String, String)]? = try file.strings("tokenizer.ggml.merges").map { lines in
            try lines.map { line in
                guard let space = line.firstIndex(of: " ") else {
                    throw ModelError.invalidInput("\(name): tokenizer.ggml.merges entry '\(line)' has no space")
                }
                return (String(line[..<space]), String(line[line.index(after: space)...]))
            }
        }
        let pre = file.string("tokenizer.ggml.pre")
        let model: TokenizerModel
        let split: PreTokenization
        var priority: [Float]?
        var addSpacePrefix = false
        switch kind {
        case "gpt2":
            model = .byteLevelBPE
            switch pre ?? "default" {
            case "smollm": split = .gpt2IndividualDigits
            case "default", "gpt-2", "gpt2": split = .gpt2
            default:
                throw ModelError.unsupported("\(name): tokenizer.ggml.pre '\(pre!)' (supported: smollm, gpt-2, default)")
            }
            guard merges != nil else { throw ModelError.invalidInput("\(name): tokenizer.ggml.merges missing for a gpt2 vocabulary") }
            for i in 0..<n where !tokens[i].unicodeScalars.allSatisfy({ ByteLevelAlphabet.byte(of: $0) != nil }) {
                tokens[i] = ByteLevelAlphabet.spell(tokens[i].utf8)
            }
        case "llama":
            model = .sentencePieceBPE
            split = .none
            let gemma = family.lowercased().hasPrefix("gemma")
            addSpacePrefix = file.bool("tokenizer.ggml.add_space_prefix") ?? !gemma
            if gemma {
                for i in 0..<n where tokens[i].contains(" ") && tokens[i].unicodeScalars.allSatisfy(\.properties.isWhitespace) {
                    tokens[i] = String(repeating: "\u{2581}", count: tokens[i].unicodeScalars.count)
                    types[i] = .normal
                }
                priority = (0..<n).map { -Float($0) }
            } else if merges == nil {
                guard let scores = file.floats("tokenizer.ggml.scores"), scores.count == n else {
                    throw ModelError.invalidInput("\(name): tokenizer.ggml.scores missing or not one per token")
                }
                priority = scores
            }
        default:
            throw ModelError.unsupported("\(name): tokenizer.ggml.model '\(kind)' (supported: gpt2, llama)")
        }
        func id(_ key: String) throws -> Int? {
            guard let v = file.int(key) else { return nil }
            guard (0..<n).contains(v) else { throw ModelError.invalidInput("\(name): \(key) = \(v) outside vocabulary of \(n)") }
            return v
        }
        return TokenizerVocabulary(
            model: model, preTokenization: split, tokens: tokens, types: types,
            merges: merges, mergePriority: priority,
            bosTokenID: try id("tokenizer.ggml.bos_token_id"), eosTokenID: try id("tokenizer.ggml.eos_token_id"),
            unknownTokenID: try id("tokenizer.ggml.unknown_token_id"), paddingTokenID: try id("tokenizer.ggml.padding_token_id"),
            addBOS: file.bool("tokenizer.ggml.add_bos_token") ?? (kind == "llama"),
            addSpacePrefix: addSpacePrefix,
            chatTemplate: file.string("tokenizer.chat_template"), family: family)
    }
}
