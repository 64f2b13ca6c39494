import Foundation
import TensorKit
import TestSupport
import XCTest
@testable import LanguageModels

/// Every supported architecture and config variant against Hugging Face transformers, on the tiny random
/// f32 checkpoints of `Tests/Fixtures/parity` (Scripts/make-parity-fixtures.py; each directory's
/// reference.json holds transformers' outputs, eager attention in f32). For each prompt: our token ids equal
/// transformers' (chat template or raw text), the reference's top-10 logits at the last position agree within
/// 1e-4, and 16 greedy tokens (no stop token) are the same. The prompts run as one packed batch; the greedy
/// tokens come from our KV-cached generation, transformers' from a full forward pass per step.
final class ParityTests: XCTestCase {
    /// The largest |logit difference| allowed on the reference's top 10 (f32 against f32).
    static let tolerance: Float = 1e-4

    func testLlama() throws { try check("llama") }
    func testLlama31RoPEScalingInTheOlderConfigForm() throws { try check("llama31-rope") }
    func testQwen2TiedWithVocabularyPadding() throws { try check("qwen2") }
    func testQwen2Untied() throws { try check("qwen2-untied") }
    func testQwen3() throws { try check("qwen3") }
    func testGemma3Text() throws { try check("gemma3-text") }
    func testGemma3TextInTheOlderConfigFormWithFinalSoftCap() throws { try check("gemma3-text-legacy") }
    func testMistralSlidingWindow() throws { try check("mistral-sliding") }
    func testGemma2WithAttentionAndFinalSoftCaps() throws { try check("gemma2") }
    func testGemma3MultimodalTextModel() throws { try check("gemma3-multimodal") }

    /// Compares one fixture; returns the largest top-10 logit difference (printed for the docs' table).
    @discardableResult
    func check(_ name: String) throws -> Float {
        let reference = try ParityReference.load(name)
        let model = try LanguageModel.load(path: reference.checkpoint)
        let tokenizer = try model.loadTokenizer()
        for p in reference.prompts {
            let ids = p.chat
                ? try tokenizer.encodeChat(messages: [ChatMessage(role: "user", content: p.text)], addGenerationPrompt: true)
                : tokenizer.encode(p.text, addSpecialTokens: true)
            XCTAssertEqual(ids, p.ids, "\(name): token ids of \(p.text.debugDescription)")
        }
        let batch = reference.prompts.map(\.ids)
        let logits = try XCTUnwrap(try model.forward(batch: batch, logits: .lastToken).logits)
        var worst: Float = 0
        for (s, p) in reference.prompts.enumerated() {
            let row = logits.row(s)
            for (id, expected) in zip(p.top10IDs, p.top10Logits) {
                let difference = abs(row[row.startIndex + id] - expected)
                worst = max(worst, difference)
                XCTAssertLessThanOrEqual(
                    difference, Self.tolerance, "\(name) prompt \(s): logit of token \(id) is \(row[row.startIndex + id]), transformers \(expected)")
            }
        }
        let generations = try model.generate(batch: batch, maxNewTokens: 16, stopTokens: [], topK: 1)
        var greedyEqual = true
        for (p, generation) in zip(reference.prompts, generations) {
            greedyEqual = greedyEqual && generation.tokens == p.greedyIDs
            XCTAssertEqual(generation.tokens, p.greedyIDs, "\(name): greedy tokens of \(p.text.debugDescription)")
        }
        print("parity \(name): max |top-10 logit difference| \(worst), greedy tokens \(greedyEqual ? "equal" : "DIFFERENT")")
        return worst
    }

    // MARK: - Config keys the fixtures do not vary

    /// What transformers builds from keys that change the model and that the runtime does not implement is
    /// refused, naming the file and the key (one line, `ModelError.unsupported`).
    func testSettingsTheRuntimeDoesNotImplementAreRefusedByKey() throws {
        let cases: [(String, String, JSONValue, String)] = [
            ("llama", "attention_bias", .bool(true), "config.json: attention_bias true is not supported for llama"),
            ("llama", "mlp_bias", .bool(true), "config.json: mlp_bias true is not supported for llama"),
            ("qwen3", "attention_bias", .bool(true), "config.json: attention_bias true is not supported for qwen3"),
            ("qwen2", "use_sliding_window", .bool(true), "config.json: use_sliding_window is not supported for qwen2"),
            ("llama", "rope_parameters", .object(["rope_type": .string("yarn"), "factor": .number(4), "rope_theta": .number(10000)]),
             "config.json: rope scaling type 'yarn' is not supported"),
            ("gemma3-text", "attn_logit_softcapping", .number(50), "config.json: attn_logit_softcapping 50.0 is not supported for gemma3"),
            ("gemma3-text", "use_bidirectional_attention", .bool(true),
             "config.json: use_bidirectional_attention true is not supported for gemma3"),
            ("gemma2", "attention_bias", .bool(true), "config.json: attention_bias true is not supported for gemma2"),
            ("gemma2", "use_bidirectional_attention", .bool(true),
             "config.json: use_bidirectional_attention true is not supported for gemma2"),
        ]
        for (fixture, key, value, message) in cases {
            let json = try fixtureConfig(fixture) { $0[key] = value }
            XCTAssertThrowsError(try configuration(json)) { error in
                guard case ModelError.unsupported(let m) = error else { return XCTFail("\(key): \(error)") }
                XCTAssertTrue(m.hasPrefix(message), m)
                XCTAssertFalse(m.contains("\n"), m)
            }
        }
        // The whole load stops there too, before any tensor is read.
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("abliterate-parity-\(UUID().uuidString)").path
        try FileManager.default.copyItem(atPath: ParityReference.directory("llama"), toPath: directory)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try fixtureConfig("llama") { $0["attention_bias"] = .bool(true) }.write(to: URL(fileURLWithPath: directory + "/config.json"))
        XCTAssertThrowsError(try LanguageModel.load(path: directory)) { error in
            XCTAssertTrue("\(error)".hasPrefix(directory + "/config.json: attention_bias true is not supported for llama"), "\(error)")
        }
    }

    /// Absent keys take transformers' defaults, null ones mean none: Mistral's window is 4096 when
    /// `sliding_window` is absent and off when it is null (Llama has no such key), Qwen 3's head dim is 128
    /// without `head_dim`, and Qwen 2 has its q/k/v biases whatever `attention_bias` says.
    func testDefaultsFollowTransformers() throws {
        let absent = try configuration(try fixtureConfig("mistral-sliding") { $0["sliding_window"] = nil })
        XCTAssertEqual(absent.slidingWindow, 4096)
        XCTAssertEqual(absent.layerSpans, [.sliding, .sliding])
        let null = try configuration(try fixtureConfig("mistral-sliding") { $0["sliding_window"] = .null })
        XCTAssertNil(null.slidingWindow)
        XCTAssertEqual(null.layerSpans, [.full, .full])
        let llama = try configuration(try fixtureConfig("llama") { $0["sliding_window"] = .number(8) })
        XCTAssertEqual(llama.layerSpans, [.full, .full])
        let qwen3 = try configuration(try fixtureConfig("qwen3") { $0["head_dim"] = nil })
        XCTAssertEqual(qwen3.headDim, 128)
        let qwen2 = try configuration(try fixtureConfig("qwen2") { $0["attention_bias"] = .bool(false) })
        XCTAssertTrue(qwen2.attentionBias)
    }

    /// Gemma 2 without the keys Google's checkpoints leave out or with them null: absent caps are
    /// transformers' 50 and 30, null ones are none; without `layer_types` the even blocks slide (the
    /// fixture has no `layer_types`), and `layer_types` overrides that; an absent window is 4096.
    func testGemma2DefaultsFollowTransformers() throws {
        let fixture = try configuration(try fixtureConfig("gemma2") { _ in })
        XCTAssertEqual(fixture.architecture, .gemma2)
        XCTAssertEqual(fixture.layerSpans, [.sliding, .full, .sliding, .full])
        XCTAssertEqual(fixture.slidingWindow, 8)
        XCTAssertEqual(fixture.attentionLogitSoftCap, 5)
        XCTAssertEqual(fixture.finalLogitSoftCap, 10)
        XCTAssertEqual(fixture.queryScale, 0.25)
        XCTAssertNil(fixture.localRopeTheta)
        XCTAssertFalse(fixture.queryKeyNorm)
        let absent = try configuration(try fixtureConfig("gemma2") {
            for key in ["attn_logit_softcapping", "final_logit_softcapping", "sliding_window", "query_pre_attn_scalar"] { $0[key] = nil }
        })
        XCTAssertEqual(absent.attentionLogitSoftCap, 50)
        XCTAssertEqual(absent.finalLogitSoftCap, 30)
        XCTAssertEqual(absent.slidingWindow, 4096)
        XCTAssertEqual(absent.queryScale, 1 / 16)
        let null = try configuration(try fixtureConfig("gemma2") {
            $0["attn_logit_softcapping"] = .null
            $0["final_logit_softcapping"] = .null
        })
        XCTAssertNil(null.attentionLogitSoftCap)
        XCTAssertNil(null.finalLogitSoftCap)
        let typed = try configuration(try fixtureConfig("gemma2") {
            $0["layer_types"] = .array([.string("full_attention"), .string("sliding_attention"), .string("full_attention"), .string("full_attention")])
        })
        XCTAssertEqual(typed.layerSpans, [.full, .sliding, .full, .full])
        XCTAssertThrowsError(try configuration(try fixtureConfig("gemma2") { $0["attn_logit_softcapping"] = .number(0) })) { error in
            XCTAssertTrue("\(error)".contains("attn_logit_softcapping 0.0 is not a positive number"), "\(error)")
        }
        // What export writes for a Gemma 2 (GGUF or 4-bit input) reads back to the same configuration.
        let json = try fixture.architecture.definition.configJSON(fixture, dtype: "bfloat16")
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: json) as? [String: Any])
        XCTAssertEqual(object["model_type"] as? String, "gemma2")
        XCTAssertEqual(object["architectures"] as? [String], ["Gemma2ForCausalLM"])
        XCTAssertEqual(try configuration(json), fixture)
    }

    /// Phi-3 is still refused by name, with the list of what is supported.
    func testPhi3IsRefusedByName() throws {
        XCTAssertThrowsError(try ModelArchitecture(identifier: "phi3", source: "config.json")) { error in
            XCTAssertEqual("\(error)", "config.json: architecture 'phi3' is not supported (supported: llama, mistral, qwen2, qwen3, gemma2, gemma3)")
        }
    }

    /// A generated config.json (GGUF or 4-bit input) of a Mistral with a window says so, and reads back.
    func testAGeneratedMistralConfigKeepsItsWindow() throws {
        let c = try configuration(try fixtureConfig("mistral-sliding") { _ in })
        let json = try c.architecture.definition.configJSON(c, dtype: "bfloat16")
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: json) as? [String: Any])
        XCTAssertEqual(object["model_type"] as? String, "mistral")
        XCTAssertEqual(object["architectures"] as? [String], ["MistralForCausalLM"])
        XCTAssertEqual(object["sliding_window"] as? Int, 8)
        XCTAssertEqual(try configuration(json), c)
    }

    /// A fixture's config.json, edited.
    private func fixtureConfig(_ name: String, _ edit: (inout [String: JSONValue]) -> Void) throws -> Data {
        let path = ParityReference.directory(name) + "/config.json"
        var object = try JSONDecoder().decode([String: JSONValue].self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        edit(&object)
        return try JSONEncoder().encode(object)
    }

    private func configuration(_ json: Data) throws -> ModelConfiguration {
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: json) as? [String: Any])
        let architecture = try ModelArchitecture(identifier: object["model_type"] as! String, source: "config.json")
        return try architecture.definition.configuration(json: json, source: "config.json")
    }
}

/// A fixture's reference.json (Scripts/make-parity-fixtures.py).
struct ParityReference: Decodable {
    struct Prompt: Decodable {
        var text: String
        var chat: Bool
        var ids: [Int]
        var top10IDs: [Int]
        var top10Logits: [Float]
        var greedyIDs: [Int]
        enum CodingKeys: String, CodingKey {
            case text, chat, ids, top10IDs = "top10_ids", top10Logits = "top10_logits", greedyIDs = "greedy_ids"
        }
    }
    var prompts: [Prompt]
    /// The checkpoint directory: the fixture's own, or the one `checkpoint` names (relative to the repository).
    var checkpoint: String

    enum CodingKeys: String, CodingKey { case prompts, checkpoint }

    init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        prompts = try c.decode([Prompt].self, forKey: .prompts)
        checkpoint = try c.decodeIfPresent(String.self, forKey: .checkpoint) ?? ""
    }

    /// The fixtures, in the order the docs list them.
    static let names = [
        "llama", "llama31-rope", "qwen2", "qwen2-untied", "qwen3", "gemma3-text", "gemma3-text-legacy",
        "mistral-sliding", "gemma2", "gemma3-multimodal",
    ]

    static func directory(_ name: String) -> String { Fixtures.checkpoint("parity/" + name) }

    static func load(_ name: String) throws -> ParityReference {
        let directory = directory(name)
        var r = try JSONDecoder().decode(
            ParityReference.self, from: Data(contentsOf: URL(fileURLWithPath: directory + "/reference.json")))
        r.checkpoint = r.checkpoint.isEmpty
            ? directory : Fixtures.repositoryRoot.appendingPathComponent(r.checkpoint).path
        return r
    }
}
