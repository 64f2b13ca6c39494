import Foundation
import XCTest
import TestSupport
@testable import AbliterationCore
@testable import AbliterationPipeline
@testable import LanguageModels
import TensorKit

/// Hugging Face directory → GGUF (`GGUFConversion`, `convert`/`ablate`/`run` with a directory input and a
/// .gguf output): tiny random models of every architecture, then the two real models written out as
/// Hugging Face directories and converted back, against the published GGUF files.
final class GGUFConversionTests: XCTestCase {
    func temporaryDirectory() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("abliterate-ggufhf-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        return dir
    }

    // MARK: - Tiny models

    /// A configuration of `architecture` small enough to write in milliseconds (hidden 32, intermediate 48:
    /// `down_proj` rows are not a whole number of Q8_0 blocks).
    static func tinyConfiguration(_ architecture: ModelArchitecture, ropeScaling: RoPEScaling = .none) -> ModelConfiguration {
        switch architecture {
        case .llama:
            return ModelConfiguration(
                architecture: .llama, vocabSize: 64, hiddenSize: 32, intermediateSize: 48, layerCount: 3, headCount: 4,
                kvHeadCount: 2, headDim: 8, rmsNormEpsilon: 1e-5, ropeTheta: 10000, ropeScaling: ropeScaling,
                tieWordEmbeddings: true, maxPositionEmbeddings: 128, bosTokenID: 1, eosTokenIDs: [2])
        case .qwen2, .qwen3:
            return ModelConfiguration(
                architecture: architecture, vocabSize: 64, hiddenSize: 32, intermediateSize: 48, layerCount: 2,
                headCount: 4, kvHeadCount: 2, headDim: 8, rmsNormEpsilon: 1e-6, ropeTheta: 1_000_000,
                attentionBias: architecture == .qwen2, queryKeyNorm: architecture == .qwen3, tieWordEmbeddings: false,
                maxPositionEmbeddings: 128, bosTokenID: nil, eosTokenIDs: [2])
        case .gemma3:
            return ModelConfiguration(
                architecture: .gemma3, vocabSize: 64, hiddenSize: 32, intermediateSize: 48, layerCount: 6, headCount: 2,
                kvHeadCount: 1, headDim: 16, rmsNormEpsilon: 1e-6, ropeTheta: 1_000_000, localRopeTheta: 10000,
                slidingWindow: 4, layerSpans: ModelConfiguration.gemmaLayerSpans(layerCount: 6, pattern: 6),
                queryScale: 0.25, queryKeyNorm: true, tieWordEmbeddings: true, maxPositionEmbeddings: 128,
                bosTokenID: 2, eosTokenIDs: [1], padTokenID: 0)
        case .gemma2:
            return ModelConfiguration(
                architecture: .gemma2, vocabSize: 64, hiddenSize: 32, intermediateSize: 48, layerCount: 4, headCount: 2,
                kvHeadCount: 1, headDim: 16, rmsNormEpsilon: 1e-6, ropeTheta: 10000, slidingWindow: 4,
                layerSpans: ModelConfiguration.gemmaLayerSpans(layerCount: 4, pattern: 2), queryScale: 0.25,
                tieWordEmbeddings: true, maxPositionEmbeddings: 128, bosTokenID: 2, eosTokenIDs: [1], padTokenID: 0,
                attentionLogitSoftCap: 5, finalLogitSoftCap: 10)
        }
    }

    /// A 62-token vocabulary (the model has 64 rows): byte-level BPE for llama and Qwen (three control
    /// tokens, `<pad>` as a plain added token, a–z, Ġ, merged pieces), SentencePiece BPE for Gemma (control
    /// tokens, a user-defined `\n`, 16 byte tokens, merged pieces including `▁▁`, then single characters).
    static func tinyVocabulary(_ c: ModelConfiguration) -> TokenizerVocabulary {
        let letters = (0..<26).map { String(UnicodeScalar(UInt8(97 + $0))) }
        if c.architecture == .gemma3 || c.architecture == .gemma2 {
            var tokens = ["<pad>", "<eos>", "<bos>", "<unk>", "\n"] + (0..<16).map { String(format: "<0x%02X>", $0) }
            var types: [TokenType] = [.control, .control, .control, .control, .userDefined] + Array(repeating: .byte, count: 16)
            let merged = [("\u{2581}", "a"), ("a", "b"), ("c", "d"), ("\u{2581}", "\u{2581}"), ("\u{2581}", "c"), ("e", "f")]
            tokens += merged.map { $0.0 + $0.1 }
            tokens += ["\u{2581}"] + letters + (0..<8).map { String(UnicodeScalar(UInt8(65 + $0))) }  // ▁, a–z, A–H
            types += Array(repeating: .normal, count: tokens.count - types.count)
            return TokenizerVocabulary(
                model: .sentencePieceBPE, preTokenization: .none, tokens: tokens, types: types, merges: merged,
                bosTokenID: 2, eosTokenID: 1, unknownTokenID: 3, paddingTokenID: 0, addBOS: true, family: c.architecture.rawValue)
        }
        var tokens = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<pad>"] + letters + ["\u{0120}"]
        var types: [TokenType] = [.control, .control, .control, .userDefined] + Array(repeating: .normal, count: 27)
        var merges: [(String, String)] = []
        for (l, r) in [("a", "b"), ("\u{0120}", "a"), ("\u{0120}a", "b"), ("b", "a"), ("c", "d"), ("\u{0120}", "c"),
                       ("\u{0120}c", "d"), ("e", "f"), ("\u{0120}", "e"), ("\u{0120}e", "f")] {
            merges.append((l, r))
            tokens.append(l + r)
            types.append(.normal)
        }
        while tokens.count < 62 {
            let l = letters[tokens.count % 26], r = letters[(tokens.count * 7) % 26]
            if tokens.contains(l + r) { tokens.append("x\(tokens.count)"); types.append(.userDefined); continue }
            merges.append((l, r))
            tokens.append(l + r)
            types.append(.normal)
        }
        return TokenizerVocabulary(
            model: .byteLevelBPE, preTokenization: .gpt2, tokens: tokens, types: types, merges: merges,
            bosTokenID: c.bosTokenID, eosTokenID: 2, chatTemplate: "{{ messages[0]['content'] }}", family: c.architecture.rawValue)
    }

    /// Writes a tiny Hugging Face directory (config.json, f32 safetensors, tokenizer files) and returns its
    /// tensors (Hugging Face names, shapes and values).
    @discardableResult
    static func writeTinyDirectory(_ c: ModelConfiguration, to directory: String, seed: UInt64 = 7,
                                   configEdit: ((inout [String: Any]) -> Void)? = nil) throws -> [(name: String, shape: [Int], values: [Float])] {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var config = try XCTUnwrap(JSONSerialization.jsonObject(
            with: try c.architecture.definition.configJSON(c, dtype: "float32")) as? [String: Any])
        configEdit?(&config)
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: directory + "/config.json"))
        var rng = SeededGenerator(seed: seed)
        var tensors: [(name: String, shape: [Int], values: [Float])] = []
        for name in c.architecture.tensorNames(c) {
            let shape = CheckpointLoader.expectedShape(name, c)
            let n = shape.reduce(1, *)
            let center: Float = name.hasSuffix("norm.weight") && c.architecture != .gemma3 && c.architecture != .gemma2 ? 1 : 0
            tensors.append((name, shape, (0..<n).map { _ in center + rng.uniform(-0.4, 0.4) }))
        }
        try SafetensorsWriter.write(
            tensors: tensors.map { ($0.name, DType.f32, $0.shape, $0.values.withUnsafeBytes { [UInt8]($0) }) },
            to: directory + "/model.safetensors")
        try Tokenizer(vocabulary: tinyVocabulary(c)).writeHuggingFaceFiles(to: directory)
        return tensors
    }

    func maxAbsDifference(_ a: [Float], _ b: [Float]) -> Float {
        zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
    }

    /// f32 conversion of every architecture (and of Llama 3's RoPE scaling) reads back as the same model:
    /// configuration, every weight (Q/K rows un-permuted, Gemma's norms w again), logits, and tokenization;
    /// names, dims, types and the tokenizer metadata are llama.cpp's.
    func testTinyModelsOfEveryArchitectureConvertExactly() throws {
        let dir = try temporaryDirectory()
        let cases: [(ModelArchitecture, RoPEScaling)] = ModelArchitecture.allCases.map { ($0, .none) }
            + [(.llama, .llama3(factor: 8, lowFrequencyFactor: 1, highFrequencyFactor: 4, originalMaxPositions: 16))]
        for (k, (architecture, scaling)) in cases.enumerated() {
            let c = Self.tinyConfiguration(architecture, ropeScaling: scaling)
            let hf = "\(dir)/hf\(k)", out = "\(dir)/m\(k).gguf"
            // The first llama's config.json leaves head_dim out (hidden / heads): no key_length then.
            let statesHeadDim = k != 0
            let tensors = try Self.writeTinyDirectory(c, to: hf, configEdit: statesHeadDim ? nil : { $0["head_dim"] = nil })
            let session = try ModelSession.load(path: hf)
            let summary = try GGUFConversion.write(session: session, to: out, fileType: .f32)
            let file = try GGUFFile(path: out)
            let label = "\(architecture) \(scaling)"
            XCTAssertEqual(file.string("general.architecture"), architecture.rawValue, label)
            XCTAssertEqual(file.int("general.file_type"), 0, label)
            XCTAssertEqual(file.string("abliterate.gguf_type"), "F32", label)
            XCTAssertEqual(summary.encodedTensors.count, file.tensorInfos.count, label)

            // Names and dims; Llama 3's frequency factors as the converter computes them.
            var expectedNames = tensors.map { architecture.ggufName($0.name)! }
            if case .llama3 = scaling {
                expectedNames.insert("rope_freqs.weight", at: 0)
                let factors = try file.tensor("rope_freqs.weight").toFloat32().scalars
                XCTAssertEqual(factors.count, 4)
                XCTAssertEqual(factors[1...], [8, 8, 8], label)  // wavelengths 63, 628, 6283 > 16
                let smooth: Float = (16 / (2 * .pi) - 1) / 3       // wavelength 2π in the band (4, 16)
                XCTAssertEqual(factors[0], 1 / ((1 - smooth) / 8 + smooth), accuracy: 1e-6, label)
            }
            XCTAssertEqual(file.tensorInfos.map(\.name), expectedNames, label)
            for (name, shape, _) in tensors {
                let info = try XCTUnwrap(file.info(architecture.ggufName(name)!))
                XCTAssertEqual(info.dims, shape.reversed(), name)
                XCTAssertEqual(info.type, .f32, name)
            }

            // Read back: the same model.
            let back = try LanguageModel.load(path: out)
            var expected = c
            if case .llama3 = scaling { expected.ropeScaling = .none }  // the factors tensor carries it
            XCTAssertEqual(back.configuration, expected, label)
            for (name, _, values) in tensors {
                let tolerance: Float = (architecture == .gemma3 || architecture == .gemma2) && name.hasSuffix("norm.weight") ? 1e-7 : 0
                XCTAssertLessThanOrEqual(maxAbsDifference(try back.weights.float32(name).scalars, values), tolerance, "\(label) \(name)")
            }
            let prompts = [[1, 5, 9, 12], [3, 4, 5, 6, 7, 8, 9, 10]]
            let a = try session.model.forward(batch: prompts, logits: .lastToken).logits!.scalars
            let b = try back.forward(batch: prompts, logits: .lastToken).logits!.scalars
            XCTAssertLessThanOrEqual(maxAbsDifference(a, b), scaling == .none ? 1e-5 : 1e-4, label)

            // Tokenizer: 64 tokens (two [PAD]), the same ids for every text.
            let tokens = try XCTUnwrap(file.strings("tokenizer.ggml.tokens"))
            XCTAssertEqual(tokens.count, 64, label)
            XCTAssertEqual(Array(tokens.suffix(2)), ["[PAD62]", "[PAD63]"], label)
            let types = try XCTUnwrap(file.ints("tokenizer.ggml.token_type"))
            XCTAssertEqual(Array(types.suffix(2)), [5, 5], label)
            let gguf = try Tokenizer.load(gguf: file)
            for text in ["ab cd", "a  b ef", "abc\ndef", "cdab ba"] {
                XCTAssertEqual(gguf.encode(text, addSpecialTokens: true), session.tokenizer.encode(text, addSpecialTokens: true), "\(label) \(text)")
            }
            if architecture == .gemma2 {
                XCTAssertEqual(file.string("tokenizer.ggml.model"), "llama")
                XCTAssertEqual(file.float("gemma2.attn_logit_softcapping"), 5)
                XCTAssertEqual(file.float("gemma2.final_logit_softcapping"), 10)
                XCTAssertEqual(file.int("gemma2.attention.sliding_window"), 4)
            } else if architecture == .gemma3 {
                XCTAssertEqual(file.string("tokenizer.ggml.model"), "llama")
                XCTAssertEqual(file.bool("tokenizer.ggml.add_bos_token"), true)
                XCTAssertEqual(file.bool("tokenizer.ggml.add_space_prefix"), false)
                XCTAssertNil(file.metadata["tokenizer.ggml.merges"])
                let scores = try XCTUnwrap(file.floats("tokenizer.ggml.scores"))
                // control −1000, user-defined "\n" −1000, bytes 0, normal pieces −0, −1, … in id order.
                XCTAssertEqual(Array(scores[0..<5]), [-1000, -1000, -1000, -1000, -1000])
                XCTAssertEqual(Array(scores[5..<21]), Array(repeating: 0, count: 16))
                XCTAssertEqual(Array(scores[21..<24]), [0, -1, -2])
                XCTAssertEqual(tokens[24], "  ", "Gemma's ▁▁ is a user-defined token stored as spaces")
                XCTAssertEqual(types[24], 4)
                XCTAssertEqual(scores[24], -1000)
                XCTAssertEqual(scores[25], -3)
                XCTAssertEqual(file.float("gemma3.rope.freq_base_swa"), 10000)
                XCTAssertEqual(file.int("gemma3.attention.sliding_window"), 4)
                XCTAssertEqual(file.int("gemma3.attention.key_length"), 16)
            } else {
                XCTAssertEqual(file.string("tokenizer.ggml.model"), "gpt2")
                XCTAssertEqual(file.string("tokenizer.ggml.pre"), "gpt-2")
                XCTAssertEqual(file.strings("tokenizer.ggml.merges")?.first, "a b")
                XCTAssertEqual(types[3], 3, "<pad> looks special: a control token, as the converter marks it")
                XCTAssertEqual(file.string("tokenizer.chat_template"), "{{ messages[0]['content'] }}")
            }
            XCTAssertEqual(file.int("\(architecture.rawValue).attention.key_length"), statesHeadDim ? c.headDim : nil, label)
            XCTAssertEqual(file.int("\(architecture.rawValue).attention.value_length"), statesHeadDim ? c.headDim : nil, label)
        }
    }

    /// A multimodal Gemma 3 checkpoint (`language_model.` names, `text_config`, a global layer every 2nd
    /// block, the template in chat_template.jinja): the text model, read back the same, with
    /// `gemma3.attention.sliding_window_pattern` 2 (llama.cpp's default is 6).
    func testMultimodalGemmaCheckpointGivesItsTextModel() throws {
        let dir = try temporaryDirectory()
        let source = Fixtures.checkpoint("gemma3-multimodal-tiny")
        let session = try ModelSession.load(path: source)
        let out = dir + "/text.gguf"
        _ = try GGUFConversion.write(session: session, to: out, fileType: .f32)
        let file = try GGUFFile(path: out)
        XCTAssertEqual(file.int("gemma3.attention.sliding_window_pattern"), 2)
        XCTAssertEqual(file.int("gemma3.attention.sliding_window"), 16)
        XCTAssertEqual(file.string("general.name"), "Gemma3 Multimodal Tiny")
        XCTAssertNotNil(file.string("tokenizer.chat_template"))
        let back = try ModelSession.load(path: out)
        XCTAssertEqual(back.model.configuration, session.model.configuration)
        let prompts = [[2, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120, 130, 140, 150, 160, 170, 180, 190]]
        let a = try session.model.forward(batch: prompts, logits: .lastToken).logits!.scalars
        let b = try back.model.forward(batch: prompts, logits: .lastToken).logits!.scalars
        XCTAssertLessThanOrEqual(maxAbsDifference(a, b), 1e-5)
        let message = [ChatMessage(role: "user", content: "Hello there, how are you?")]
        XCTAssertEqual(try back.tokenizer.encodeChat(messages: message, addGenerationPrompt: true),
                       try session.tokenizer.encodeChat(messages: message, addGenerationPrompt: true))
    }

    /// `general.name` and `general.size_label` as gguf-py makes them.
    func testNameAndSizeLabelFollowGGUFPy() {
        XCTAssertEqual(GGUFConversion.displayName("smol-bf16"), "Smol Bf16")
        XCTAssertEqual(GGUFConversion.displayName("SmolLM2-135M-Instruct"), "SmolLM2 135M Instruct")
        XCTAssertEqual(GGUFConversion.displayName("gemma-3-270m-it-v1.2"), "Gemma 3 270m It v1.2")
        XCTAssertEqual(GGUFConversion.displayName("my_model-x2y"), "My_Model X2Y")
        XCTAssertEqual(GGUFConversion.sizeLabel(134_515_008), "135M")
        XCTAssertEqual(GGUFConversion.sizeLabel(268_098_176), "268M")
        XCTAssertEqual(GGUFConversion.sizeLabel(1_235_814_400), "1.2B")
        XCTAssertEqual(GGUFConversion.sizeLabel(40_960), "41K")
    }

    /// The converter's types (f16, q8_0 with its F16 fall-back for 48-wide rows) and llama-quantize's
    /// (Q4_K_M: Q4_K on 32-wide rows falls back to Q5_0, Q6_K to Q8_0 for the tied embedding and block 2's
    /// attn_v, Q5_0 on 48-wide rows to F16), decoded back within the types' rounding.
    func testTinyModelTypesFollowLlamaCpp() throws {
        let dir = try temporaryDirectory()
        let c = Self.tinyConfiguration(.llama)
        let tensors = try Self.writeTinyDirectory(c, to: dir + "/hf")
        let session = try ModelSession.load(path: dir + "/hf")
        for (type, expected) in [
            (GGUFConversion.FileType.f16, ["token_embd": "F16", "attn_q": "F16", "ffn_down": "F16"]),
            (.q8_0, ["token_embd": "Q8_0", "attn_q": "Q8_0", "ffn_down": "F16"]),
            (.q4_K_M, ["token_embd": "Q8_0", "attn_q": "Q5_0", "attn_v": "Q5_0", "attn_v2": "Q8_0", "ffn_down": "F16"]),
        ] {
            let out = "\(dir)/m-\(type.rawValue).gguf"
            _ = try GGUFConversion.write(session: session, to: out, fileType: type)
            let file = try GGUFFile(path: out)
            XCTAssertEqual(file.int("general.file_type"), Int(type.llamaFileType))
            for (short, name) in [("token_embd", "token_embd.weight"), ("attn_q", "blk.1.attn_q.weight"),
                                  ("attn_v", "blk.0.attn_v.weight"), ("attn_v2", "blk.2.attn_v.weight"),
                                  ("ffn_down", "blk.1.ffn_down.weight")] {
                guard let want = expected[short] else { continue }
                XCTAssertEqual(file.info(name)?.type.name, want, "\(type) \(name)")
            }
            XCTAssertEqual(file.info("blk.0.attn_norm.weight")?.type, .f32)
            XCTAssertEqual(file.info("output_norm.weight")?.type, .f32)
            let back = try LanguageModel.load(path: out)
            for (name, _, values) in tensors {
                let error = maxAbsDifference(try back.weights.float32(name).scalars, values)
                XCTAssertLessThanOrEqual(error, type == .q4_K_M ? 0.05 : (type == .q8_0 ? 0.004 : 0.0003), "\(type) \(name)")
            }
        }
    }

    /// Edits planned for a Hugging Face source land in the GGUF exactly (f32), in GGUF layout; the other
    /// tensors are the source's; the provenance counts them.
    func testEditsAreAppliedWhileConverting() throws {
        let dir = try temporaryDirectory()
        let c = Self.tinyConfiguration(.llama)
        let tensors = try Self.writeTinyDirectory(c, to: dir + "/hf")
        let session = try ModelSession.load(path: dir + "/hf")
        var rng = SeededGenerator(seed: 3)
        let direction = try RefusalDirection.conventional(harmful: rng.normals(32), harmless: rng.normals(32))
        let edits = ["model.layers.1.self_attn.o_proj.weight", "model.layers.2.mlp.down_proj.weight"].map {
            ModelEditor.PlannedEdit(name: $0, layer: nil, measurementLayer: 1, scale: 1, orientation: .writesToResidual,
                                    direction: direction, outputGain: nil)
        }
        let out = dir + "/edited.gguf"
        let summary = try GGUFExport.write(session: session, to: out, modelType: .f32, edits: edits)
        XCTAssertEqual(summary.edits.count, 2)
        let file = try GGUFFile(path: out)
        XCTAssertEqual(file.string("abliterate.edited_tensors"), "2")
        XCTAssertEqual(file.string("abliterate.directions_sha256")?.count, 64)
        let back = try LanguageModel.load(path: out)
        for (name, shape, values) in tensors {
            var expected = try Tensor(shape: shape, scalars: values)
            if let edit = edits.first(where: { $0.name == name }) {
                _ = try ModelEditor.apply(edit, to: &expected, norms: .none)
                XCTAssertNotEqual(expected.scalars, values, name)
            }
            XCTAssertEqual(try back.weights.float32(name).scalars, expected.scalars, name)
        }
    }

    /// Configurations a GGUF cannot express, values that cannot be encoded, and outputs that are inputs
    /// are refused with one line naming the file and the key or tensor; nothing is left behind.
    func testHostileConfigurationsAndOutputsAreRefused() throws {
        let dir = try temporaryDirectory()
        let gemma = Self.tinyConfiguration(.gemma3)
        let cases: [(String, (inout [String: Any]) -> Void, String)] = [
            ("scalar", { $0["query_pre_attn_scalar"] = 100 }, "query_pre_attn_scalar"),
            ("layers", { $0["layer_types"] = ["sliding_attention", "full_attention", "sliding_attention", "sliding_attention",
                                              "full_attention", "full_attention"] }, "layer_types follow no period"),
            ("softcap", { $0["attn_logit_softcapping"] = 50.0 }, "attn_logit_softcapping"),
        ]
        for (name, edit, expected) in cases {
            let hf = "\(dir)/\(name)"
            try Self.writeTinyDirectory(gemma, to: hf, configEdit: edit)
            let out = "\(dir)/\(name).gguf"
            // Refused when loading (a setting the runtime refuses, such as Gemma 3's attention soft cap) or
            // when converting (one GGUF cannot express): either way one line naming config.json and the key.
            XCTAssertThrowsError(try GGUFConversion.write(session: try ModelSession.load(path: hf), to: out)) {
                let message = "\($0)"
                XCTAssertTrue(message.contains(expected) && message.contains("\(hf)/config.json"), message)
                XCTAssertFalse(message.contains("\n"), message)
            }
        }

        // A NaN weight: refused naming the output, the GGUF tensor and the checkpoint's tensor.
        let llama = Self.tinyConfiguration(.llama)
        let hf = dir + "/nan"
        var tensors = try Self.writeTinyDirectory(llama, to: hf)
        let k = tensors.firstIndex { $0.name == "model.layers.1.mlp.up_proj.weight" }!
        tensors[k].values[5] = .nan
        try SafetensorsWriter.write(
            tensors: tensors.map { ($0.name, DType.f32, $0.shape, $0.values.withUnsafeBytes { [UInt8]($0) }) },
            to: hf + "/model.safetensors")
        let session = try ModelSession.load(path: hf)
        XCTAssertThrowsError(try GGUFConversion.write(session: session, to: dir + "/nan.gguf", fileType: .q8_0)) {
            let message = "\($0)"
            XCTAssertTrue(message.contains("\(dir)/nan.gguf: tensor 'blk.1.ffn_up.weight' (model.layers.1.mlp.up_proj.weight)"), message)
            XCTAssertFalse(message.contains("\n"), message)
        }

        // Outputs that are inputs, or inside the input directory; types that do not fit the source.
        let good = dir + "/good"
        try Self.writeTinyDirectory(llama, to: good)
        let goodSession = try ModelSession.load(path: good)
        XCTAssertThrowsError(try GGUFConversion.write(session: goodSession, to: good)) {
            XCTAssertTrue("\($0)".contains("refusing to overwrite an input"), "\($0)")
        }
        XCTAssertThrowsError(try GGUFConversion.write(session: goodSession, to: good + "/model.safetensors")) {
            XCTAssertTrue("\($0)".contains("is inside the input directory"), "\($0)")
        }
        XCTAssertThrowsError(try GGUFExport.write(session: goodSession, to: dir + "/x.gguf", editedType: .type(.q8_0))) {
            XCTAssertTrue("\($0)".contains("--edited-type is for a GGUF source"), "\($0)")
        }
        let remaining = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
        XCTAssertEqual(remaining, ["good", "layers", "nan", "scalar", "softcap"], "nothing written or staged")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: good).sorted(),
                       ["config.json", "model.safetensors", "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json"])
    }

    /// The commands: `--gguf-type` for a directory input, `--edited-type` for a GGUF input, neither for a
    /// directory output; bad names refused before anything is loaded.
    func testCommandsChooseTypesBySource() throws {
        let dir = try temporaryDirectory()
        let hf = dir + "/hf"
        try Self.writeTinyDirectory(Self.tinyConfiguration(.qwen3), to: hf)
        let out = dir + "/m.gguf"
        var r = try CommandLineTool.abliterate(["convert", hf, "--gguf-type", "q8_0", "--output", out])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("re-encoded as F16 2, F32 9, Q8_0 14"), r.stdout)
        XCTAssertEqual(try GGUFFile(path: out).string("abliterate.gguf_type"), "Q8_0")
        r = try CommandLineTool.abliterate(["convert", hf, "--edited-type", "q8_0", "--output", dir + "/x.gguf"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("--edited-type is for a GGUF source"), r.stderr)
        r = try CommandLineTool.abliterate(["convert", out, "--gguf-type", "f16", "--output", dir + "/y.gguf"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("--gguf-type f16 is for a Hugging Face source"), r.stderr)
        r = try CommandLineTool.abliterate(["convert", hf, "--gguf-type", "q3_k", "--output", dir + "/z.gguf"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("'q3_k' is not one this tool writes"), r.stderr)
        r = try CommandLineTool.abliterate(["convert", hf, "--gguf-type", "f16", "--output", dir + "/hf-copy"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("--gguf-type is for GGUF output"), r.stderr)
        r = try CommandLineTool.abliterate(["convert", hf, "--output", hf + "/model.gguf"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("inside the input directory"), r.stderr)
        // q4_k is llama-quantize's alias of Q4_K_M.
        r = try CommandLineTool.abliterate(["convert", hf, "--gguf-type", "Q4_K", "--output", dir + "/k.gguf"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try GGUFFile(path: dir + "/k.gguf").int("general.file_type"), 15)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir).sorted(), ["hf", "k.gguf", "m.gguf"])
    }

    // MARK: - The real models: GGUF → Hugging Face directory (f32) → GGUF

    /// Values the round trip must give: the published tensor dequantized (GGUF layout), rounded to `type`.
    func expectedBytes(_ source: GGUFFile, _ name: String, as type: GGMLType) throws -> [UInt8] {
        try GGMLQuantizer.encode(try source.tensor(name).toFloat32().scalars, as: type, tensor: name)
    }

    /// Checks a conversion against the published file it was written from (through an f32 directory):
    /// tokenizer arrays and ids, architecture keys, tensor names, dims and values (the published values
    /// rounded to the written type, byte for byte; Gemma's norms, w + 1 again, within 1e-7 · |g|).
    func assertMatchesPublished(_ source: GGUFFile, _ written: GGUFFile, type: GGMLType, scoresDifferAt: (Int) -> Bool = { _ in false },
                                file: StaticString = #filePath, line: UInt = #line) throws {
        let architecture = try XCTUnwrap(source.string("general.architecture"))
        for key in source.metadataKeys where key.hasPrefix("\(architecture).") || key.hasPrefix("tokenizer.") {
            if key == "tokenizer.ggml.add_sep_token" { continue }  // written by converters that read tokenizer.model
            if key == "tokenizer.ggml.scores" {
                let a = try XCTUnwrap(source.floats(key)), b = try XCTUnwrap(written.floats(key))
                XCTAssertEqual(a.count, b.count, file: file, line: line)
                let differing = a.indices.filter { a[$0] != b[$0] }
                XCTAssertTrue(differing.allSatisfy(scoresDifferAt), "scores differ at \(differing.prefix(5))", file: file, line: line)
                print("\(architecture): scores differ at \(differing.count) of \(a.count) tokens")
                continue
            }
            XCTAssertEqual(written.metadata[key], source.metadata[key], key, file: file, line: line)
        }
        XCTAssertEqual(written.tensorInfos.count, source.tensorInfos.count, file: file, line: line)
        for info in source.tensorInfos {
            let out = try XCTUnwrap(written.info(info.name), info.name, file: file, line: line)
            XCTAssertEqual(out.dims, info.dims, info.name, file: file, line: line)
            let norm = info.dims.count == 1
            XCTAssertEqual(out.type, norm ? .f32 : type, info.name, file: file, line: line)
            if norm && architecture == "gemma3" {
                let g = try source.tensor(info.name).toFloat32().scalars, h = try written.tensor(info.name).toFloat32().scalars
                XCTAssertTrue(zip(g, h).allSatisfy { abs($0 - $1) <= 2.4e-7 * max(1, abs($0)) }, info.name, file: file, line: line)
            } else {
                XCTAssertEqual(Array(try written.tensor(info.name).bytes), try expectedBytes(source, info.name, as: out.type),
                               info.name, file: file, line: line)
            }
        }
    }

    /// Greedy tokens of our runtime on two files, for a few prompts.
    func assertSameGreedyTokens(_ a: String, _ b: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let sa = try ModelSession.load(path: a), sb = try ModelSession.load(path: b)
        let prompts = try ["The capital of France is", "def fibonacci(n):"].map { try sa.promptTokens($0, format: .raw) }
        XCTAssertEqual(prompts, try ["The capital of France is", "def fibonacci(n):"].map { try sb.promptTokens($0, format: .raw) },
                       file: file, line: line)
        let ga = try sa.model.generate(batch: prompts, maxNewTokens: 12, stopTokens: [])
        let gb = try sb.model.generate(batch: prompts, maxNewTokens: 12, stopTokens: [])
        XCTAssertEqual(ga.map(\.tokens), gb.map(\.tokens), file: file, line: line)
    }

    /// SmolLM2: Q4_1 GGUF → f32 directory → GGUF f16 and q8_0: tokenizer metadata (49152 tokens, types,
    /// 48900 merges, ids, template) and `llama.*` keys identical to the published file's, every tensor
    /// the published values rounded to the type byte for byte (Q/K permuted back exactly); llama-quantize's
    /// Q4_1 mixture gives the published file's types; our runtime generates the same greedy tokens.
    func testSmolLM2RoundTripMatchesThePublishedFile() throws {
        let path = try TestModels.smolLM2()
        let dir = try temporaryDirectory()
        _ = try CheckpointExport.write(session: try ModelSession.load(path: path), to: dir + "/hf", dtype: .f32)
        let session = try ModelSession.load(path: dir + "/hf")
        let source = try GGUFFile(path: path)
        for (type, ggml) in [(GGUFConversion.FileType.f16, GGMLType.f16), (.q8_0, .q8_0)] {
            let out = "\(dir)/smollm2-\(type.rawValue).gguf"
            _ = try GGUFConversion.write(session: session, to: out, fileType: type)
            try assertMatchesPublished(source, try GGUFFile(path: out), type: ggml)
        }
        let c = session.model.configuration
        for info in source.tensorInfos {
            let type = GGUFConversion.tensorType(info.name, shape: info.dims.reversed(), fileType: .q4_1, layerCount: c.layerCount,
                                                 tiedEmbeddings: c.tieWordEmbeddings, llama70B: false)
            XCTAssertEqual(type, info.type, info.name)
        }
        try assertSameGreedyTokens(path, dir + "/smollm2-f16.gguf")
    }

    /// Gemma 3 270M: Q4_K_M GGUF → f32 directory → GGUF f16: tokens, types and ids identical; scores
    /// identical except for the 19225 single-character pieces (tokenizer.json does not carry
    /// SentencePiece's scores; llama.cpp never reads a single character's); `gemma3.*` keys identical
    /// (plus `rope.freq_base_swa`); values byte for byte; llama-quantize's Q4_K_M gives the published
    /// file's 236 types; our runtime generates the same greedy tokens.
    func testGemma3RoundTripMatchesThePublishedFile() throws {
        let path = try TestModels.gemma3()
        let dir = try temporaryDirectory()
        _ = try CheckpointExport.write(session: try ModelSession.load(path: path), to: dir + "/hf", dtype: .f32)
        let session = try ModelSession.load(path: dir + "/hf")
        let source = try GGUFFile(path: path)
        let out = dir + "/gemma-f16.gguf"
        _ = try GGUFConversion.write(session: session, to: out, fileType: .f16)
        let written = try GGUFFile(path: out)
        let tokens = try XCTUnwrap(source.strings("tokenizer.ggml.tokens"))
        let types = try XCTUnwrap(source.ints("tokenizer.ggml.token_type"))
        try assertMatchesPublished(source, written, type: .f16, scoresDifferAt: { types[$0] == 1 && tokens[$0].unicodeScalars.count == 1 })
        XCTAssertEqual(written.float("gemma3.rope.freq_base_swa"), 10000)
        let c = session.model.configuration
        for info in source.tensorInfos {
            let type = GGUFConversion.tensorType(info.name, shape: info.dims.reversed(), fileType: .q4_K_M, layerCount: c.layerCount,
                                                 tiedEmbeddings: c.tieWordEmbeddings, llama70B: false)
            XCTAssertEqual(type, info.type, info.name)
        }
        try assertSameGreedyTokens(path, out)
    }
}
