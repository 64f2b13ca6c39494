import Foundation

/// Text ⇄ token ids, exactly as the model's Hugging Face tokenizer does it.
///
/// `encode` first cuts out added tokens (control and user-defined, leftmost-longest on the raw text), then
/// for each stretch of plain text: byte-level BPE spells UTF-8 bytes in GPT-2's alphabet, splits words with
/// the family's pre-tokenizer and merges each word; SentencePiece BPE writes spaces as `▁`, keeps the stretch
/// as one word, starts from one symbol per character (unknown characters fall back to `<0xXX>` bytes) and
/// merges. `encode` never adds BOS; `encode(_:addSpecialTokens:)` adds it where the model wants it.
public final class Tokenizer: @unchecked Sendable {
    public let vocabulary: TokenizerVocabulary
    public var bosTokenID: Int? { vocabulary.bosTokenID }
    public var eosTokenID: Int? { vocabulary.eosTokenID }
    public var vocabularySize: Int { vocabulary.tokens.count }
    /// Tokens that end an assistant turn: EOS and the family's end-of-turn markers present in the vocabulary.
    public let endOfTurnTokenIDs: Set<Int>
    /// The ids of control (special) tokens.
    public let specialTokenIDs: Set<Int>
    /// The model's chat template, or its family's standard format when it ships none.
    public let chatTemplate: ChatTemplate

    /// Token id by the token's UTF-8 bytes. (Not by `String`: Swift strings compare by canonical
    /// equivalence, which would merge distinct tokens such as a precomposed and a decomposed `é`.)
    private let tokenIDs: [[UInt8]: Int32]
    private let merges: BPEMerges
    /// The merges as id pairs in rank order (what `tokenizer.json` writes).
    let mergePairs: [(Int32, Int32)]
    private let added: AddedTokenMatcher
    /// Byte-level: the id of the one-character token spelling each byte.
    private let byteSymbol: [Int32]
    /// SentencePiece: ids of single-scalar tokens, and of the `<0xXX>` byte tokens.
    private let scalarSymbol: [UInt32: Int32]
    private let byteFallback: [Int32]
    private let cache = WordCache()

    public init(vocabulary v: TokenizerVocabulary) throws {
        let n = v.tokens.count
        guard n > 0, n < Int(Int32.max) else {
            throw ModelError.invalidInput("tokenizer: vocabulary has \(n) tokens")
        }
        guard v.types.count == n else {
            throw ModelError.invalidInput("tokenizer: \(v.types.count) token types for \(n) tokens")
        }
        for (name, id) in [("bos", v.bosTokenID), ("eos", v.eosTokenID), ("unknown", v.unknownTokenID)] {
            if let id, !(0..<n).contains(id) {
                throw ModelError.invalidInput("tokenizer: \(name) token id \(id) outside vocabulary of \(n)")
            }
        }
        vocabulary = v
        var ids = [[UInt8]: Int32](minimumCapacity: n)
        for (i, t) in v.tokens.enumerated() { ids[Array(t.utf8)] = Int32(i) }   // the last spelling wins, as in HF
        tokenIDs = ids

        // Added tokens: control ones are special; user-defined ones are matched whole but not special.
        var matcher = AddedTokenMatcher()
        var special = Set<Int>()
        for (i, type) in v.types.enumerated() where type == .control || type == .userDefined {
            let content = v.tokens[i]
            if v.model == .byteLevelBPE && type == .control
                && !content.unicodeScalars.allSatisfy({ ByteLevelAlphabet.byte(of: $0) != nil }) { continue }
            if content.isEmpty { continue }
            matcher.insert(content, id: i)
            if type == .control { special.insert(i) }
        }
        added = matcher
        specialTokenIDs = special

        var bytes = [Int32](repeating: -1, count: 256)
        var scalars: [UInt32: Int32] = [:]
        var fallback = [Int32](repeating: -1, count: 256)
        switch v.model {
        case .byteLevelBPE:
            for b in 0..<256 { bytes[b] = ids[Array(String(ByteLevelAlphabet.scalar[b]).utf8)] ?? -1 }
        case .sentencePieceBPE:
            for (i, t) in v.tokens.enumerated() {
                let us = t.unicodeScalars
                if us.count == 1, v.types[i] != .control { scalars[us.first!.value] = Int32(i) }
                if v.types[i] == .byte || (t.count == 6 && t.hasPrefix("<0x") && t.hasSuffix(">")),
                   let b = UInt8(t.dropFirst(3).prefix(2), radix: 16), fallback[Int(b)] < 0 {
                    fallback[Int(b)] = Int32(i)
                }
            }
        }
        byteSymbol = bytes
        scalarSymbol = scalars
        byteFallback = fallback
        (merges, mergePairs) = try Tokenizer.buildMerges(v, ids)

        var eot = Set<Int>()
        if let e = v.eosTokenID { eot.insert(e) }
        for marker in ["<|im_end|>", "<end_of_turn>", "<|eot_id|>", "<|end|>", "<|endoftext|>"] {
            if let id = ids[Array(marker.utf8)], special.contains(Int(id)) { eot.insert(Int(id)) }
        }
        endOfTurnTokenIDs = eot

        let token: (Int?) -> String = { id in id.map { v.tokens[$0] } ?? "" }
        chatTemplate = try ChatTemplate(
            source: v.chatTemplate ?? ChatTemplate.standardFormat(family: v.family, model: v.model),
            bosToken: token(v.bosTokenID), eosToken: token(v.eosTokenID),
            unknownToken: token(v.unknownTokenID), paddingToken: token(v.paddingTokenID))
    }

    /// Merge ranks keyed by id pairs: the given merges in order, or Hugging Face's `generate_merges` over
    /// the vocabulary: every split of a token into two tokens, ordered by the token's priority (higher
    /// first), then longer left piece, longer right piece, token index, left id, right id.
    private static func buildMerges(_ v: TokenizerVocabulary, _ ids: [[UInt8]: Int32]) throws
        -> (BPEMerges, [(Int32, Int32)]) {
        var table = BPEMerges()
        var pairs: [(Int32, Int32)] = []
        if let given = v.merges {
            for (l, r) in given {
                let lb = Array(l.utf8), rb = Array(r.utf8)
                guard let a = ids[lb], let b = ids[rb], let m = ids[lb + rb] else { continue }
                table.add(left: a, right: b, merged: m, rank: pairs.count)
                pairs.append((a, b))
            }
            return (table, pairs)
        }
        guard let priority = v.mergePriority, priority.count == v.tokens.count else {
            throw ModelError.invalidInput("tokenizer: neither merges nor per-token scores to derive them")
        }
        struct Candidate { var priority: Float; var leftLength: Int32; var rightLength: Int32
                           var token: Int32; var left: Int32; var right: Int32 }
        var candidates: [Candidate] = []
        candidates.reserveCapacity(v.tokens.count * 4)
        for (t, s) in v.tokens.enumerated() {
            let bytes = Array(s.utf8)
            // byte offsets of scalar boundaries (splits are between scalars, as Python slices strings)
            var cuts: [Int] = []
            for (o, byte) in bytes.enumerated() where o > 0 && byte & 0xC0 != 0x80 { cuts.append(o) }
            let scalars = cuts.count + 1
            for (k, cut) in cuts.enumerated() {
                guard let a = ids[Array(bytes[..<cut])], let b = ids[Array(bytes[cut...])] else { continue }
                candidates.append(Candidate(priority: priority[t], leftLength: Int32(k + 1),
                                            rightLength: Int32(scalars - k - 1), token: Int32(t), left: a, right: b))
            }
        }
        candidates.sort { x, y in
            if x.priority != y.priority { return x.priority > y.priority }
            if x.leftLength != y.leftLength { return x.leftLength > y.leftLength }
            if x.rightLength != y.rightLength { return x.rightLength > y.rightLength }
            if x.token != y.token { return x.token < y.token }
            if x.left != y.left { return x.left < y.left }
            return x.right < y.right
        }
        pairs.reserveCapacity(candidates.count)
        for (rank, c) in candidates.enumerated() {
            table.add(left: c.left, right: c.right, merged: ids[Array(v.tokens[Int(c.token)].utf8)]!, rank: rank)
            pairs.append((c.left, c.right))
        }
        return (table, pairs)
    }

    // MARK: - Encoding

    /// Token ids of `text`, special tokens in the text matched, no BOS added.
    public func encode(_ text: String) -> [Int] {
        var utf8 = Array(text.utf8)
        var out: [Int] = []
        out.reserveCapacity(utf8.count / 3 + 1)
        utf8.withUnsafeBufferPointer { bytes in
            let segments: [AddedTokenMatcher.Segment] =
                added.isEmpty ? (bytes.isEmpty ? [] : [.text(0..<bytes.count)]) : added.segments(bytes)
            for segment in segments {
                switch segment {
                case .token(let id): out.append(id)
                case .text(let range):
                    let slice = UnsafeBufferPointer(rebasing: bytes[range])
                    switch vocabulary.model {
                    case .byteLevelBPE: encodeByteLevel(slice, into: &out)
                    case .sentencePieceBPE: encodeSentencePiece(slice, into: &out)
                    }
                }
            }
        }
        utf8.removeAll()
        return out
    }

    /// Token ids of `text`, with BOS in front when the model adds one (`add_bos_token`) and the text
    /// does not already begin with it: never a doubled BOS.
    public func encode(_ text: String, addSpecialTokens: Bool) -> [Int] {
        var ids = encode(text)
        if addSpecialTokens, vocabulary.addBOS, let bos = bosTokenID, ids.first != bos { ids.insert(bos, at: 0) }
        return ids
    }

    private func encodeByteLevel(_ bytes: UnsafeBufferPointer<UInt8>, into out: inout [Int]) {
        // Scalars and the byte offset where each begins.
        var scalars: [Unicode.Scalar] = []
        var offsets: [Int] = []
        scalars.reserveCapacity(bytes.count)
        offsets.reserveCapacity(bytes.count + 1)
        var offset = 0
        for s in String(decoding: bytes, as: UTF8.self).unicodeScalars {
            scalars.append(s); offsets.append(offset); offset += UTF8.width(s)
        }
        offsets.append(offset)
        let words = PreTokenizer.split(scalars, kind: vocabulary.preTokenization)
        for w in words {
            let word = UnsafeBufferPointer(rebasing: bytes[offsets[w.lowerBound]..<offsets[w.upperBound]])
            if let hit = cache.get(word) { for id in hit { out.append(Int(id)) }; continue }
            var symbols = [Int32](unsafeUninitializedCapacity: word.count) { b, c in
                for i in 0..<word.count { b[i] = byteSymbol[Int(word[i])] }; c = word.count }
            merges.apply(&symbols)
            for id in symbols where id >= 0 { out.append(Int(id)) }
            cache.put(word, symbols)
        }
    }

    /// One stretch of text between added tokens. With `addSpacePrefix` every stretch gets its own `▁` in
    /// front, as Hugging Face's `Prepend` normalizer runs on each piece the added tokens leave (and as
    /// llama.cpp prefixes the text after a special token): `<s>[INST]` is `<s>`, `▁[INST]`.
    private func encodeSentencePiece(_ bytes: UnsafeBufferPointer<UInt8>, into out: inout [Int]) {
        var symbols: [Int32] = []
        symbols.reserveCapacity(bytes.count + 1)
        let space: Unicode.Scalar = "\u{2581}"
        let unknown = Int32(vocabulary.unknownTokenID ?? -1)
        func push(_ s: Unicode.Scalar) {
            if let id = scalarSymbol[s.value] { symbols.append(id); return }
            var ok = true
            var fallbacks: [Int32] = []
            for b in String(s).utf8 { let id = byteFallback[Int(b)]; if id < 0 { ok = false }; fallbacks.append(id) }
            if ok { symbols.append(contentsOf: fallbacks); return }
            if unknown >= 0 && symbols.last != unknown { symbols.append(unknown) }   // fuse_unk
        }
        if vocabulary.addSpacePrefix { push(space) }
        for s in String(decoding: bytes, as: UTF8.self).unicodeScalars {
            push(s == " " ? space : s)
        }
        if vocabulary.preTokenization == .none {
            merges.apply(&symbols)
        }
        for id in symbols { out.append(Int(id)) }
    }

    // MARK: - Decoding

    /// The token string of an id as the vocabulary spells it (`Ġ`, `▁`, `<0x0A>`), or nil.
    public func token(_ id: Int) -> String? {
        vocabulary.tokens.indices.contains(id) ? vocabulary.tokens[id] : nil
    }

    /// The id of a token string, or nil.
    public func id(ofToken token: String) -> Int? { tokenIDs[Array(token.utf8)].map(Int.init) }

    /// The text of token ids; ids outside the vocabulary are skipped, invalid UTF-8 becomes U+FFFD.
    public func decode(_ ids: [Int], skipSpecialTokens: Bool = false) -> String {
        let kept = ids.filter { vocabulary.tokens.indices.contains($0) && !(skipSpecialTokens && specialTokenIDs.contains($0)) }
        switch vocabulary.model {
        case .byteLevelBPE:
            var bytes: [UInt8] = []
            for id in kept { bytes.append(contentsOf: ByteLevelAlphabet.bytes(of: vocabulary.tokens[id])) }
            return String(decoding: bytes, as: UTF8.self)
        case .sentencePieceBPE:
            var text = ""
            var pending: [UInt8] = []
            func flush() {
                if pending.isEmpty { return }
                if let s = String(validating: pending, as: UTF8.self) { text += s }
                else { text += String(repeating: "\u{FFFD}", count: pending.count) }
                pending.removeAll()
            }
            for id in kept {
                if let b = byteValue(id) { pending.append(b); continue }
                flush()
                text += vocabulary.tokens[id].replacingOccurrences(of: "\u{2581}", with: " ")
            }
            flush()
            if vocabulary.addSpacePrefix && text.hasPrefix(" ") { text.removeFirst() }
            return text
        }
    }

    /// The byte a `<0xXX>` fallback token stands for.
    private func byteValue(_ id: Int) -> UInt8? {
        guard vocabulary.model == .sentencePieceBPE else { return nil }
        let t = vocabulary.tokens[id]
        guard vocabulary.types[id] == .byte || (t.utf8.count == 6 && t.hasPrefix("<0x") && t.hasSuffix(">")) else { return nil }
        return UInt8(t.dropFirst(3).prefix(2), radix: 16)
    }

    // MARK: - Chat

    /// The chat template rendered for `messages`.
    public func renderChat(messages: [ChatMessage], addGenerationPrompt: Bool) throws -> String {
        try chatTemplate.render(messages: messages, addGenerationPrompt: addGenerationPrompt)
    }

    /// Token ids of the rendered chat: the template writes any BOS itself, so none is added.
    public func encodeChat(messages: [ChatMessage], addGenerationPrompt: Bool) throws -> [Int] {
        encode(try renderChat(messages: messages, addGenerationPrompt: addGenerationPrompt))
    }
}

/// Per-word BPE results of byte-level encoding (a word's merges never depend on its neighbours).
final class WordCache: @unchecked Sendable {
    private var words: [[UInt8]: [Int32]] = [:]
    private let lock = NSLock()
    private let capacity = 200_000

    func get(_ word: UnsafeBufferPointer<UInt8>) -> [Int32]? {
        let key = Array(word)
        lock.lock(); defer { lock.unlock() }
        return words[key]
    }

    func put(_ word: UnsafeBufferPointer<UInt8>, _ ids: [Int32]) {
        lock.lock(); defer { lock.unlock() }
        if words.count >= capacity { words.removeAll(keepingCapacity: true) }
        words[Array(word)] = ids
    }
}
