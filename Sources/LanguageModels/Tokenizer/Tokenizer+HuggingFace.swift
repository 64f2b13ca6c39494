import Foundation
import Jinja
import TensorKit

extension Tokenizer {
    // MARK: - Reading a Hugging Face directory

    /// The tokenizer of a Hugging Face model directory: `tokenizer.json` (a `BPE` model, byte-level or with
    /// byte fallback) plus `tokenizer_config.json` (BOS/EOS, `add_bos_token`, `chat_template`, or
    /// `chat_template.jinja`). Pre-tokenizers, normalizers or models outside what this tokenizer
    /// implements are an `.unsupported` error naming them.
    public static func load(directory: String) throws -> Tokenizer {
        try Tokenizer(vocabulary: vocabulary(directory: directory))
    }

    public static func vocabulary(directory: String) throws -> TokenizerVocabulary {
        let dir = URL(fileURLWithPath: directory)
        let jsonPath = dir.appendingPathComponent("tokenizer.json").path
        guard FileManager.default.fileExists(atPath: jsonPath) else {
            throw ModelError.invalidInput("\(jsonPath): cannot read: no such file")
        }
        let json = try TokenizerJSON.parse(try InputFile.contents(jsonPath), name: jsonPath)
        let config = try optionalJSONObject(dir.appendingPathComponent("tokenizer_config.json").path) ?? [:]

        guard let model = json["model"], model["type"]?.string == "BPE" else {
            throw ModelError.unsupported("\(jsonPath): model type '\(json["model"]?["type"]?.string ?? "none")' (supported: BPE)")
        }
        if model["ignore_merges"]?.bool == true {
            throw ModelError.unsupported("\(jsonPath): model.ignore_merges = true")
        }
        guard let vocab = model["vocab"]?.pairs else {
            throw ModelError.invalidInput("\(jsonPath): model.vocab missing")
        }
        var byID: [Int: String] = [:]
        for (t, v) in vocab {
            guard let id = v.int, id >= 0, id < 1 << 24 else {
                throw ModelError.invalidInput("\(jsonPath): model.vocab['\(t)'] is not a token id")
            }
            byID[id] = t
        }
        var added: [(id: Int, content: String, special: Bool)] = []
        for entry in json["added_tokens"]?.array ?? [] {
            guard let id = entry["id"]?.int, id >= 0, id < 1 << 24, let content = entry["content"]?.string else {
                throw ModelError.invalidInput("\(jsonPath): malformed added_tokens entry")
            }
            added.append((id, content, entry["special"]?.bool ?? false))
            byID[id] = content
        }
        let n = (byID.keys.max() ?? -1) + 1
        guard n > 0 else { throw ModelError.invalidInput("\(jsonPath): empty vocabulary") }
        var tokens = [String](repeating: "", count: n)
        var types = [TokenType](repeating: .unused, count: n)
        for (id, t) in byID { tokens[id] = t; types[id] = .normal }
        for a in added { types[a.id] = a.special ? .control : .userDefined }

        var merges: [(String, String)] = []
        for m in model["merges"]?.array ?? [] {
            if let pair = m.array, pair.count == 2, let l = pair[0].string, let r = pair[1].string { merges.append((l, r)) }
            else if let line = m.string, let space = line.firstIndex(of: " ") {
                merges.append((String(line[..<space]), String(line[line.index(after: space)...])))
            } else { throw ModelError.invalidInput("\(jsonPath): malformed merge entry") }
        }

        let byteFallback = model["byte_fallback"]?.bool ?? false
        let kind: TokenizerModel = byteFallback ? .sentencePieceBPE : .byteLevelBPE
        var split = PreTokenization.none
        var addSpacePrefix = false
        let pre = json["pre_tokenizer"].flatMap { $0.isNull ? nil : $0 }
        let normalizer = json["normalizer"].flatMap { $0.isNull ? nil : $0 }
        switch kind {
        case .byteLevelBPE:
            if let normalizer { throw ModelError.unsupported("\(jsonPath): normalizer \(normalizer["type"]?.string ?? "?") on a byte-level BPE") }
            split = try byteLevelSplit(pre, jsonPath)
        case .sentencePieceBPE:
            for i in 0..<n where types[i] == .normal && tokens[i].utf8.count == 6 && tokens[i].hasPrefix("<0x") && tokens[i].hasSuffix(">") {
                types[i] = .byte
            }
            addSpacePrefix = try spaceNormalizer(normalizer, jsonPath)
            if let pre {
                let type = pre["type"]?.string
                guard type == "Split", pre["pattern"]?["String"]?.string == " " else {
                    throw ModelError.unsupported("\(jsonPath): pre_tokenizer \(type ?? "?") on a SentencePiece BPE (supported: none, Split on ' ')")
                }
            }
        }

        func tokenContent(_ key: String) -> String? {
            if let s = config[key] as? String { return s }
            return (config[key] as? [String: Any])?["content"] as? String
        }
        var ids: [[UInt8]: Int] = [:]
        for (i, t) in tokens.enumerated() { ids[Array(t.utf8)] = i }
        func id(_ t: String?) -> Int? { t.flatMap { ids[Array($0.utf8)] } }
        var addBOS = config["add_bos_token"] as? Bool
        if addBOS == nil, let single = json["post_processor"]?["single"]?.array {
            addBOS = single.first?["SpecialToken"] != nil
        }
        var template = config["chat_template"] as? String
        if template == nil, let list = config["chat_template"] as? [[String: Any]] {
            template = list.first { ($0["name"] as? String) == "default" }?["template"] as? String
        }
        let templatePath = dir.appendingPathComponent("chat_template.jinja").path
        if template == nil, FileManager.default.fileExists(atPath: templatePath) {
            template = String(data: Data(try InputFile.contents(templatePath)), encoding: .utf8)
        }
        var family = ""
        if let modelConfig = try optionalJSONObject(dir.appendingPathComponent("config.json").path) {
            family = modelConfig["model_type"] as? String ?? ""
        }
        if family.isEmpty && id("<start_of_turn>") != nil { family = "gemma" }
        return TokenizerVocabulary(
            model: kind, preTokenization: split, tokens: tokens, types: types, merges: merges,
            bosTokenID: id(tokenContent("bos_token")), eosTokenID: id(tokenContent("eos_token")),
            unknownTokenID: id(tokenContent("unk_token") ?? model["unk_token"]?.string),
            paddingTokenID: id(tokenContent("pad_token")),
            addBOS: addBOS ?? false, addSpacePrefix: addSpacePrefix, chatTemplate: template, family: family)
    }

    /// The JSON object in an optional side file: nil when the file is absent or is not a JSON object;
    /// an error when something other than a regular file is there, or it cannot be read.
    private static func optionalJSONObject(_ path: String) throws -> [String: Any]? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let data = Data(try InputFile.contents(path))
        return try? JSONSerialization.jsonObject(with: data) as? [String: Any]
    }

    /// `ByteLevel(use_regex)` is GPT-2's split; `Sequence[Digits(individual), ByteLevel(use_regex)]` SmolLM's.
    private static func byteLevelSplit(_ pre: TokenizerJSON?, _ path: String) throws -> PreTokenization {
        func isByteLevel(_ p: TokenizerJSON) -> Bool {
            p["type"]?.string == "ByteLevel" && (p["use_regex"]?.bool ?? true) && !(p["add_prefix_space"]?.bool ?? false)
        }
        if let pre, isByteLevel(pre) { return .gpt2 }
        if let pre, pre["type"]?.string == "Sequence", let steps = pre["pretokenizers"]?.array, steps.count == 2,
           steps[0]["type"]?.string == "Digits", steps[0]["individual_digits"]?.bool == true, isByteLevel(steps[1]) {
            return .gpt2IndividualDigits
        }
        let described = pre.map { p -> String in
            p["type"]?.string == "Sequence"
                ? "Sequence[" + (p["pretokenizers"]?.array ?? []).map { $0["type"]?.string ?? "?" }.joined(separator: ", ") + "]"
                : (p["type"]?.string ?? "?")
        } ?? "null"
        throw ModelError.unsupported("\(path): pre_tokenizer \(described) (supported: ByteLevel, Sequence[Digits(individual_digits), ByteLevel])")
    }

    /// `Replace(' ', '▁')`, optionally after `Prepend('▁')`; returns whether `▁` is prepended.
    private static func spaceNormalizer(_ n: TokenizerJSON?, _ path: String) throws -> Bool {
        func isReplace(_ p: TokenizerJSON) -> Bool {
            p["type"]?.string == "Replace" && p["pattern"]?["String"]?.string == " " && p["content"]?.string == "\u{2581}"
        }
        if let n, isReplace(n) { return false }
        if let n, n["type"]?.string == "Sequence", let steps = n["normalizers"]?.array, steps.count == 2,
           steps[0]["type"]?.string == "Prepend", steps[0]["prepend"]?.string == "\u{2581}", isReplace(steps[1]) {
            return true
        }
        throw ModelError.unsupported("\(path): normalizer \(n?["type"]?.string ?? "null") on a SentencePiece BPE (supported: Replace(' ', '▁'), Sequence[Prepend('▁'), Replace])")
    }

    // MARK: - Writing a Hugging Face directory

    /// Writes `tokenizer.json`, `tokenizer_config.json` (chat template, BOS/EOS, `add_bos_token`) and
    /// `special_tokens_map.json` into `directory`, so transformers (and `load(directory:)`) rebuild this
    /// exact tokenizer: same ids for every text.
    public func writeHuggingFaceFiles(to directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let dir = URL(fileURLWithPath: directory)
        try AtomicFile.write(Array(tokenizerJSON().utf8), to: dir.appendingPathComponent("tokenizer.json").path)
        try AtomicFile.write(Array(tokenizerConfigJSON().utf8), to: dir.appendingPathComponent("tokenizer_config.json").path)
        try AtomicFile.write(Array(specialTokensMapJSON().utf8), to: dir.appendingPathComponent("special_tokens_map.json").path)
    }

    private func q(_ s: String) -> String { JinjaValue.jsonString(s) }

    private func tokenName(_ id: Int?) -> String? { id.flatMap { token($0) } }

    func tokenizerJSON() -> String {
        let v = vocabulary
        var out = ""
        out.reserveCapacity(v.tokens.count * 24 + mergePairs.count * 24)
        out += "{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n  \"added_tokens\": ["
        var first = true
        for (i, t) in v.types.enumerated() where specialTokenIDs.contains(i) || (t == .userDefined && isAddedToken(i)) {
            out += (first ? "\n" : ",\n")
            out += "    {\"id\": \(i), \"content\": \(q(v.tokens[i])), \"single_word\": false, \"lstrip\": false, \"rstrip\": false, \"normalized\": false, \"special\": \(specialTokenIDs.contains(i))}"
            first = false
        }
        out += "\n  ],\n"
        let bos = v.addBOS ? tokenName(v.bosTokenID) : nil
        var post = "{\"type\": \"TemplateProcessing\", \"single\": ["
        if let bos { post += "{\"SpecialToken\": {\"id\": \(q(bos)), \"type_id\": 0}}, " }
        post += "{\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}], \"pair\": ["
        if let bos { post += "{\"SpecialToken\": {\"id\": \(q(bos)), \"type_id\": 0}}, " }
        post += "{\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}, "
        if let bos { post += "{\"SpecialToken\": {\"id\": \(q(bos)), \"type_id\": 1}}, " }
        post += "{\"Sequence\": {\"id\": \"B\", \"type_id\": 1}}], \"special_tokens\": {"
        if let bos, let id = v.bosTokenID { post += "\(q(bos)): {\"id\": \(q(bos)), \"ids\": [\(id)], \"tokens\": [\(q(bos))]}" }
        post += "}}"
        let byteLevel = "{\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": true, \"use_regex\": true}"
        switch v.model {
        case .byteLevelBPE:
            out += "  \"normalizer\": null,\n"
            switch v.preTokenization {
            case .gpt2IndividualDigits:
                out += "  \"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Digits\", \"individual_digits\": true}, \(byteLevel)]},\n"
            case .gpt2, .none:
                out += "  \"pre_tokenizer\": \(byteLevel),\n"
            }
            out += "  \"post_processor\": \(post),\n"
            out += "  \"decoder\": {\"type\": \"ByteLevel\", \"add_prefix_space\": true, \"trim_offsets\": true, \"use_regex\": true},\n"
        case .sentencePieceBPE:
            let replace = "{\"type\": \"Replace\", \"pattern\": {\"String\": \" \"}, \"content\": \"\u{2581}\"}"
            out += v.addSpacePrefix
                ? "  \"normalizer\": {\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"Prepend\", \"prepend\": \"\u{2581}\"}, \(replace)]},\n"
                : "  \"normalizer\": \(replace),\n"
            out += "  \"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"String\": \" \"}, \"behavior\": \"MergedWithPrevious\", \"invert\": false},\n"
            out += "  \"post_processor\": \(post),\n"
            var decoders = "{\"type\": \"Replace\", \"pattern\": {\"String\": \"\u{2581}\"}, \"content\": \" \"}, {\"type\": \"ByteFallback\"}, {\"type\": \"Fuse\"}"
            if v.addSpacePrefix { decoders += ", {\"type\": \"Strip\", \"content\": \" \", \"start\": 1, \"stop\": 0}" }
            out += "  \"decoder\": {\"type\": \"Sequence\", \"decoders\": [\(decoders)]},\n"
        }
        let spm = v.model == .sentencePieceBPE
        let unk = spm ? (tokenName(v.unknownTokenID).map(q) ?? "null") : "null"
        out += "  \"model\": {\"type\": \"BPE\", \"dropout\": null, \"unk_token\": \(unk), \"continuing_subword_prefix\": null, "
        out += "\"end_of_word_suffix\": null, \"fuse_unk\": \(spm), \"byte_fallback\": \(spm), \"ignore_merges\": false,\n    \"vocab\": {"
        var seen = Set<[UInt8]>()
        first = true
        for (i, t) in v.tokens.enumerated() where seen.insert(Array(t.utf8)).inserted {
            out += first ? "\n      " : ",\n      "
            out += q(t) + ": " + String(i)
            first = false
        }
        out += "\n    },\n    \"merges\": ["
        for (k, (l, r)) in mergePairs.enumerated() {
            out += k == 0 ? "\n      [" : ",\n      ["
            out += q(v.tokens[Int(l)]) + ", " + q(v.tokens[Int(r)]) + "]"
        }
        out += "\n    ]\n  }\n}\n"
        return out
    }

    /// Whether a user-defined token is matched whole as an added token (it has content).
    private func isAddedToken(_ id: Int) -> Bool { !vocabulary.tokens[id].isEmpty }

    func tokenizerConfigJSON() -> String {
        let v = vocabulary
        var fields: [String] = []
        fields.append("\"add_bos_token\": \(v.addBOS)")
        fields.append("\"add_eos_token\": false")
        for (key, id) in [("bos_token", v.bosTokenID), ("eos_token", v.eosTokenID), ("unk_token", v.unknownTokenID), ("pad_token", v.paddingTokenID)] {
            fields.append("\(q(key)): " + (tokenName(id).map(q) ?? "null"))
        }
        fields.append("\"clean_up_tokenization_spaces\": false")
        fields.append("\"model_max_length\": 1000000000000000019884624838656")
        fields.append("\"tokenizer_class\": \"PreTrainedTokenizerFast\"")
        if let template = v.chatTemplate { fields.append("\"chat_template\": \(q(template))") }
        return "{\n  " + fields.joined(separator: ",\n  ") + "\n}\n"
    }

    func specialTokensMapJSON() -> String {
        let v = vocabulary
        var fields: [String] = []
        for (key, id) in [("bos_token", v.bosTokenID), ("eos_token", v.eosTokenID), ("unk_token", v.unknownTokenID), ("pad_token", v.paddingTokenID)] {
            if let name = tokenName(id) {
                fields.append("\(q(key)): {\"content\": \(q(name)), \"lstrip\": false, \"normalized\": false, \"rstrip\": false, \"single_word\": false}")
            }
        }
        return "{\n  " + fields.joined(separator: ",\n  ") + "\n}\n"
    }
}
