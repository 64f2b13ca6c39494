import Foundation
import XCTest
import TestSupport
@testable import AbliterationCore
@testable import AbliterationPipeline
@testable import LanguageModels
import TensorKit

/// `abliterate run` on the Gemma 3 refusal organism (gemma-3-270m-q4_k_m.gguf + gemma3-refusal-lora-a)
/// with a fixed plan and prompt subsets, so that it takes about two minutes in release.
///
/// What it checks is what this organism shows today (Docs/results.md, "Gemma 3"): it refuses, the
/// default edit on Gemma 3 is the norm-aware one and is exact in the written model, and the edit lowers
/// the refusal rate. It does not check the end-to-end bounds (≤ 10% refusals at KL ≤ 0.35):
/// no plan tried so far reaches them on this organism.
final class GemmaOrganismTests: XCTestCase {
    func testRunOnTheGemmaOrganismWritesANormAwareEditThatLowersRefusals() throws {
        var options = try AbliterationRun.Options()
        options.plan = try LayerPlan(parsing: "13:4-17@2")
        options.harmfulTrain = PromptSet.evenlySpaced(options.harmfulTrain, count: 64)
        options.harmlessTrain = PromptSet.evenlySpaced(options.harmlessTrain, count: 64)
        options.harmfulTest = PromptSet.evenlySpaced(options.harmfulTest, count: 48)
        options.harmlessTest = PromptSet.evenlySpaced(options.harmlessTest, count: 48)
        options.evaluation.maxNewTokens = 24
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("abliterate-gemma-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: output) }
        let report = try AbliterationRun.run(
            path: try TestModels.gemma3(), adapter: Fixtures.gemmaRefusalAdapter.path, output: output, options: options,
            log: { print("[gemma run] \($0)") })
        print(report.table)
        XCTAssertGreaterThanOrEqual(report.before.refusalRate, 0.70, "the organism refuses the harmful test prompts")
        XCTAssertLessThan(report.after.refusals, report.before.refusals / 2, "the edit at least halves the refusals")
        XCTAssertEqual(report.editDirection, .normAware)
        XCTAssertEqual(report.edits.count, 28)
        XCTAssertTrue(report.edits.allSatisfy(\.normAware))

        // In the written model, uᵀW′ = (1 − s)·uᵀW for u = normalize(g ⊙ r̂), g the (unedited) post-norm gain.
        let saved = try ModelSession.load(path: output)
        let original = try ModelSession.load(path: try TestModels.gemma3(), adapter: Fixtures.gemmaRefusalAdapter.path)
        let measurements = try Measurements(contentsOf: output + "/measurements.safetensors")
        let edits = try ModelEditor.plannedEdits(
            plan: try LayerPlan(parsing: report.plan), measurements: measurements, options: AblationOptions(), model: saved.model)
        for edit in edits {
            let u = try edit.editDirection().map(Float.init)
            let after = try Tensor.matvec(try saved.model.weights.float32(edit.name), u, transpose: true)
            let before = try Tensor.matvec(try original.model.weights.float32(edit.name), u, transpose: true)
            let expected = before.map { (1 - edit.scale) * $0 }
            let error = zip(after, expected).reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) }.squareRoot()
            let was = before.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
            // bf16 storage leaves rounding noise only: far below the weight, and below the part removed.
            XCTAssertLessThan(error / Double(try original.model.weights.float32(edit.name).norm()), 1e-3, edit.name)
            XCTAssertLessThan(error, was * abs(Double(edit.scale)) * 0.01, edit.name)
        }
    }
}
