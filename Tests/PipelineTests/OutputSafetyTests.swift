import Foundation
import XCTest
import TestSupport
@testable import AbliterationCore
@testable import AbliterationPipeline
@testable import LanguageModels

/// `OutputPaths`: an output is never an input, can be written, and stale staging is cleaned up.
final class OutputSafetyTests: XCTestCase {
    private var directory: String!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("OutputSafetyTests-\(UUID().uuidString)", isDirectory: true).path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: directory) }

    private func path(_ name: String) -> String { directory + "/" + name }

    @discardableResult
    private func file(_ name: String, _ text: String = "input bytes") throws -> String {
        try Data(text.utf8).write(to: URL(fileURLWithPath: path(name)))
        return path(name)
    }

    private func assertRefused(
        _ output: String, kind: OutputPaths.Kind = .file, inputs: [(String, String?)], mentions parts: [String],
        file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertThrowsError(try OutputPaths.check(output, kind: kind, inputs: OutputPaths.inputs(inputs)), file: file, line: line) { error in
            guard case AbliterationError.invalidInput(let message) = error else {
                return XCTFail("expected invalidInput, got \(error)", file: file, line: line)
            }
            XCTAssertFalse(message.contains("\n"), message, file: file, line: line)
            for part in parts { XCTAssertTrue(message.contains(part), "'\(message)' lacks '\(part)'", file: file, line: line) }
        }
    }

    // MARK: output is an input

    func testSamePathIsRefusedNamingBoth() throws {
        let model = try file("m.gguf")
        assertRefused(model, inputs: [("--model", model)], mentions: ["--output \(model) is the input \(model) (--model)", "refusing"])
    }

    func testSamePathThroughDotDotAndRelativeSpellingsIsRefused() throws {
        let prompts = try file("harmful.txt")
        try FileManager.default.createDirectory(atPath: path("sub"), withIntermediateDirectories: true)
        assertRefused(path("sub/../harmful.txt"), inputs: [("--model", "/no/such/model.gguf"), ("--harmful", prompts)],
                      mentions: ["(--harmful)"])
        assertRefused(path("./missing/../harmful.txt"), inputs: [("--harmful", prompts)], mentions: ["(--harmful)"])
    }

    func testSymlinkToTheInputIsRefused() throws {
        let model = try file("m.gguf")
        try FileManager.default.createSymbolicLink(atPath: path("link.gguf"), withDestinationPath: model)
        assertRefused(path("link.gguf"), inputs: [("--model", model)], mentions: ["(--model)"])
        assertRefused(model, inputs: [("--model", path("link.gguf"))], mentions: ["(--model)"])
        // A symlinked directory on the way.
        try FileManager.default.createSymbolicLink(atPath: path("alias"), withDestinationPath: directory)
        assertRefused(path("alias/m.gguf"), inputs: [("--model", model)], mentions: ["(--model)"])
    }

    func testHardLinkToTheInputIsRefused() throws {
        let model = try file("m.gguf")
        XCTAssertEqual(link(model, path("hard.gguf")), 0)
        assertRefused(path("hard.gguf"), inputs: [("--model", model)], mentions: ["hard link", "(--model)"])
    }

    func testOutputInsideAnInputDirectoryIsRefused() throws {
        try FileManager.default.createDirectory(atPath: path("hf-model"), withIntermediateDirectories: true)
        assertRefused(path("hf-model/out"), kind: .newDirectory, inputs: [("<model>", path("hf-model"))],
                      mentions: ["inside the input directory", "(<model>)"])
        assertRefused(path("hf-model/m.safetensors"), inputs: [("--adapter", path("hf-model"))], mentions: ["(--adapter)"])
    }

    func testOutputDirectoryHoldingAnInputIsRefused() throws {
        try FileManager.default.createDirectory(atPath: path("work"), withIntermediateDirectories: true)
        try file("work/m.gguf")
        assertRefused(path("work"), kind: .newDirectory, inputs: [("--model", path("work/m.gguf"))],
                      mentions: ["would contain the input", "(--model)"])
    }

    func testUnrelatedPathsPass() throws {
        let model = try file("m.gguf")
        XCTAssertNoThrow(try OutputPaths.check(path("m.safetensors"), kind: .file, inputs: OutputPaths.inputs([("--model", model), ("--adapter", nil)])))
        XCTAssertNoThrow(try OutputPaths.check(path("m.gguf.out"), kind: .newDirectory, inputs: OutputPaths.inputs([("--model", model)])))
        XCTAssertNoThrow(try OutputPaths.check(path("new/deeper/out"), kind: .newDirectory, inputs: OutputPaths.inputs([("--model", model)])))
        // An existing file is replaced atomically: allowed when it is no input.
        let old = try file("old.safetensors")
        XCTAssertNoThrow(try OutputPaths.check(old, kind: .file, inputs: OutputPaths.inputs([("--model", model)])))
        // The write probe leaves nothing behind.
        let left = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.contains("probe") }
        XCTAssertEqual(left, [])
    }

    // MARK: output can be written

    func testOutputsThatCannotBeWrittenAreRefused() throws {
        let model = try file("m.gguf")
        assertRefused(path("absent/m.safetensors"), inputs: [], mentions: ["cannot create", "absent", "does not exist"])
        assertRefused(model + "/out", kind: .newDirectory, inputs: [], mentions: ["cannot create", "is not a directory"])
        assertRefused(directory, inputs: [], mentions: ["is a directory"])
        assertRefused(model, kind: .newDirectory, inputs: [], mentions: ["already exists"])
        assertRefused("", inputs: [], mentions: ["empty"])
        try FileManager.default.createSymbolicLink(atPath: path("dangling"), withDestinationPath: path("nowhere"))
        assertRefused(path("dangling"), inputs: [], mentions: ["symbolic link"])
        #if os(Linux)
        assertRefused("/proc/abliterate-output-test/out", kind: .newDirectory, inputs: [], mentions: ["cannot create /proc/abliterate-output-test/out: "])
        assertRefused("/proc/abliterate-output-test.safetensors", inputs: [], mentions: ["cannot create /proc/abliterate-output-test.safetensors: "])
        #endif
    }

    func testCreateDirectoryFailureIsOneLineWithTheReason() throws {
        let model = try file("m.gguf")
        XCTAssertThrowsError(try OutputPaths.createDirectory(model + "/sub/dir")) { error in
            XCTAssertEqual("\(error)", "cannot create \(model)/sub/dir: Not a directory")
        }
        XCTAssertNoThrow(try OutputPaths.createDirectory(path("a/b/c")))
        var isDirectory: ObjCBool = false
        XCTAssertTrue(FileManager.default.fileExists(atPath: path("a/b/c"), isDirectory: &isDirectory) && isDirectory.boolValue)
    }

    func testResolvedNormalizesMissingTails() throws {
        try FileManager.default.createSymbolicLink(atPath: path("alias"), withDestinationPath: directory)
        let real = OutputPaths.resolved(directory)
        XCTAssertEqual(OutputPaths.resolved(path("alias/x/../y/./z")), real + "/y/z")
        XCTAssertEqual(OutputPaths.resolved(path("alias")), real)
    }

    // MARK: measurements and exports check too

    func testMeasurementsRefuseToOverwriteTheMeasuredModel() throws {
        let model = try file("model.gguf")
        var m = try MeasurementsFileTests.synthetic(layers: 2, hidden: 4)
        m.metadata.model = model
        XCTAssertThrowsError(try m.write(to: model)) { XCTAssertTrue("\($0)".contains("refusing to overwrite an input"), "\($0)") }
        XCTAssertEqual(try String(contentsOfFile: model, encoding: .utf8), "input bytes")
    }

    // MARK: stale staging

    /// The pid of a process that has exited.
    private func deadPID() throws -> pid_t {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/true")
        try p.run()
        p.waitUntilExit()
        let pid = p.processIdentifier
        guard kill(pid, 0) != 0 && errno == ESRCH else { throw XCTSkip("pid \(pid) was reused at once") }
        return pid
    }

    func testStaleStagingOfDeadProcessesIsRemoved() throws {
        let dead = try deadPID()
        let fm = FileManager.default
        try fm.createDirectory(atPath: path("out.partial-\(dead)/sub"), withIntermediateDirectories: true)
        try file("out.partial-\(dead)/sub/model.safetensors")
        try file("out.tmp-\(dead)-12345")
        // Kept: a live process's staging (pid 1 always exists), other names, other outputs.
        try fm.createDirectory(atPath: path("out.partial-1"), withIntermediateDirectories: true)
        try fm.createDirectory(atPath: path("out.partial-\(getpid())"), withIntermediateDirectories: true)
        try file("out.partial-abc")
        try file("other.partial-\(dead)")
        try file("out.tmp-\(dead)")

        let removed = OutputPaths.removeStaleStaging(next: path("out"))
        XCTAssertEqual(removed.map { ($0 as NSString).lastPathComponent }.sorted(), ["out.partial-\(dead)", "out.tmp-\(dead)-12345"])
        let left = try fm.contentsOfDirectory(atPath: directory).sorted()
        XCTAssertEqual(left, ["other.partial-\(dead)", "out.partial-1", "out.partial-\(getpid())", "out.partial-abc", "out.tmp-\(dead)"].sorted())

        let note = try XCTUnwrap(OutputPaths.staleStagingNote(removed))
        XCTAssertTrue(note.hasPrefix("removed 2 staging paths left by interrupted runs"), note)
        XCTAssertTrue(note.contains("out.partial-\(dead)"), note)
        XCTAssertNil(OutputPaths.staleStagingNote([]))
        XCTAssertEqual(OutputPaths.removeStaleStaging(next: path("out")), [])
    }

    func testStagingNames() {
        XCTAssertEqual(OutputPaths.stagingProcess("m.partial-42", base: "m"), 42)
        XCTAssertEqual(OutputPaths.stagingProcess("m.safetensors.tmp-42-9", base: "m.safetensors"), 42)
        XCTAssertNil(OutputPaths.stagingProcess("m.partial-42", base: "n"))
        XCTAssertNil(OutputPaths.stagingProcess("m.partial-", base: "m"))
        XCTAssertNil(OutputPaths.stagingProcess("m.partial-0", base: "m"))
        XCTAssertNil(OutputPaths.stagingProcess("m.partial--3", base: "m"))
        XCTAssertNil(OutputPaths.stagingProcess("m.tmp-42", base: "m"))
        XCTAssertNil(OutputPaths.stagingProcess("mx.partial-42", base: "m"))
    }
}
