import TensorKit

/// Reading a model's GGUF metadata with errors that name the key.
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
