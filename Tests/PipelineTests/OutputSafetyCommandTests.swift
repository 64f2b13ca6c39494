import Foundation
import XCTest
import TestSupport
@testable import AbliterationCore
@testable import AbliterationPipeline
@testable import LanguageModels

/// The CLI as a user runs it: an output that is an input, or cannot be written, is refused before any
/// work with one line on standard error, a non-zero exit, and the input untouched. Inputs are small
/// stand-in files: the refusal must come before anything is loaded.
final class OutputSafetyCommandTests: XCTestCase {
    private var directory: String!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("OutputSafetyCommandTests-\(UUID().uuidString)", isDirectory: true).path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: directory) }

    private func path(_ name: String) -> String { directory + "/" + name }

    @discardableResult
    private func file(_ name: String, _ bytes: [UInt8] = Array("stand-in model bytes\n".utf8)) throws -> String {
        try Data(bytes).write(to: URL(fileURLWithPath: path(name)))
        return path(name)
    }

    /// Runs the CLI; asserts a non-zero exit, nothing on stdout, exactly one printable stderr line holding
    /// `parts`, and that `unchanged` files still hold their bytes.
    @discardableResult
    private func assertRefused(
        _ arguments: [String], mentions parts: [String], unchanged: [String] = [], status: Int32? = 1,
        file: StaticString = #filePath, line: UInt = #line
    ) throws -> String {
        let before = try unchanged.map { try Data(contentsOf: URL(fileURLWithPath: $0)) }
        let r = try CommandLineTool.abliterate(arguments)
        XCTAssertNotEqual(r.status, 0, file: file, line: line)
        if let status { XCTAssertEqual(r.status, status, r.stderr, file: file, line: line) }
        XCTAssertEqual(r.stdout, "", file: file, line: line)
        XCTAssertTrue(r.stderr.hasSuffix("\n"), r.stderr, file: file, line: line)
        XCTAssertEqual(r.stderr.filter { $0 == "\n" }.count, 1, r.stderr, file: file, line: line)
        for part in parts { XCTAssertTrue(r.stderr.contains(part), "'\(r.stderr)' lacks '\(part)'", file: file, line: line) }
        for scalar in r.stderr.dropLast().unicodeScalars where scalar.value < 0x20 || scalar.value == 0x7F {
            XCTFail("control character U+\(String(scalar.value, radix: 16)) in \(r.stderr)", file: file, line: line)
        }
        for (p, data) in zip(unchanged, before) {
            XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: p)), data, "\(p) changed", file: file, line: line)
        }
        return r.stderr
    }

    func testMeasureRefusesToWriteOverTheModel() throws {
        let model = try file("m.gguf")
        try assertRefused(["measure", "--model", model, "--output", model],
                          mentions: ["abliterate measure: --output \(model) is the input \(model) (--model)"], unchanged: [model])
    }

    func testMeasureRefusesToWriteOverAPromptFile() throws {
        let model = try file("m.gguf")
        let prompts = try file("harmful.txt", Array("How do I pick a lock?\n".utf8))
        try assertRefused(["measure", "--model", model, "--harmful", prompts, "--output", path("sub/../harmful.txt")],
                          mentions: ["(--harmful)"], unchanged: [prompts, model])
    }

    func testMeasureRefusesSymlinkAndHardLinkToTheModel() throws {
        let model = try file("m.gguf")
        try FileManager.default.createSymbolicLink(atPath: path("link.gguf"), withDestinationPath: model)
        try assertRefused(["measure", "--model", path("link.gguf"), "--output", model], mentions: ["(--model)"], unchanged: [model])
        XCTAssertEqual(link(model, path("hard.gguf")), 0)
        try assertRefused(["measure", "--model", model, "--output", path("hard.gguf")], mentions: ["hard link", "(--model)"], unchanged: [model])
    }

    func testAnalyzeRefusesToPlotOverTheMeasurements() throws {
        let m = try file("m.safetensors")
        try assertRefused(["analyze", m, "--plot", m], mentions: ["abliterate analyze: --plot \(m) is the input \(m) (<measurements>)"], unchanged: [m])
    }

    func testConvertAndAblateRefuseOutputsInsideOrOverInputs() throws {
        try FileManager.default.createDirectory(atPath: path("hf"), withIntermediateDirectories: true)
        let config = try file("hf/config.json", Array("{}".utf8))
        try assertRefused(["convert", path("hf"), "--output", path("hf/out")], mentions: ["inside the input directory \(path("hf")) (<model>)"], unchanged: [config])
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("hf/out")))
        let model = try file("m.gguf")
        let m = try file("m.safetensors")
        try assertRefused(["convert", model, "--output", model], mentions: ["is the input \(model) (<model>)"], unchanged: [model])
        try assertRefused(["convert", model, "--output", m], mentions: ["\(m): already exists"], unchanged: [m])
        try assertRefused(["ablate", "--model", model, "--measurements", m, "--plan", "1:0", "--output", m],
                          mentions: ["(--measurements)"], unchanged: [m])
        try assertRefused(["run", "--model", model, "--output", model], mentions: ["(--model)"], unchanged: [model])
    }

    func testOutputsThatCannotBeCreatedAreRefusedFirst() throws {
        let model = try file("m.gguf")
        try assertRefused(["measure", "--model", model, "--output", path("absent/m.safetensors")],
                          mentions: ["cannot create \(path("absent/m.safetensors")): directory \(path("absent")) does not exist"])
        try assertRefused(["measure", "--model", model, "--output", directory], mentions: ["is a directory"])
        try assertRefused(["convert", model, "--output", model + "/out"], mentions: ["cannot create \(model)/out: \(model) is not a directory"])
        #if os(Linux)
        let stderr = try assertRefused(["convert", model, "--output", "/proc/abliterate-test/out"], mentions: ["cannot create /proc/abliterate-test/out: "])
        XCTAssertFalse(stderr.contains("Error Domain"), stderr)
        #endif
    }

    func testStaleStagingIsRemovedWithOneLine() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/true")
        try p.run()
        p.waitUntilExit()
        let dead = p.processIdentifier
        guard kill(dead, 0) != 0 && errno == ESRCH else { throw XCTSkip("pid \(dead) was reused at once") }
        try FileManager.default.createDirectory(atPath: path("out.partial-\(dead)"), withIntermediateDirectories: true)
        try file("out.partial-\(dead)/model-00001-of-00002.safetensors")
        let model = try file("m.gguf")  // not a GGUF: the conversion then fails after the clean-up
        let r = try CommandLineTool.abliterate(["convert", model, "--output", path("out")])
        XCTAssertNotEqual(r.status, 0)
        let lines = r.stderr.split(separator: "\n")
        XCTAssertEqual(lines.count, 2, r.stderr)
        XCTAssertTrue(lines.first?.hasPrefix("removed 1 staging path left by interrupted runs that are no longer running: out.partial-\(dead)") == true, r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("out.partial-\(dead)")))
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("out")))
    }

    // MARK: numbers, limits, plans and prompt files

    func testNegativeNumbersReachValidation() throws {
        let model = try file("m.gguf")
        let m = try file("m.safetensors")
        for (arguments, expected) in [
            (["ablate", "--model", model, "--measurements", m, "--plan", "1:0", "--dry-run", "--scale", "-1"], "--scale must be a finite number greater than 0"),
            (["ablate", "--model", model, "--measurements", m, "--plan", "1:0", "--dry-run", "--scale", "0"], "--scale must be a finite number greater than 0"),
            (["generate", "--model", model, "--prompt", "x", "--max-new-tokens", "-1"], "--max-new-tokens must be at least 1, got -1"),
            (["generate", "--model", model, "--prompt", "x", "--threads", "-1"], "--threads must be at least 1, got -1"),
            (["eval", "--model", model, "--limit", "-1"], "--limit must be at least 1, got -1"),
            (["eval", "--model", model, "--limit", "0"], "--limit must be at least 1, got 0"),
            (["eval", "--model", model, "--max-new-tokens", "-1"], "--max-new-tokens and --batch-size must be positive"),
        ] {
            let r = try CommandLineTool.abliterate(arguments)
            XCTAssertNotEqual(r.status, 0, arguments.joined(separator: " "))
            XCTAssertTrue(r.stderr.contains(expected), "\(arguments): \(r.stderr)")
            XCTAssertFalse(r.stderr.contains("Missing value"), r.stderr)
        }
    }

    func testNegativePlanScaleIsRejectedQuotingTheEntry() throws {
        let model = try file("m.gguf")
        try assertRefused(["run", "--model", model, "--plan", "1:0-1@-2", "--output", path("out")],
                          mentions: ["plan entry '1:0-1@-2': scale -2 must be greater than 0"], unchanged: [model])
    }

    /// A plan that does not fit the model is refused right after loading, before the original is
    /// evaluated and measured (minutes on a real model).
    func testRunRefusesAPlanOutsideTheModelBeforeMeasuring() throws {
        let model = try TestModels.smolLM2()
        let start = Date()
        let r = try CommandLineTool.abliterate(["run", "--model", model, "--plan", "99:0-1", "--output", path("out")])
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("plan entry '99:0-1': measurement layer 99 is outside 0...30"), r.stderr)
        XCTAssertFalse(r.stderr.contains("evaluating"), r.stderr)
        XCTAssertLessThan(Date().timeIntervalSince(start), 30)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("out")))
    }

    func testDirectoryAsPromptFile() throws {
        let model = try file("m.gguf")
        try FileManager.default.createDirectory(atPath: path("prompts"), withIntermediateDirectories: true)
        try assertRefused(["measure", "--model", model, "--harmful", path("prompts"), "--output", path("m.safetensors")],
                          mentions: ["\(path("prompts")) is a directory, not a prompt file"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("m.safetensors")))
    }

    func testFileContentInErrorsIsEscapedOnOneLine() throws {
        var bytes = Array("GGUF".utf8)
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
        u32(3); u64(0); u64(1)
        let key = "k\u{0}\u{1B}]0;pwned\u{7}\n\r" + String(repeating: "x", count: 100_000)
        u64(UInt64(key.utf8.count)); bytes += Array(key.utf8)
        u32(99)
        let model = try file("bad.gguf", bytes)
        let stderr = try assertRefused(["inspect", model], mentions: ["k\\x00\\x1B]0;pwned\\x07\\n\\r", "unknown value type 99"])
        XCTAssertLessThan(stderr.count, 600, stderr)
    }
}
