import TensorKit

extension Tokenizer {
    /// llama.cpp's name for the split of a byte-level BPE: `tokenizer.ggml.pre` selects llama.cpp's
    /// pre-tokenizer by name. (llama.cpp's converter finds the name by hashing the tokens of a test text and
    /// looking the hash up in a table of known models; many names share one split. Written here is the
    /// name whose split is the one this tokenizer runs: `gpt-2` for GPT-2's, `smollm` for digits one by
    /// one then GPT-2's.)
    static func ggufPreTokenizerName(_ split: PreTokenization) -> String {
        switch split {
        case .gpt2: return "gpt-2"
        case .gpt2IndividualDigits: return "smollm"
        case .none: return "default"
        }
    }

    /// Added tokens llama.cpp's converter marks as control tokens even when the tokenizer does not call
    /// them special (`does_token_look_special`): `<pad>`, `<mask>`, `<2mass>`, `[@BOS@]`, `<|…|>`,
    /// `<｜…｜>` and `<unused…>`.
    static func looksSpecial(_ token: String) -> Bool {
        ["<pad>", "<mask>", "<2mass>", "[@BOS@]"].contains(token)
            || (token.hasPrefix("<|") && token.hasSuffix("|>"))
            || (token.hasPrefix("<\u{FF5C}") && token.hasSuffix("\u{FF5C}>"))
            || (token.hasPrefix("<unused") && token.hasSuffix(">"))
    }

    /// The `tokenizer.*` metadata of a GGUF file for this tokenizer (loaded from a Hugging Face
    /// `tokenizer.json`), as llama.cpp's converter writes it, for `vocabularySize` tokens (the embedding's
    /// rows; ids past this tokenizer's are `[PAD<id>]`, unused). `configuration` gives the special ids
    /// config.json states where the tokenizer files name none (the converter reads both, tokenizer first).
    ///
    /// * Byte-level BPE (SmolLM2, Llama 3, Qwen): `tokenizer.ggml.model` `gpt2`, `pre` (`ggufPreTokenizerName`),
    ///   `tokens` spelled as `tokenizer.json` spells them, `token_type`, `merges` as `"left right"` strings
    ///   in rank order (a space inside a piece written as U+0120, as the converter does).
    /// * SentencePiece BPE (Gemma): `llama`, pre `default`, `tokens` (user-defined ones with `▁` written as
    ///   a space), `scores`, `token_type`, no merges. The converter takes scores from `tokenizer.model`,
    ///   which `tokenizer.json` does not carry; SentencePiece scores its learned pieces −0, −1, −2, … in id
    ///   order, and that is what is written for normal tokens (−n for the n-th normal token); control and
    ///   user-defined tokens −1000 (the converter's value for added tokens), byte tokens 0, unused −10000.
    ///   llama.cpp's SentencePiece tokenizer reads the score of merged pieces only. Gemma's runs of two or
    ///   more `▁`, ordinary tokens in a vocabulary this tool wrote from a GGUF file, are user-defined tokens
    ///   stored as spaces, as in Gemma's own files.
    /// * Token types: control for special added tokens and for added tokens that look special
    ///   (`looksSpecial`), user-defined for other added tokens, byte for `<0xXX>`, unknown for the unknown
    ///   token of a SentencePiece vocabulary, unused for ids without a token, else normal.
    /// * `bos_token_id`, `eos_token_id`, `unknown_token_id`, `padding_token_id`; `add_bos_token`,
    ///   `add_eos_token` (false: this tokenizer never appends EOS), `add_space_prefix`, `chat_template` (when
    ///   the tokenizer has one).
    ///
    /// Throws, naming `source`, when the tokenizer has more tokens than `vocabularySize`.
    package func ggufMetadata(vocabularySize n: Int, configuration c: ModelConfiguration, source: String) throws -> GGUFMetadataList {
        let v = vocabulary
        guard v.tokens.count <= n else {
            throw ModelError.mismatch("\(source): the tokenizer has \(v.tokens.count) tokens, more than the model's \(n) embedding rows")
        }
        let spm = v.model == .sentencePieceBPE
        let gemma = spm && v.family.lowercased().hasPrefix("gemma")
        var tokens: [GGUFValue] = []
        var types: [GGUFValue] = []
        var scores: [GGUFValue] = []
        tokens.reserveCapacity(n)
        types.reserveCapacity(n)
        if spm { scores.reserveCapacity(n) }
        var normalRank = 0
        for i in 0..<n {
            var token = i < v.tokens.count ? v.tokens[i] : ""
            var type = i < v.types.count ? v.types[i] : .unused
            if token.isEmpty && type == .unused { token = "[PAD\(i)]" }
            if type == .userDefined && Self.looksSpecial(token) { type = .control }
            if gemma && type == .normal && token.unicodeScalars.count >= 2 && token.unicodeScalars.allSatisfy({ $0 == "\u{2581}" }) {
                type = .userDefined
            }
            if type == .userDefined { token = token.replacingOccurrences(of: "\u{2581}", with: " ") }
            if spm && type == .normal && i == v.unknownTokenID { type = .unknown }
            tokens.append(.string(token))
            types.append(.int32(Int32(type.rawValue)))
            guard spm else { continue }
            switch type {
            case .normal:
                scores.append(.float32(-Float(normalRank)))
                normalRank += 1
            case .control, .userDefined: scores.append(.float32(-1000))
            case .byte, .unknown: scores.append(.float32(0))
            case .unused: scores.append(.float32(-10000))
            }
        }

        var m = GGUFMetadataList()
        m.set("tokenizer.ggml.model", .string(spm ? "llama" : "gpt2"))
        m.set("tokenizer.ggml.pre", .string(Self.ggufPreTokenizerName(v.preTokenization)))
        m.set("tokenizer.ggml.tokens", .array(tokens))
        if spm { m.set("tokenizer.ggml.scores", .array(scores)) }
        m.set("tokenizer.ggml.token_type", .array(types))
        if !spm {
            let pairs = v.merges ?? mergePairs.map { (v.tokens[Int($0.0)], v.tokens[Int($0.1)]) }
            func spelled(_ piece: String) -> String { piece.replacingOccurrences(of: " ", with: "\u{0120}") }
            m.set("tokenizer.ggml.merges", .array(pairs.map { .string(spelled($0.0) + " " + spelled($0.1)) }))
        }
        let ids: [(String, Int?)] = [
            ("bos_token_id", v.bosTokenID ?? c.bosTokenID), ("eos_token_id", v.eosTokenID ?? c.eosTokenIDs.first),
            ("unknown_token_id", v.unknownTokenID), ("padding_token_id", v.paddingTokenID ?? c.padTokenID),
        ]
        for (key, id) in ids {
            guard let id else { continue }
            guard (0..<n).contains(id) else {
                throw ModelError.invalidInput("\(source): tokenizer.ggml.\(key) \(id) is outside the vocabulary of \(n)")
            }
            m.set("tokenizer.ggml.\(key)", .uint32(UInt32(id)))
        }
        m.set("tokenizer.ggml.add_bos_token", .bool(v.addBOS))
        m.set("tokenizer.ggml.add_eos_token", .bool(false))
        m.set("tokenizer.ggml.add_space_prefix", .bool(v.addSpacePrefix))
        if let template = v.chatTemplate { m.set("tokenizer.chat_template", .string(template)) }
        return m
    }
}
