import Foundation
import XCTest
import TestSupport
@testable import AbliterationCore
@testable import AbliterationPipeline
@testable import LanguageModels

/// `abliterate inspect` as a user runs it.
final class InspectCommandTests: XCTestCase {
    func abliterate(_ arguments: [String]) throws -> CommandLineTool.Result {
        try CommandLineTool.abliterate(arguments)
    }

    func testJSONWithoutTensors() throws {
        let model = try TestModels.smolLM2()
        let result = try abliterate(["inspect", model, "--json", "--no-tensors"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let r = try JSONDecoder().decode(CheckpointInspection.self, from: Data(result.stdout.utf8))
        XCTAssertEqual(r.hyperParameters.layers, 30)
        XCTAssertEqual(r.tensorCount, 272)
        XCTAssertEqual(r.tensors, [])
    }

    func testTextWithTensors() throws {
        let result = try abliterate(["inspect", try TestModels.gemma3()])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("architecture    gemma3"), result.stdout)
        XCTAssertTrue(result.stdout.contains("token_embd.weight"), result.stdout)
    }

    func testBadInputPrintsOneLineAndFails() throws {
        let result = try abliterate(["inspect", "/no/such/model.gguf"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertEqual(result.stderr, "abliterate inspect: /no/such/model.gguf: no such file or directory\n")
        XCTAssertEqual(result.stdout, "")
    }
}
