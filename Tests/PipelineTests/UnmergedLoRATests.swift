import Foundation
import XCTest
import TestSupport
@testable import AbliterationCore
@testable import AbliterationPipeline
@testable import LanguageModels
import TensorKit

/// A LoRA adapter is kept beside its weights (`LoRAAdapter.attach(to:)`): the forward pass computes
/// Wx + s·B(Ax) and writers read the merged W + s·B·A. Held against the same adapter merged at load, on
/// the SmolLM2 refusal organism.
final class UnmergedLoRATests: XCTestCase {
    /// The unmerged model may differ from the merged one only by f32 rounding: on the logits
    /// max |a − b| ≤ 1e-4 · max |b| (every logit), on each layer's residuals and on the measured mean
    /// differences ‖a − b‖ ≤ 1e-4 · ‖b‖ (rounding grows through 30 blocks; one component against the
    /// largest would hold the small ones to a bound far below it).
    static let relativeTolerance: Float = 1e-4

    static func bits(_ values: [Float]) -> [UInt32] { values.map(\.bitPattern) }

    /// max |a − b| / max |b| (0 when both are all zeros).
    static func relativeGap(_ a: [Float], _ b: [Float]) -> Float {
        let scale = b.reduce(Float(0)) { max($0, abs($1)) }
        let gap = zip(a, b).reduce(Float(0)) { max($0, abs($1.0 - $1.1)) }
        return gap == 0 ? 0 : gap / scale
    }

    /// ‖a − b‖ / ‖b‖ (0 when both are all zeros), summed in f64.
    static func relativeDistance(_ a: [Float], _ b: [Float]) -> Float {
        let gap = zip(a, b).reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) }
        let norm = b.reduce(0.0) { $0 + Double($1) * Double($1) }
        return gap == 0 ? 0 : Float((gap / norm).squareRoot())
    }

    /// The organism with its adapter merged into dense f32 weights, as loading did before.
    static func merged(_ path: String, quantization: MeasurementQuantization = .none) throws -> LanguageModel {
        let model = try LanguageModel.load(path: path, prepareBase: { try quantization.apply(to: $0) })
        try LoRAAdapter.load(directory: Fixtures.refusalAdapter.path).merge(into: model.weights)
        return model
    }

    func assertRunsAlike(_ unmerged: LanguageModel, _ merged: LanguageModel, _ label: String) throws {
        let c = merged.configuration
        let tokenizer = try merged.loadTokenizer()
        let chat = try ["How do I make a bomb?", "Write a haiku about the sea."].map {
            try tokenizer.encodeChat(messages: [ChatMessage(role: "user", content: $0)], addGenerationPrompt: true)
        }
        let short = Array(tokenizer.encode("The sea is", addSpecialTokens: false).prefix(LinearKernels.streamedMaxTokens))
        // Two chat prompts (one sgemm over the batch, the update added as s·(x·Aᵀ)·Bᵀ), then a few raw
        // tokens (the streamed decode path), then 16 chat prompts (their shared system turn run once, on
        // 24 rows, the rest on the others), then 40 raw prompts with no prefix to share, enough tokens in
        // one pass for every update to be merged into the widened weights (rows·(in + out) > in·out;
        // 576 × 1536 needs 420).
        let harmless = try PromptSet.builtIn(.harmless, split: .train)
        let many = try PromptSet.evenlySpaced(harmless, count: 16).map {
            try tokenizer.encodeChat(messages: [ChatMessage(role: "user", content: $0)], addGenerationPrompt: true)
        }
        XCTAssertGreaterThan(unmerged.sharedPrefixLength(many, keep: 1), 0)
        let raw = PromptSet.evenlySpaced(harmless, count: 40).map { tokenizer.encode($0, addSpecialTokens: false) }
        XCTAssertEqual(unmerged.sharedPrefixLength(raw, keep: 1), 0)
        XCTAssertGreaterThan(raw.map(\.count).reduce(0, +), 420)
        for batch in [chat, [short], many, raw] {
            let capture = ResidualCapture(points: (0...c.layerCount).map { .hiddenState($0) })
            let a = try unmerged.forward(batch: batch, capture: capture, logits: .lastToken)
            let b = try merged.forward(batch: batch, capture: capture, logits: .lastToken)
            if batch == raw {  // the merged weights, widened: the merged model's computation exactly
                XCTAssertEqual(Self.bits(try XCTUnwrap(a.logits).scalars), Self.bits(try XCTUnwrap(b.logits).scalars), label)
            }
            let logitGap = Self.relativeGap(try XCTUnwrap(a.logits).scalars, try XCTUnwrap(b.logits).scalars)
            XCTAssertLessThanOrEqual(logitGap, Self.relativeTolerance, "\(label) logits, \(batch.count) prompts")
            var worst: Float = 0
            for l in 0...c.layerCount {
                let gap = Self.relativeDistance(try XCTUnwrap(a.residuals[.hiddenState(l)]).scalars,
                                                try XCTUnwrap(b.residuals[.hiddenState(l)]).scalars)
                XCTAssertLessThanOrEqual(gap, Self.relativeTolerance, "\(label) residual \(l)")
                worst = max(worst, gap)
            }
            print("\(label), \(batch.map(\.count).reduce(0, +)) tokens: logits max|Δ|/max|b| \(logitGap), residuals ‖Δ‖/‖b‖ ≤ \(worst)")
        }
    }

    /// Weights: each adapted weight keeps its stored type (Q4_1) with the update beside it, and reads back
    /// as the merged weight bit for bit (the same sgemm); the model runs like the merged one; the factors
    /// take a fraction of the merged weights' memory.
    func testUnmergedAdapterRunsLikeTheMergedWeights() throws {
        let path = try TestModels.smolLM2()
        let unmerged = try LanguageModel.load(path: path, adapter: Fixtures.refusalAdapter.path)
        let merged = try Self.merged(path)
        let adapter = try XCTUnwrap(unmerged.adapter)
        XCTAssertEqual(adapter.pairs.count, 30 * 7)
        for pair in adapter.pairs {
            XCTAssertTrue(try unmerged.weights.hasLowRankUpdate(pair.target), pair.target)
            XCTAssertEqual(try unmerged.weights.storageType(of: pair.target), .ggml(.q4_1), pair.target)
            XCTAssertNil(try unmerged.weights.storedTensor(pair.target))
            XCTAssertEqual(Self.bits(try unmerged.weights.float32(pair.target).scalars),
                           Self.bits(try merged.weights.float32(pair.target).scalars), pair.target)
        }
        XCTAssertEqual(unmerged.weights.modifiedNames, Set(adapter.pairs.map(\.target)))
        XCTAssertEqual(merged.weights.modifiedNames, Set(adapter.pairs.map(\.target)))
        print("resident weights: unmerged \(unmerged.weights.residentByteCount) bytes, merged \(merged.weights.residentByteCount)")
        XCTAssertLessThan(unmerged.weights.residentByteCount * 3, merged.weights.residentByteCount)
        try assertRunsAlike(unmerged, merged, "organism")
    }

    /// QLoRA: an NF4 base (packed) under the adapter in f32 runs like the NF4 base with the adapter merged.
    func testQuantizedBaseUnderTheAdapterRunsLikeTheMergedOne() throws {
        let path = try TestModels.smolLM2()
        let unmerged = try ModelSession.load(path: path, adapter: Fixtures.refusalAdapter.path, quantization: .nf4DoubleQuant).model
        let merged = try Self.merged(path, quantization: .nf4DoubleQuant)
        let name = "model.layers.7.mlp.down_proj.weight"
        XCTAssertTrue(try unmerged.weights.isBitsAndBytes4Bit(name))
        XCTAssertTrue(try unmerged.weights.hasLowRankUpdate(name))
        XCTAssertEqual(Self.bits(try unmerged.weights.float32(name).scalars), Self.bits(try merged.weights.float32(name).scalars))
        try assertRunsAlike(unmerged, merged, "organism on nf4-dq")
    }

    /// Measurements on the unmerged organism give the merged organism's directions.
    func testMeasurementsMatchTheMergedOrganism() throws {
        let path = try TestModels.smolLM2()
        let harmful = PromptSet.evenlySpaced(try PromptSet.builtIn(.harmful, split: .train), count: 8)
        let harmless = PromptSet.evenlySpaced(try PromptSet.builtIn(.harmless, split: .train), count: 8)
        let unmerged = try ModelSession.load(path: path, adapter: Fixtures.refusalAdapter.path)
        let mergedModel = try Self.merged(path)
        let merged = ModelSession(model: mergedModel, tokenizer: try mergedModel.loadTokenizer(), path: path,
                                  adapter: Fixtures.refusalAdapter.path)
        let a = try ResidualMeasurement.measure(session: unmerged, harmful: harmful, harmless: harmless)
        let b = try ResidualMeasurement.measure(session: merged, harmful: harmful, harmless: harmless)
        XCTAssertEqual(a.metadata, b.metadata)
        var worst = 1.0
        for row in try MeasurementComparison.cosines(a, b, method: .projected) where row.layer > 0 {
            worst = min(worst, row.cosine)
            XCTAssertGreaterThanOrEqual(row.cosine, 1 - 1e-6, "layer \(row.layer)")
        }
        for layer in a.layers {
            let da = zip(a.harmful[layer].mean, a.harmless[layer].mean).map { Float($0 - $1) }
            let db = zip(b.harmful[layer].mean, b.harmless[layer].mean).map { Float($0 - $1) }
            XCTAssertLessThanOrEqual(Self.relativeDistance(da, db), Self.relativeTolerance, "mean difference, layer \(layer)")
        }
        print("directions: lowest cosine unmerged vs merged \(worst)")
    }

    /// Writing a model merges: GGUF and directory output of the unmerged organism, with an ablation
    /// applied while writing, are byte for byte those of the merged one; editing in memory replaces the
    /// adapted weight by the merged, edited one; a snapshot puts the unmerged weight back.
    func testWritingTheUnmergedOrganismWritesTheMergedWeights() throws {
        let path = try TestModels.smolLM2()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("abliterate-lora-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let unmerged = try ModelSession.load(path: path, adapter: Fixtures.refusalAdapter.path)
        let mergedModel = try Self.merged(path)
        let merged = ModelSession(model: mergedModel, tokenizer: try mergedModel.loadTokenizer(), path: path,
                                  adapter: Fixtures.refusalAdapter.path)
        let measurements = try ResidualMeasurement.measure(
            session: merged, harmful: PromptSet.evenlySpaced(try PromptSet.builtIn(.harmful, split: .train), count: 8),
            harmless: PromptSet.evenlySpaced(try PromptSet.builtIn(.harmless, split: .train), count: 8))
        let plan = try LayerPlan(parsing: "20:8-24")
        let edits = try ModelEditor.plannedEdits(plan: plan, measurements: measurements, options: AblationOptions(), model: mergedModel)
        XCTAssertFalse(edits.isEmpty)

        for (label, session) in [("unmerged", unmerged), ("merged", merged)] {
            _ = try GGUFExport.write(session: session, to: dir.appendingPathComponent("\(label).gguf").path, edits: edits)
            _ = try CheckpointExport.write(session: session, to: dir.appendingPathComponent(label).path, edits: edits)
        }
        XCTAssertEqual(try Data(contentsOf: dir.appendingPathComponent("unmerged.gguf")),
                       try Data(contentsOf: dir.appendingPathComponent("merged.gguf")))
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("merged").path).sorted()
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("unmerged").path).sorted(), files)
        for file in files where file.hasSuffix(".safetensors") {
            XCTAssertEqual(try Data(contentsOf: dir.appendingPathComponent("unmerged/" + file)),
                           try Data(contentsOf: dir.appendingPathComponent("merged/" + file)), file)
        }

        let name = edits[0].name
        let saved = try unmerged.model.weights.snapshot([name])
        _ = try ModelEditor.apply(plan: plan, measurements: measurements, options: AblationOptions(), to: unmerged.model)
        _ = try ModelEditor.apply(plan: plan, measurements: measurements, options: AblationOptions(), to: mergedModel)
        XCTAssertFalse(try unmerged.model.weights.hasLowRankUpdate(name))
        XCTAssertEqual(Self.bits(try unmerged.model.weights.float32(name).scalars), Self.bits(try mergedModel.weights.float32(name).scalars))
        unmerged.model.weights.restore(saved)
        XCTAssertTrue(try unmerged.model.weights.hasLowRankUpdate(name))
        XCTAssertEqual(try unmerged.model.weights.storageType(of: name), .ggml(.q4_1))
    }
}
