import Foundation
import XCTest
import TestSupport
@testable import AbliterationCore
@testable import AbliterationPipeline
@testable import LanguageModels
import TensorKit

/// `abliterate run` with its defaults on the refusal organism (SmolLM2-135M-Instruct + refusal-lora-a),
/// done once and shared by the tests below. Run in release: it generates a few thousand tokens.
enum OrganismRun {
    struct Outcome {
        var report: AbliterationRun.Report
        var output: String
    }

    nonisolated(unsafe) static var cached: Result<Outcome, Error>?

    static func outcome() throws -> Outcome {
        if let cached { return try cached.get() }
        let result = Result<Outcome, Error> {
            let output = FileManager.default.temporaryDirectory.appendingPathComponent("abliterate-e2e-\(UUID().uuidString)").path
            let report = try AbliterationRun.run(
                path: try TestModels.smolLM2(), adapter: Fixtures.refusalAdapter.path, output: output,
                options: try AbliterationRun.Options(), log: { print("[run] \($0)") })
            return Outcome(report: report, output: output)
        }
        cached = result
        return try result.get()
    }
}

final class EndToEndTests: XCTestCase {
    func testRunOnTheRefusalOrganismRemovesRefusalAndKeepsKLSmall() throws {
        let outcome = try OrganismRun.outcome()
        let r = outcome.report
        print(r.table)
        XCTAssertGreaterThanOrEqual(r.before.refusalRate, 0.80, "the organism must refuse the harmful test prompts before")
        XCTAssertLessThanOrEqual(r.after.refusalRate, 0.10, "refusal rate after abliteration")
        XCTAssertLessThanOrEqual(r.klDivergence, 0.35, "first-token KL on harmless test prompts")
        XCTAssertEqual(r.before.total, try PromptSet.builtIn(.harmful, split: .test).count)
        for file in ["report.json", "measurements.safetensors", "directions.svg", "config.json", "tokenizer.json", "model.safetensors"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: outcome.output + "/" + file), file)
        }
    }

    /// The report's Pareto front: the search's plans no other beats on both refusals and KL, reaching
    /// from the chosen plan down to its weaker scales (×0.25, ×0.5, ×0.75, each scored).
    func testRunReportsTheParetoFrontOfItsSearch() throws {
        let r = try OrganismRun.outcome().report
        let search = try XCTUnwrap(r.search), front = try XCTUnwrap(r.front)
        let chosen = try LayerPlan(parsing: r.plan)
        for f in PlanSearch.frontFactors {
            let weaker = try chosen.scaled(by: f).description
            XCTAssertTrue(search.contains { $0.plan == weaker }, "\(weaker) scored")
        }
        // The last plans scored fill the front's gaps: each halfway in scale between two plans scored before it.
        let plans = try search.map { try LayerPlan(parsing: $0.plan) }
        for k in plans.count - PlanSearch.frontFills..<plans.count {
            let before = plans[..<k]
            XCTAssertFalse(before.contains { $0.description == plans[k].description })
            XCTAssertTrue(try before.contains { p in try before.contains { try p.scaleMidpoint($0)?.description == plans[k].description } },
                          "\(plans[k]) fills a gap")
        }
        let onFront = search.filter { front.contains($0.plan) }
        XCTAssertEqual(onFront.count, front.count)
        for p in onFront {
            XCTAssertFalse(search.contains { $0.refusals <= p.refusals && $0.klDivergence < p.klDivergence
                || $0.refusals < p.refusals && $0.klDivergence <= p.klDivergence }, "\(p.plan) is dominated")
        }
        for c in search where !front.contains(c.plan) {
            XCTAssertTrue(onFront.contains { $0.refusals <= c.refusals && $0.klDivergence <= c.klDivergence }, "\(c.plan) should be on the front")
        }
        XCTAssertTrue(front.contains(r.plan) || search.contains { $0.plan == r.plan }, "the chosen plan was scored")
        XCTAssertLessThan(onFront.map(\.klDivergence).min()!, search.first { $0.plan == r.plan }!.klDivergence, "the front reaches below the chosen plan's KL")
    }

    func testSavedModelHasEditedTensorsOrthogonalAndTheRestUnchanged() throws {
        let outcome = try OrganismRun.outcome()
        let saved = try ModelSession.load(path: outcome.output)
        let original = try ModelSession.load(path: try TestModels.smolLM2(), adapter: Fixtures.refusalAdapter.path)
        let measurements = try Measurements(contentsOf: outcome.output + "/measurements.safetensors")
        let plan = try LayerPlan(parsing: outcome.report.plan)
        let edits = try ModelEditor.plannedEdits(
            plan: plan, measurements: measurements, options: AblationOptions(), layerCount: 30)
        XCTAssertFalse(edits.isEmpty)
        let edited = Set(edits.map(\.name))
        for edit in edits {
            // W′ = W − s·r̂(r̂ᵀW), so r̂ᵀW′ = (1 − s)·r̂ᵀW: zero at s = 1, the rest of it otherwise.
            let w = try saved.model.weights.float32(edit.name)
            let before = try original.model.weights.float32(edit.name)
            let r = edit.direction.unit
            let projectedAfter = try Tensor.matvec(w, r, transpose: true)       // r̂ᵀW′, (in)
            let projectedBefore = try Tensor.matvec(before, r, transpose: true) // r̂ᵀW, (in)
            let expected = projectedBefore.map { (1 - edit.scale) * $0 }
            let residual = zip(projectedAfter, expected).reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) }.squareRoot()
            let was = projectedBefore.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
            // bf16 storage leaves rounding noise only: far below the component that was removed.
            XCTAssertLessThan(residual / before.norm(), 1e-3, edit.name)
            XCTAssertLessThan(residual, was * abs(Double(edit.scale)) * 0.01, edit.name)
            if edit.scale == 1 { XCTAssertLessThan(projectedAfter.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot(), was * 0.01) }
        }
        // Every other tensor is the original's value rounded to bf16, bit for bit.
        let file = try SafetensorsCheckpoint(directory: outcome.output)
        for name in original.model.weights.names where !edited.contains(name) {
            let stored = try file.tensor(name)
            XCTAssertEqual(stored.type, .dense(.bf16), name)
            let expected = try original.model.weights.float32(name).toBF16().scalars.map(\.bitPattern)
            let got = Array(stored.bytes.bindMemory(to: UInt16.self))
            XCTAssertEqual(got, expected, name)
        }
    }

    func testAblatingAHuggingFaceDirectoryCopiesUntouchedTensorsAndLeavesTheInputAlone() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("abliterate-hf-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: base) }
        let input = base.appendingPathComponent("organism").path
        let output = base.appendingPathComponent("abliterated").path
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        // convert: GGUF + adapter → bf16 Hugging Face directory.
        let organism = try ModelSession.load(path: try TestModels.smolLM2(), adapter: Fixtures.refusalAdapter.path)
        _ = try CheckpointExport.write(session: organism, to: input, dtype: .bf16)
        let inputDigest = try directoryContents(input)

        let session = try ModelSession.load(path: input)
        let measurements = try ResidualMeasurement.measure(
            session: session, harmful: PromptSet.evenlySpaced(try PromptSet.builtIn(.harmful, split: .train), count: 16),
            harmless: PromptSet.evenlySpaced(try PromptSet.builtIn(.harmless, split: .train), count: 16))
        let plan = try LayerPlan(parsing: "20:8-24")
        let edits = try ModelEditor.plannedEdits(plan: plan, measurements: measurements, options: AblationOptions(), layerCount: 30)
        let summary = try CheckpointExport.write(session: session, to: output, edits: edits)
        XCTAssertEqual(summary.edits.count, 34)
        XCTAssertEqual(summary.copiedTensors, 272 - 34)

        XCTAssertTrue(summary.keptInputLayout)
        // A drop-in replacement: the same files, all but the weights byte for byte, the same tensor order.
        let outputDigest = try directoryContents(output)
        XCTAssertEqual(outputDigest.keys.sorted(), inputDigest.keys.sorted())
        for (name, data) in inputDigest where !name.hasSuffix(".safetensors") { XCTAssertEqual(outputDigest[name], data, name) }
        let a = try SafetensorsCheckpoint(directory: input), b = try SafetensorsCheckpoint(directory: output)
        XCTAssertEqual(a.tensorNames, b.tensorNames)
        let edited = Set(edits.map(\.name))
        for name in a.tensorNames {
            let x = try a.tensor(name), y = try b.tensor(name)
            XCTAssertEqual(x.type, y.type, name)
            if edited.contains(name) {
                XCTAssertNotEqual(Array(x.bytes), Array(y.bytes), name)
            } else {
                XCTAssertEqual(Array(x.bytes), Array(y.bytes), name)
            }
        }
        XCTAssertEqual(try directoryContents(input), inputDigest, "the input directory must not change")
        // Writing over an existing directory is refused.
        XCTAssertThrowsError(try CheckpointExport.write(session: session, to: output, edits: edits)) { error in
            XCTAssertTrue("\(error)".contains("already exists"), "\(error)")
        }
    }

    func testMeasuringOnAQ8_0CopyGivesTheSameDirection() throws {
        let harmful = PromptSet.evenlySpaced(try PromptSet.builtIn(.harmful, split: .train), count: 64)
        let harmless = PromptSet.evenlySpaced(try PromptSet.builtIn(.harmless, split: .train), count: 64)
        let full = try ModelSession.load(path: try TestModels.smolLM2(), adapter: Fixtures.refusalAdapter.path)
        let quantized = try ModelSession.load(
            path: try TestModels.smolLM2(), adapter: Fixtures.refusalAdapter.path, quantization: .q8_0)
        let a = try ResidualMeasurement.measure(session: full, harmful: harmful, harmless: harmless)
        let b = try ResidualMeasurement.measure(
            session: quantized, harmful: harmful, harmless: harmless)
        XCTAssertEqual(b.metadata.quantization, "q8_0")
        for row in try MeasurementComparison.cosines(a, b, method: .projected) where (12...25).contains(row.layer) {
            XCTAssertGreaterThanOrEqual(row.cosine, 0.95, "layer \(row.layer)")
        }
    }

    func testCorruptMeasurementsAreRefusedByTheCommand() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("abliterate-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let corrupt = dir.appendingPathComponent("corrupt.safetensors").path
        try Data([1, 2, 3, 4, 5]).write(to: URL(fileURLWithPath: corrupt))
        let result = try CommandLineTool.abliterate([
            "ablate", "--model", try TestModels.smolLM2(), "--measurements", corrupt, "--plan", "20:8-24",
            "--output", dir.appendingPathComponent("out").path,
        ])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.hasPrefix("abliterate ablate: "), result.stderr)
        XCTAssertTrue(result.stderr.contains("corrupt.safetensors"), result.stderr)
        XCTAssertEqual(result.stderr.split(separator: "\n").count, 1, result.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("out").path))

        // Measurements of another model (hidden size 16, 4 layers) are refused by name.
        let other = dir.appendingPathComponent("other.safetensors").path
        try MeasurementsFileTests.synthetic(layers: 4, hidden: 16).write(to: other)
        let mismatch = try CommandLineTool.abliterate([
            "ablate", "--model", try TestModels.smolLM2(), "--measurements", other, "--plan", "2:1-3", "--dry-run",
        ])
        XCTAssertNotEqual(mismatch.status, 0)
        XCTAssertTrue(mismatch.stderr.contains("do not fit"), mismatch.stderr)
    }

    /// Every file of a directory with its bytes.
    func directoryContents(_ path: String) throws -> [String: Data] {
        var out: [String: Data] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: path) {
            out[name] = try Data(contentsOf: URL(fileURLWithPath: path + "/" + name))
        }
        return out
    }
}
