import Foundation
import XCTest

/// Runs the built `abliterate` executable, which lies next to the test runner in the build directory.
public enum CommandLineTool {
    public struct Result {
        public var status: Int32
        public var stdout: String
        public var stderr: String
    }

    public static func abliterate(_ arguments: [String]) throws -> Result {
        let runner = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        let candidates = [
            runner.deletingLastPathComponent(),
            runner.deletingLastPathComponent().deletingLastPathComponent(),
            runner.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent(),
        ].map { $0.appendingPathComponent("abliterate") }
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
        // Read both pipes concurrently so a full stderr pipe cannot block the child.
        var stderrData = Data()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async {
            stderrData = err.fileHandleForReading.readDataToEndOfFile()
            group.leave()
        }
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                      stderr: String(decoding: stderrData, as: UTF8.self))
    }
}
