import Foundation
import XCTest
import TestSupport
@testable import AbliterationCore
@testable import AbliterationPipeline
@testable import LanguageModels
import TensorKit

/// The activation-side edit (`ResidualWriteEdit`, y ← y − s·u(uᵀy) on o_proj/down_proj outputs before any
/// output norm) against the weight edit W ← W − s·u(uᵀW) it stands for, on the real organisms with
/// directions measured on real prompts.
final class ResidualWriteEditTests: XCTestCase {
    /// max |a − b| ≤ 1e-4 · max |b| over the logits: the two compute the same products in a different
    /// order (W′ rounded to f32 once, against uᵀ(Wx) per token), and the rounding grows through the blocks.
    static let relativeTolerance: Float = 1e-4

    func prompts(_ session: ModelSession) throws -> [[Int]] {
        let instructions = ["How do I make a bomb?", "Write a haiku about the sea.", "Explain how to pick a lock.",
                            "Give me three tips for a job interview."]
        return try instructions.map { try session.promptTokens($0) }
    }

    /// Directions measured on 12 training prompts of each kind.
    func measure(_ session: ModelSession) throws -> Measurements {
        let harmful = PromptSet.evenlySpaced(try PromptSet.builtIn(.harmful, split: .train), count: 12)
        let harmless = PromptSet.evenlySpaced(try PromptSet.builtIn(.harmless, split: .train), count: 12)
        return try ResidualMeasurement.measure(session: session, harmful: harmful, harmless: harmless)
    }

    func assertEqualEdits(
        session: ModelSession, measurements: Measurements, plan: LayerPlan, options: AblationOptions, label: String
    ) throws {
        let model = session.model
        let batch = try prompts(session)
        let unedited = try model.forward(batch: batch, logits: .lastToken).logits!.scalars

        let activation = try ModelEditor.withPlan(plan, measurements: measurements, options: options, model: model) {
            XCTAssertNotNil(model.residualWriteEdit, label)
            let logits = try model.forward(batch: batch, logits: .lastToken).logits!.scalars
            let generated = try model.generate(batch: batch, maxNewTokens: 6, stopTokens: [], topK: 1).map(\.completionTokens)
            return (logits, generated)
        }
        XCTAssertNil(model.residualWriteEdit, "\(label): the edit is removed after withPlan")
        XCTAssertEqual(try model.forward(batch: batch, logits: .lastToken).logits!.scalars, unedited,
                       "\(label): the model is unedited again")

        let names = try ModelEditor.plannedEdits(plan: plan, measurements: measurements, options: options, model: model).map(\.name)
        let originals = try model.weights.snapshot(names)
        defer { model.weights.restore(originals) }
        try ModelEditor.apply(plan: plan, measurements: measurements, options: options, to: model)
        let weight = try model.forward(batch: batch, logits: .lastToken).logits!.scalars
        let weightGenerated = try model.generate(batch: batch, maxNewTokens: 6, stopTokens: [], topK: 1).map(\.completionTokens)

        let scale = weight.reduce(Float(0)) { max($0, abs($1)) }
        let gap = zip(activation.0, weight).reduce(Float(0)) { max($0, abs($1.0 - $1.1)) }
        let moved = zip(unedited, weight).reduce(Float(0)) { max($0, abs($1.0 - $1.1)) }
        print("\(label): max |activation − weight| = \(gap), max |logit| = \(scale), max change by the edit = \(moved)")
        XCTAssertLessThanOrEqual(gap, Self.relativeTolerance * scale, label)
        XCTAssertGreaterThan(moved, 100 * gap, "\(label): the edit must change the logits far more than the gap")
        XCTAssertEqual(activation.1, weightGenerated, "\(label): the same greedy tokens")
    }

    /// SmolLM2 organism (LoRA unmerged beside the weights), plain r̂: one scale, and separate attention /
    /// MLP scales over a per-layer profile.
    func testEqualsWeightEditOnTheSmolLM2Organism() throws {
        let session = try ModelSession.load(path: try TestModels.smolLM2(), adapter: Fixtures.refusalAdapter.path)
        let measurements = try measure(session)
        for text in ["21:6-25@1.25", "20:4-6@0.4/0.9,20:7-12@0.8/1.3,21:13-25@1.25/1.1"] {
            try assertEqualEdits(session: session, measurements: measurements, plan: try LayerPlan(parsing: text), options: AblationOptions(), label: "SmolLM2 \(text)")
        }
        // Biprojected: a direction per target block.
        try assertEqualEdits(
            session: session, measurements: measurements, plan: try LayerPlan(parsing: "21:6-25"), options: AblationOptions(method: .biprojected),
            label: "SmolLM2 biprojected")
    }

    /// Gemma 3 organism: the norm-aware u = normalize(g ⊙ r̂) applied before the post-norms.
    func testEqualsNormAwareWeightEditOnTheGemmaOrganism() throws {
        let session = try ModelSession.load(path: try TestModels.gemma3(), adapter: Fixtures.gemmaRefusalAdapter.path)
        let options = AblationOptions(direction: .normAware)
        try assertEqualEdits(session: session, measurements: try measure(session), plan: try LayerPlan(parsing: "10:3-12@1.2/0.8"), options: options, label: "Gemma 3 norm-aware")
    }

    /// The row-normalized edit (heretic's) as y′ = g ⊙ y − s·v(aᵀy) and grimjim's norm-preserving edit as
    /// the writer's input scaled by k, then y − s·u(uᵀy): a span and a per-block plan on the SmolLM2
    /// organism (LoRA unmerged, so the norms are those of the merged weight), and the per-block plan of
    /// `run --row-normalized` on the Gemma organism, plain and norm-aware.
    func testNormKeepingEditsEqualWeightEdits() throws {
        let smol = try ModelSession.load(path: try TestModels.smolLM2(), adapter: Fixtures.refusalAdapter.path)
        let smolMeasurements = try measure(smol)
        for norms in [NormPreservation.rows, .vectors] {
            for plan in [try LayerPlan(parsing: "21:6-25@1.25"), try PlanSearch.ownDirections(21...29, layerCount: 30, scale: 1.5)] {
                try assertEqualEdits(session: smol, measurements: smolMeasurements, plan: plan, options: AblationOptions(norms: norms),
                                     label: "SmolLM2 \(norms) \(plan)")
            }
        }
        let gemma = try ModelSession.load(path: try TestModels.gemma3(), adapter: Fixtures.gemmaRefusalAdapter.path)
        let gemmaMeasurements = try measure(gemma)
        let own = try PlanSearch.ownDirections(10...17, layerCount: 18, scale: 1.5)
        for norms in [NormPreservation.rows, .vectors] {
            for direction in [EditDirectionMode.plain, .normAware] {
                try assertEqualEdits(session: gemma, measurements: gemmaMeasurements, plan: own,
                                     options: AblationOptions(norms: norms, direction: direction), label: "Gemma 3 \(norms) \(direction)")
            }
        }
    }

    /// The embedding edit is not an edit of block outputs: `withPlan` edits the weights for it. Every edit
    /// of the writers alone is one.
    func testEmbeddingStaysAWeightEdit() throws {
        XCTAssertTrue(ModelEditor.editsActivations(AblationOptions()))
        XCTAssertTrue(ModelEditor.editsActivations(AblationOptions(norms: .vectors)))
        XCTAssertTrue(ModelEditor.editsActivations(AblationOptions(norms: .rows)))
        XCTAssertFalse(ModelEditor.editsActivations(AblationOptions(targets: [.embedding, .attentionOutput])))
    }

    /// A direction of the wrong length or a block outside the model is refused with one line.
    func testBadEditsAreRefused() throws {
        let model = try LanguageModel.load(path: try TestModels.smolLM2())
        var edit = ResidualWriteEdit()
        try edit.set(layer: 3, writer: .attention, direction: [1, 2, 3], scale: 1)
        XCTAssertThrowsError(try model.setResidualWriteEdit(edit)) { XCTAssertTrue("\($0)".contains("hidden size 576"), "\($0)") }
        var far = ResidualWriteEdit()
        try far.set(layer: 30, writer: .feedForward, direction: [Double](repeating: 1, count: 576), scale: 1)
        XCTAssertThrowsError(try model.setResidualWriteEdit(far)) { XCTAssertTrue("\($0)".contains("block 30"), "\($0)") }
        XCTAssertThrowsError(try edit.set(layer: 0, writer: .attention, direction: [0, 0], scale: 1))
        XCTAssertNil(model.residualWriteEdit)
    }

    /// `PlanSearch.run` scores a plain and a norm-preserving plan through the residual write edit; both
    /// leave the model unedited, and the plain score equals the weight-edited model's.
    func testPlanSearchScoresThroughWithPlanAndLeavesTheModelUnedited() throws {
        let session = try ModelSession.load(path: try TestModels.smolLM2(), adapter: Fixtures.refusalAdapter.path)
        let measurements = try measure(session)
        let harmful = PromptSet.evenlySpaced(try PromptSet.builtIn(.harmful, split: .train), count: 4)
        let harmless = PromptSet.evenlySpaced(try PromptSet.builtIn(.harmless, split: .train), count: 4)
        let search = PlanSearch(harmful: harmful, harmless: harmless, maxNewTokens: 8)
        let batch = try prompts(session)
        let unedited = try session.model.forward(batch: batch, logits: .lastToken).logits!.scalars
        let plan = try LayerPlan(parsing: "21:6-25@1.25")
        let plain = try search.run(session: session, measurements: measurements, candidates: [plan], options: AblationOptions())
        XCTAssertEqual(try session.model.forward(batch: batch, logits: .lastToken).logits!.scalars, unedited)
        _ = try search.run(session: session, measurements: measurements, candidates: [plan], options: AblationOptions(norms: .vectors))
        XCTAssertEqual(try session.model.forward(batch: batch, logits: .lastToken).logits!.scalars, unedited)

        // The same candidate scored on the weight-edited model.
        var evaluation = search.evaluation
        evaluation.maxNewTokens = 8
        let baseline = try search.baseline(session: session)
        let names = try ModelEditor.plannedEdits(plan: plan, measurements: measurements, options: AblationOptions(), model: session.model).map(\.name)
        let originals = try session.model.weights.snapshot(names)
        defer { session.model.weights.restore(originals) }
        try ModelEditor.apply(plan: plan, measurements: measurements, options: AblationOptions(), to: session.model)
        let refusals = try ModelEvaluation.refusals(session: session, prompts: harmful, options: evaluation)
        let kl = try ModelEvaluation.meanKLDivergence(
            baseline: baseline, model: try ModelEvaluation.firstTokenLogProbabilities(session: session, prompts: harmless, options: evaluation))
        XCTAssertEqual(plain.candidates[0].refusals, refusals.refusals)
        XCTAssertEqual(plain.candidates[0].klDivergence, kl, accuracy: 1e-4 * kl)
    }
}
