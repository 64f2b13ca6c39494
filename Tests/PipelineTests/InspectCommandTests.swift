import Foundation
import XCTest
import TestSupport
@testable import AbliterationCore

/// Runs the built `abliterate` executable (next to the test bundle in the build directory).
final class InspectCommandTests: XCTestCase {
    func abliterate(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        // Linux: the bundle URL is the build directory; macOS: the .xctest bundle inside it.
        let bundle = Bundle(for: InspectCommandTests.self).bundleURL
        let candidates = [bundle, bundle.deletingLastPathComponent()].map { $0.appendingPathComponent("abliterate") }
        guard let executable = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) else {
            throw XCTSkip("abliterate not built next to the tests (run `swift build` first)")
        }
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self))
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
