/// The kind of each vocabulary entry, numbered as GGUF's `tokenizer.ggml.token_type` numbers them.
public enum TokenType: Int, Sendable {
    case normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6
}

/// How raw text is cut into words before BPE runs on each word.
public enum PreTokenization: String, Sendable {
    /// GPT-2's split: `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`.
    case gpt2
    /// SmolLM's split (llama.cpp pre `smollm`, HF `Digits(individual_digits)` + `ByteLevel`):
    /// every `\p{N}` is a word of its own, and GPT-2's split runs on the text between digits.
    case gpt2IndividualDigits
    /// No split: the whole text between added tokens is one word (SentencePiece / Gemma).
    case none
}

/// The two BPE flavours a model's vocabulary can be.
public enum TokenizerModel: String, Sendable {
    /// GPT-2 byte-level BPE: every UTF-8 byte is spelled as one printable character; merges are given.
    case byteLevelBPE
    /// SentencePiece-style BPE: spaces become `▁`, unknown characters fall back to `<0xXX>` byte tokens.
    case sentencePieceBPE
}

/// Everything a tokenizer is built from, as plain arrays: what a GGUF file or a `tokenizer.json` holds.
public struct TokenizerVocabulary: Sendable {
    public var model: TokenizerModel
    public var preTokenization: PreTokenization
    /// Token strings, index = id, spelled as the format spells them (byte-level alphabet or `▁`).
    public var tokens: [String]
    public var types: [TokenType]
    /// Merges in priority order (rank 0 first), as pairs of token strings. Nil: derive from `mergePriority`.
    public var merges: [(String, String)]?
    /// Per-token merge priority (higher merges first) used to derive merges when `merges` is nil.
    public var mergePriority: [Float]?
    public var bosTokenID: Int?
    public var eosTokenID: Int?
    public var unknownTokenID: Int?
    public var paddingTokenID: Int?
    public var addBOS: Bool
    /// SentencePiece only: prepend `▁` to the text (Llama 1/2); Gemma does not.
    public var addSpacePrefix: Bool
    /// The Jinja chat template the model ships with, if any.
    public var chatTemplate: String?
    /// Family name (GGUF `general.architecture`, e.g. `llama`, `gemma3`) choosing the standard chat format.
    public var family: String

    public init(model: TokenizerModel, preTokenization: PreTokenization, tokens: [String], types: [TokenType],
                merges: [(String, String)]? = nil, mergePriority: [Float]? = nil,
                bosTokenID: Int? = nil, eosTokenID: Int? = nil, unknownTokenID: Int? = nil,
                paddingTokenID: Int? = nil, addBOS: Bool = false, addSpacePrefix: Bool = false,
                chatTemplate: String? = nil, family: String = "") {
        self.model = model
        self.preTokenization = preTokenization
        self.tokens = tokens
        self.types = types
        self.merges = merges
        self.mergePriority = mergePriority
        self.bosTokenID = bosTokenID
        self.eosTokenID = eosTokenID
        self.unknownTokenID = unknownTokenID
        self.paddingTokenID = paddingTokenID
        self.addBOS = addBOS
        self.addSpacePrefix = addSpacePrefix
        self.chatTemplate = chatTemplate
        self.family = family
    }
}
