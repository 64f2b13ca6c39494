import Foundation
import XCTest
import TestSupport
@testable import AbliterationPipeline
import AbliterationCore

/// `--by-behaviour`: the harmful prompts the model refuses and the harmless ones it answers, judged as the
/// evaluation judges them.
final class BehaviourSelectionTests: XCTestCase {
    /// On the refusal organism, 24 + 24 training prompts: the kept prompts are exactly those the full-length
    /// responses judge so, and the organism refuses some harmless prompts (why the option exists).
    func testKeepsWhatTheModelRefusesAndAnswers() throws {
        let (session, train, _) = try SmallOrganismMeasurement.load()
        let harmful = PromptSet.evenlySpaced(train.harmful, count: 24), harmless = PromptSet.evenlySpaced(train.harmless, count: 24)
        let options = EvaluationOptions(maxNewTokens: BehaviourSelection.defaultMaxNewTokens)
        let selection = try BehaviourSelection.select(session: session, harmful: harmful, harmless: harmless, options: options)
        let judgedHarmful = try ModelEvaluation.refusals(session: session, prompts: harmful, options: options)
        let judgedHarmless = try ModelEvaluation.refusals(session: session, prompts: harmless, options: options)
        XCTAssertEqual(selection.harmful, harmful.indices.filter { judgedHarmful.responses[$0].refusal })
        XCTAssertEqual(selection.harmless, harmless.indices.filter { !judgedHarmless.responses[$0].refusal })
        XCTAssertEqual(selection.keptHarmful(harmful).count, judgedHarmful.refusals)
        XCTAssertEqual(selection.harmfulTotal, 24)
        XCTAssertEqual(selection.harmlessTotal, 24)
        XCTAssertGreaterThan(judgedHarmless.refusals, 0, "the organism refuses some harmless training prompts")
        XCTAssertLessThan(selection.harmless.count, 24)
        XCTAssertEqual(selection.summary, "refused \(judgedHarmful.refusals)/24 harmful, answered \(24 - judgedHarmless.refusals)/24 harmless")

        // A set with nothing to keep is refused, naming it.
        let answered = selection.keptHarmless(harmless), refused = selection.keptHarmful(harmful)
        XCTAssertThrowsError(try BehaviourSelection.select(session: session, harmful: answered, harmless: answered, options: options)) {
            XCTAssertTrue("\($0)".contains("refuses none of the \(answered.count) harmful training prompts"), "\($0)")
        }
        XCTAssertThrowsError(try BehaviourSelection.select(session: session, harmful: refused, harmless: refused, options: options)) {
            XCTAssertTrue("\($0)".contains("refuses all \(refused.count) harmless training prompts"), "\($0)")
        }
    }

    /// `measure --by-behaviour` measures the kept prompts and says how many it kept.
    func testMeasureCommandMeasuresTheKeptPrompts() throws {
        let dir = NSTemporaryDirectory() + "behaviour-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let train = (harmful: try PromptSet.builtIn(.harmful, split: .train), harmless: try PromptSet.builtIn(.harmless, split: .train))
        try PromptSet.evenlySpaced(train.harmful, count: 12).joined(separator: "\n").write(toFile: dir + "/harmful.txt", atomically: true, encoding: .utf8)
        try PromptSet.evenlySpaced(train.harmless, count: 12).joined(separator: "\n").write(toFile: dir + "/harmless.txt", atomically: true, encoding: .utf8)
        let r = try CommandLineTool.abliterate([
            "measure", "--model", try TestModels.smolLM2(), "--adapter", Fixtures.refusalAdapter.path,
            "--harmful", dir + "/harmful.txt", "--harmless", dir + "/harmless.txt", "--by-behaviour", "--output", dir + "/m.safetensors",
        ])
        XCTAssertEqual(r.status, 0, r.stderr)
        let line = try XCTUnwrap(r.stderr.split(separator: "\n").first { $0.hasPrefix("by behaviour: ") }, r.stderr)
        let counts = try XCTUnwrap(line.wholeMatch(of: try Regex(#"by behaviour: refused (\d+)/12 harmful, answered (\d+)/12 harmless"#)))
        let (refused, answered) = (String(counts[1].substring!), String(counts[2].substring!))
        XCTAssertTrue(r.stdout.contains("wrote \(dir)/m.safetensors: \(refused) harmful, \(answered) harmless prompts"), r.stdout)
        XCTAssertLessThan(Int(answered)!, 12)
    }
}
