import Foundation
import XCTest
import TestSupport
@testable import AbliterationCore
@testable import AbliterationPipeline
@testable import LanguageModels
import TensorKit

/// The norm-aware edit on the real Gemma 3 270M: after it, what every edited block writes into the
/// residual (o_proj and down_proj outputs after Gemma's post-norms) has no component along r̂, over
/// real prompts; the plain edit leaves most of it.
final class GemmaNormAwareEditTests: XCTestCase {
    /// For each edited block ℓ and sublayer, ‖X r̂‖ over the captured rows X (prompts × last 4 tokens).
    func writesAlong(_ direction: [Float], session: ModelSession, prompts: [[Int]], blocks: ClosedRange<Int>) throws -> [String: Double] {
        let points = blocks.flatMap { [ResidualPoint.attentionWrite($0), .feedForwardWrite($0)] }
        let out = try session.model.forward(
            batch: prompts, capture: ResidualCapture(points: points, positions: [.last, .fromEnd(1), .fromEnd(2), .fromEnd(3)]))
        var result: [String: Double] = [:]
        for point in points {
            let x = try XCTUnwrap(out.residuals[point])
            let p = try Tensor.matvec(x, direction)  // (rows)
            result["\(point)"] = p.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
        }
        return result
    }

    func testNormAwareEditRemovesTheDirectionFromEveryEditedBlocksResidualWrite() throws {
        let session = try ModelSession.load(path: try TestModels.gemma3())
        let harmful = PromptSet.evenlySpaced(try PromptSet.builtIn(.harmful, split: .train), count: 24)
        let harmless = PromptSet.evenlySpaced(try PromptSet.builtIn(.harmless, split: .train), count: 24)
        let measurements = try ResidualMeasurement.measure(session: session, harmful: harmful, harmless: harmless)
        let plan = try LayerPlan(parsing: "9:3-14")
        let r = try measurements.direction(at: 9, method: .projected).unit
        let test = PromptSet.evenlySpaced(try PromptSet.builtIn(.harmful, split: .test), count: 6)
            + PromptSet.evenlySpaced(try PromptSet.builtIn(.harmless, split: .test), count: 6)
        let prompts = try test.map { try session.promptTokens($0) }
        let blocks = 3...14

        let original = try writesAlong(r, session: session, prompts: prompts, blocks: blocks)
        let edited = try ModelEditor.plannedEdits(
            plan: plan, measurements: measurements, options: AblationOptions(), model: session.model)
        XCTAssertEqual(ModelEditor.appliedDirectionMode(edited), .normAware, "auto is norm-aware on Gemma 3")
        let saved = try edited.map { ($0.name, try session.model.weights.float32($0.name)) }
        func restore() throws { for (n, w) in saved { try session.model.weights.replace(n, with: w) } }

        var ratios: [String: [Double]] = [:]
        for mode in [EditDirectionMode.normAware, .plain] {
            try restore()
            try ModelEditor.apply(plan: plan, measurements: measurements, options: AblationOptions(direction: mode), to: session.model)
            let after = try writesAlong(r, session: session, prompts: prompts, blocks: blocks)
            ratios[mode.rawValue] = original.keys.sorted().map { after[$0]! / original[$0]! }
        }
        try restore()
        let aware = ratios["norm-aware"]!.sorted(), plain = ratios["plain"]!.sorted()
        print(String(format: "residual write along r̂ after / before over %d block writes: norm-aware median %.2e worst %.2e; plain median %.3f worst %.3f",
                     aware.count, aware[aware.count / 2], aware.last!, plain[plain.count / 2], plain.last!))
        XCTAssertEqual(aware.count, 24)
        XCTAssertLessThanOrEqual(aware.last!, 0.01, "every edited block's write keeps ≤ 1% of its component along r̂")
        XCTAssertGreaterThan(plain[plain.count / 2], 0.1, "the plain edit leaves a large part of it (Gemma's post-norm gains)")
    }

    /// Gemma 2 has the same post-norms (its recipe is Gemma 3's), so `--edit-direction auto` is norm-aware
    /// there too, and the edit removes r̂ from every edited block's write: on the `gemma2` parity fixture
    /// (random weights, so only the math is checked, not a refusal).
    func testAutoIsNormAwareOnGemma2AndRemovesTheDirectionFromItsWrites() throws {
        let session = try ModelSession.load(path: Fixtures.checkpoint("parity/gemma2"))
        XCTAssertEqual(session.model.configuration.architecture, .gemma2)
        let harmful = PromptSet.evenlySpaced(try PromptSet.builtIn(.harmful, split: .train), count: 8)
        let harmless = PromptSet.evenlySpaced(try PromptSet.builtIn(.harmless, split: .train), count: 8)
        let measurements = try ResidualMeasurement.measure(session: session, harmful: harmful, harmless: harmless)
        let plan = try LayerPlan(parsing: "2:0-3")
        let r = try measurements.direction(at: 2, method: .projected).unit
        let test = PromptSet.evenlySpaced(try PromptSet.builtIn(.harmful, split: .test), count: 4)
            + PromptSet.evenlySpaced(try PromptSet.builtIn(.harmless, split: .test), count: 4)
        let prompts = try test.map { try session.promptTokens($0) }

        let original = try writesAlong(r, session: session, prompts: prompts, blocks: 0...3)
        let edits = try ModelEditor.plannedEdits(plan: plan, measurements: measurements, options: AblationOptions(), model: session.model)
        XCTAssertEqual(ModelEditor.appliedDirectionMode(edits), .normAware, "auto is norm-aware on Gemma 2")
        XCTAssertEqual(edits.filter { $0.outputGain != nil }.count, 8, "o_proj and down_proj of blocks 0-3")
        try ModelEditor.apply(plan: plan, measurements: measurements, options: AblationOptions(), to: session.model)
        let after = try writesAlong(r, session: session, prompts: prompts, blocks: 0...3)
        let ratios = original.keys.sorted().map { after[$0]! / original[$0]! }
        print(String(format: "gemma2 fixture: residual write along r̂ after / before over %d block writes, auto (norm-aware): worst %.2e",
                     ratios.count, ratios.max()!))
        XCTAssertEqual(ratios.count, 8)
        XCTAssertLessThanOrEqual(ratios.max()!, 0.01, "every edited block's write keeps ≤ 1% of its component along r̂")
    }

    func testNormAwareIsRefusedForAModelWithoutOutputNorms() throws {
        let session = try ModelSession.load(path: try TestModels.smolLM2())
        let harmful = Array(try PromptSet.builtIn(.harmful, split: .train).prefix(2))
        let harmless = Array(try PromptSet.builtIn(.harmless, split: .train).prefix(2))
        let m = try ResidualMeasurement.measure(session: session, harmful: harmful, harmless: harmless)
        let plan = try LayerPlan(parsing: "20:19-20")
        let auto = try ModelEditor.plannedEdits(plan: plan, measurements: m, options: AblationOptions(), model: session.model)
        XCTAssertEqual(ModelEditor.appliedDirectionMode(auto), .plain)
        XCTAssertTrue(auto.allSatisfy { $0.outputGain == nil })
        XCTAssertThrowsError(try ModelEditor.plannedEdits(
            plan: plan, measurements: m, options: AblationOptions(direction: .normAware), model: session.model)) { e in
            XCTAssertTrue("\(e)".contains("model.layers.19.self_attn.o_proj.weight"), "\(e)")
        }
    }
}
