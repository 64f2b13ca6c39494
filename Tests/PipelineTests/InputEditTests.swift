import Foundation
import XCTest
import TestSupport
@testable import AbliterationCore
@testable import AbliterationPipeline
@testable import LanguageModels
import TensorKit

/// `--targets inputs`: the weights that read the residual stream are edited through the gains of the norms
/// they read through (`InputOrthogonalizer`), on Llama (the norm before the MLP is `post_attention_layernorm`)
/// and Gemma 3 (`pre_feedforward_layernorm`), with random-weight fixtures.
final class InputEditTests: XCTestCase {
    func testTargetListNamesTheReadersAndDropsRepeats() throws {
        XCTAssertEqual(try EditTarget.parseList("inputs"), EditTarget.readers)
        XCTAssertEqual(try EditTarget.parseList("o_proj, inputs,q_proj"), [.attentionOutput] + EditTarget.readers)
        XCTAssertEqual(try EditTarget.parseList("gate_proj,up_proj"), [.mlpGate, .mlpUp])
        XCTAssertThrowsError(try EditTarget.parseList("o_proj,lm_head")) {
            XCTAssertTrue("\($0)".contains("unknown target 'lm_head'; use o_proj, down_proj, embed, q_proj, k_proj, v_proj, gate_proj, up_proj or inputs"), "\($0)")
        }
    }

    func check(_ fixture: String, plan: String, mlpNorm: String) throws {
        let session = try ModelSession.load(path: Fixtures.checkpoint("parity/\(fixture)"))
        let harmful = PromptSet.evenlySpaced(try PromptSet.builtIn(.harmful, split: .train), count: 6)
        let harmless = PromptSet.evenlySpaced(try PromptSet.builtIn(.harmless, split: .train), count: 6)
        let measurements = try ResidualMeasurement.measure(session: session, harmful: harmful, harmless: harmless)
        let layerPlan = try LayerPlan(parsing: plan)
        let options = AblationOptions(targets: EditTarget.readers)
        XCTAssertFalse(ModelEditor.editsActivations(options), "reading edits are weight edits")
        let edits = try ModelEditor.plannedEdits(plan: layerPlan, measurements: measurements, options: options, model: session.model)
        XCTAssertEqual(edits.count, 5 * layerPlan.targetLayers.count)
        for edit in edits {
            XCTAssertEqual(edit.orientation, .readsFromResidual, edit.name)
            XCTAssertNil(edit.outputGain, edit.name)
            let layer = try XCTUnwrap(edit.layer)
            let norm = edit.name.contains(".mlp.") ? mlpNorm : "input_layernorm.weight"
            XCTAssertEqual(edit.inputGain, try session.model.weights.vector("model.layers.\(layer).\(norm)"), edit.name)
        }
        let originals = try edits.map { try session.model.weights.float32($0.name) }
        let (summaries, records) = try ModelEditor.apply(plan: layerPlan, measurements: measurements, options: options, to: session.model)
        XCTAssertEqual(summaries.count, edits.count)
        for (edit, (summary, original)) in zip(edits, zip(summaries, originals)) {
            XCTAssertTrue(summary.reads && summary.normAware, edit.name)
            // What the edited weight reads along g ⊙ r̂ is gone; the rest of W is kept.
            XCTAssertLessThan(summary.remainingProjection, 1e-5, edit.name)
            let a = zip(edit.direction.unit, edit.inputGain!).map { $0 * $1 }
            let edited = try session.model.weights.float32(edit.name)
            let b = try Tensor.matvec(original, a)  // (out): what W read along g ⊙ r̂
            XCTAssertGreaterThan(b.reduce(0.0) { $0 + Double($1) * Double($1) }, 0, "\(edit.name) read something along g ⊙ r̂")
            var restored = edited
            try Orthogonalizer.undo(try XCTUnwrap(records[edit.name]), on: &restored, name: edit.name)
            let error = zip(restored.scalars, original.scalars).map { abs($0 - $1) }.max() ?? 0
            XCTAssertLessThan(error, 1e-5 * (original.scalars.map(abs).max() ?? 1), edit.name)
        }
        // The norm-preserving edit keeps what a weight writes; a reader is refused, naming it.
        XCTAssertThrowsError(try ModelEditor.apply(
            plan: layerPlan, measurements: measurements, options: AblationOptions(norms: .vectors, targets: [.mlpUp]),
            to: session.model)) {
            XCTAssertTrue("\($0)".contains("mlp.up_proj.weight reads it"), "\($0)")
        }
    }

    func testLlamaReadersAreEditedThroughTheirInputNorms() throws {
        try check("llama", plan: "1:1-1", mlpNorm: "post_attention_layernorm.weight")
    }

    func testGemma3ReadersAreEditedThroughTheirInputNorms() throws {
        try check("gemma3-text", plan: "2:2-3", mlpNorm: "pre_feedforward_layernorm.weight")
    }
}
