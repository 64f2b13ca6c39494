import Foundation
import TensorKit
import XCTest
@testable import LanguageModels

/// One set of Hugging Face weights written as a GGUF (llama.cpp's conventions) and as a Hugging Face
/// directory must load to the same weights and run to the same outputs, for every architecture.
final class FormatEquivalenceTests: XCTestCase {
    private let prompts = [[1, 5, 9], [3, 4, 5, 6, 7, 8, 9], [10, 20, 30, 40, 50, 60, 61, 62, 63]]

    func testLlamaGGUFAndDirectoryAgree() throws { try checkFormatsAgree(.llama) }
    func testQwen2GGUFAndDirectoryAgree() throws { try checkFormatsAgree(.qwen2) }
    func testQwen3GGUFAndDirectoryAgree() throws { try checkFormatsAgree(.qwen3) }
    func testGemma2GGUFAndDirectoryAgree() throws { try checkFormatsAgree(.gemma2) }
    func testGemma3GGUFAndDirectoryAgree() throws { try checkFormatsAgree(.gemma3) }

    private func checkFormatsAgree(_ architecture: ModelArchitecture) throws {
        let tiny = TinyModel.make(architecture)
        let dir = try temporaryDirectory("formats")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let ggufPath = dir + "/model.gguf"
        try tiny.writeGGUF(to: ggufPath)
        _ = try tiny.writeHFDirectory(to: dir + "/hf")
        let fromGGUF = try LanguageModel.load(path: ggufPath)
        let fromDirectory = try LanguageModel.load(path: dir + "/hf")
        XCTAssertEqual(fromGGUF.configuration, tiny.configuration)
        XCTAssertEqual(fromDirectory.configuration, tiny.configuration)

        // Both read back the Hugging Face values (Q/K unpermuted, Gemma norms as w).
        for (name, shape, values) in tiny.tensors {
            XCTAssertEqual(try fromGGUF.weights.shape(of: name), shape, name)
            XCTAssertLessThanOrEqual(maxAbsDifference(try fromGGUF.weights.float32(name).scalars, values), 1e-6, name)
            XCTAssertEqual(try fromDirectory.weights.float32(name).scalars, values, name)
        }
        let points: [ResidualPoint] = (0...tiny.configuration.layerCount).map { .hiddenState($0) } + [.finalNorm]
        let capture = ResidualCapture(points: points, positions: [.last, .fromStart(1)])
        let a = try fromGGUF.forward(batch: prompts, capture: capture, logits: .lastToken)
        let b = try fromDirectory.forward(batch: prompts, capture: capture, logits: .lastToken)
        for p in points {
            XCTAssertLessThanOrEqual(maxAbsDifference(a.residuals[p]!.scalars, b.residuals[p]!.scalars), 1e-5, "\(p)")
        }
        XCTAssertLessThanOrEqual(maxAbsDifference(a.logits!.scalars, b.logits!.scalars), 1e-5)
        XCTAssertEqual(a.residuals[.hiddenState(0)]!.shape, [prompts.count * 2, tiny.configuration.hiddenSize])
    }

    func testConfigJSONRoundTrips() throws {
        for architecture in ModelArchitecture.allCases {
            let c = TinyModel.make(architecture).configuration
            let json = try architecture.definition.configJSON(c, dtype: "bfloat16")
            let decoded = try architecture.definition.configuration(json: json, source: "config.json")
            XCTAssertEqual(decoded, c, "\(architecture)")
            let object = try XCTUnwrap(JSONSerialization.jsonObject(with: json) as? [String: Any])
            XCTAssertEqual(object["torch_dtype"] as? String, "bfloat16")
            XCTAssertNotNil(object["architectures"] as? [String])
        }
        let gemma = try XCTUnwrap(JSONSerialization.jsonObject(
            with: try Gemma3Architecture.configJSON(TinyModel.make(.gemma3).configuration, dtype: "bfloat16")) as? [String: Any])
        XCTAssertEqual(gemma["model_type"] as? String, "gemma3_text")
        XCTAssertEqual(gemma["architectures"] as? [String], ["Gemma3ForCausalLM"])
        XCTAssertEqual(gemma["query_pre_attn_scalar"] as? Int, 16)
        XCTAssertEqual(gemma["sliding_window_pattern"] as? Int, 6)
    }

    func testTransformers5RopeParametersAreRead() throws {
        let json = """
        {"model_type": "gemma3_text", "hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 6,
         "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 16, "vocab_size": 64, "sliding_window": 4,
         "rope_parameters": {"full_attention": {"rope_type": "linear", "factor": 8.0, "rope_theta": 1000000.0},
                             "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0}}}
        """
        let c = try Gemma3Architecture.configuration(json: Data(json.utf8), source: "config.json")
        XCTAssertEqual(c.ropeScaling, .linear(factor: 8))
        XCTAssertEqual(c.ropeTheta, 1_000_000)
        XCTAssertEqual(c.localRopeTheta, 10000)
        XCTAssertEqual(c.layerSpans.filter { $0 == .full }.count, 1)
    }

    func testBF16DirectoryKeepsBF16AndReadsItsValues() throws {
        let tiny = TinyModel.make(.llama)
        let dir = try temporaryDirectory("bf16")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let decoded = try tiny.writeHFDirectory(to: dir, format: .bf16)
        let model = try LanguageModel.load(path: dir)
        XCTAssertEqual(try model.weights.storageType(of: "model.layers.0.mlp.up_proj.weight"), .dense(.bf16))
        for (name, _, _) in tiny.tensors {
            XCTAssertEqual(try model.weights.float32(name).scalars, decoded[name], name)
        }
        _ = try model.forward(batch: prompts, logits: .lastToken)
    }

    func testNF4DirectoryLoadsPackedAndDecodesLikeBitsAndBytes() throws {
        let tiny = TinyModel.make(.qwen2)
        let dir = try temporaryDirectory("nf4")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let decoded = try tiny.writeHFDirectory(to: dir, format: .nf4)
        let model = try LanguageModel.load(path: dir)
        let name = "model.layers.1.self_attn.o_proj.weight"
        XCTAssertTrue(try model.weights.isBitsAndBytes4Bit(name))
        for (name, _, values) in tiny.tensors {
            XCTAssertEqual(try model.weights.float32(name).scalars, decoded[name] ?? values, name)
        }
        // Row access in the middle of a tensor decodes the same values.
        let rows = try model.weights.rowsFloat32(name, rows: 3..<5)
        XCTAssertEqual(rows.scalars, Array(decoded[name]![(3 * 32)..<(5 * 32)]))
        // NF4 is a coarse copy of the f32 model: same shapes, close but not equal outputs.
        let f32Dir = dir + "-f32"
        defer { try? FileManager.default.removeItem(atPath: f32Dir) }
        _ = try tiny.writeHFDirectory(to: f32Dir)
        let exact = try LanguageModel.load(path: f32Dir)
        let a = try model.forward(batch: prompts, capture: .hiddenStates([1]))
        let b = try exact.forward(batch: prompts, capture: .hiddenStates([1]))
        XCTAssertGreaterThan(cosine(a.residuals[.hiddenState(1)]!.scalars, b.residuals[.hiddenState(1)]!.scalars), 0.9)
    }

    /// A token at position p of a sliding layer sees positions p − W + 1 ... p (transformers'
    /// `kv_idx > q_idx − sliding_window`): with W = 4, block 0's output at position 5 does not
    /// depend on tokens 0 and 1, but does on token 2.
    func testGemmaSlidingWindowSpan() throws {
        let tiny = TinyModel.make(.gemma3)
        let dir = try temporaryDirectory("window")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try tiny.writeGGUF(to: dir + "/m.gguf")
        let model = try LanguageModel.load(path: dir + "/m.gguf")
        XCTAssertEqual(model.configuration.layerSpans[0], .sliding)
        XCTAssertEqual(model.configuration.layerSpans[5], .full)
        let base = [2, 7, 8, 9, 10, 11]
        let farChanged = [2, 30, 8, 9, 10, 11].enumerated().map { $0.offset == 0 ? 40 : $0.element }
        let nearChanged = [2, 7, 31, 9, 10, 11]
        // One prompt per forward pass, so that each token sits in the same row of every matrix product:
        // within one batch the same position of two prompts lies in different rows, which BLAS may sum in
        // another order (OpenBLAS's Haswell kernels did, on an AMD EPYC with OPENBLAS_CORETYPE=Haswell set:
        // bits then differ by rounding, not by what is attended).
        func lastHiddenStates(_ tokens: [Int]) throws -> (block0: [Float], block5: [Float]) {
            let out = try model.forward(batch: [tokens], capture: .hiddenStates([1, 6]))
            return (Array(out.residuals[.hiddenState(1)]!.row(0)), Array(out.residuals[.hiddenState(6)]!.row(0)))
        }
        let (b0, b5) = try lastHiddenStates(base), far = try lastHiddenStates(farChanged), near = try lastHiddenStates(nearChanged)
        XCTAssertEqual(b0, far.block0, "tokens outside the window changed a sliding layer's output")
        XCTAssertNotEqual(b0, near.block0)
        // The global layer (5) sees everything.
        XCTAssertNotEqual(b5, far.block5)
    }
}
