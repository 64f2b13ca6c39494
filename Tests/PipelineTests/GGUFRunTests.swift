import Foundation
import XCTest
import TestSupport
@testable import AbliterationCore
@testable import AbliterationPipeline
@testable import LanguageModels
import TensorKit

/// `run` (`AbliterationRun.run` with `Options.gguf`) on the refusal organism to a GGUF file, with a fixed
/// plan and small prompt subsets. Run in release (`make test`): it generates about a thousand tokens.
final class GGUFRunTests: XCTestCase {
    /// The organism (SmolLM2 Q4_1 + refusal-lora-a) abliterated with the plan the full search chooses,
    /// written as GGUF with changed tensors in Q8_0: the file and its three side files exist; every
    /// tensor is either copied byte for byte or one of the 210 merged ones re-encoded as Q8_0; the
    /// provenance names the plan and the adapter; the written file loads on its own and refuses what the
    /// report says it refuses, far fewer of the harmful test prompts than the organism.
    func testRunWritesAGGUFThatLoadsAndRefusesLess() throws {
        let path = try TestModels.smolLM2()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("abliterate-gguf-run-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("organism-abliterated.gguf").path

        var options = try AbliterationRun.Options()
        options.gguf = .type(.q8_0)
        options.plan = try LayerPlan(parsing: "21:6-25@1.25")
        options.harmfulTrain = PromptSet.evenlySpaced(options.harmfulTrain, count: 64)
        options.harmlessTrain = PromptSet.evenlySpaced(options.harmlessTrain, count: 64)
        options.harmfulTest = PromptSet.evenlySpaced(options.harmfulTest, count: 16)
        options.harmlessTest = PromptSet.evenlySpaced(options.harmlessTest, count: 16)
        options.evaluation.maxNewTokens = 24
        let report = try AbliterationRun.run(
            path: path, adapter: Fixtures.refusalAdapter.path, output: out, options: options, log: { print("[gguf run] \($0)") })
        print(report.table)

        for name in ["organism-abliterated.gguf", "organism-abliterated.report.json",
                     "organism-abliterated.measurements.safetensors", "organism-abliterated.directions.svg"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent(name).path), name)
        }
        let source = try GGUFFile(path: path), written = try GGUFFile(path: out)
        XCTAssertEqual(written.string("abliterate.plan"), "21:6-25@1.25")
        XCTAssertEqual(written.string("abliterate.adapter"), "refusal-lora-a")
        XCTAssertEqual(written.string("abliterate.edited_type"), "Q8_0")
        XCTAssertEqual(written.string("abliterate.edited_tensors"), "\(report.edits.count)")
        XCTAssertEqual(report.edits.count, 40, "20 blocks × (o_proj, down_proj)")
        XCTAssertEqual(written.tensorInfos.map(\.name), source.tensorInfos.map(\.name))
        var reencoded = 0
        for (a, b) in zip(source.tensorInfos, written.tensorInfos) {
            XCTAssertEqual(a.dims, b.dims, a.name)
            if b.type == .q8_0 && a.type != .q8_0 {
                reencoded += 1
            } else {
                XCTAssertEqual(b.type, a.type, a.name)
                XCTAssertEqual(Array(try written.tensor(b.name).bytes), Array(try source.tensor(a.name).bytes), a.name)
            }
        }
        XCTAssertEqual(reencoded, 210, "the adapter's 7 × 30 merged tensors (the edited ones among them)")

        // The file on its own (no adapter) gives the refusals the report measured.
        let reloaded = try ModelSession.load(path: out)
        XCTAssertNil(reloaded.adapter)
        let again = try ModelEvaluation.refusals(session: reloaded, prompts: options.harmfulTest, options: options.evaluation)
        XCTAssertEqual(again.refusals, report.after.refusals)
        XCTAssertEqual(report.before.total, 16)
        XCTAssertGreaterThanOrEqual(report.before.refusals, 13, "the organism refuses the harmful test prompts")
        XCTAssertLessThanOrEqual(report.after.refusals, 3, "the written GGUF refuses far fewer")
        XCTAssertLessThan(report.klDivergence, 0.5, "first-token KL to the organism on harmless prompts")
    }
}
