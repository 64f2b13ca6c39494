import Foundation
import XCTest
import TensorKit
import TestSupport
@testable import AbliterationCore
@testable import AbliterationPipeline
@testable import LanguageModels

/// Prompt files and measurement files built to hurt: a giant line, a FIFO, a prompt longer than the
/// context, counts that overflow. Each is refused quickly, naming the file and the line or key.
final class HostilePromptTests: XCTestCase {
    var directory: String!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("abliterate-hostile-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: directory) }

    func write(_ name: String, _ text: String) throws -> String {
        let path = directory + "/" + name
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    func testTenMegabyteLineIsRefusedAtReadTime() throws {
        let giant = String(repeating: "a", count: 10 << 20)
        let txt = try write("giant.txt", "a fine prompt\n\(giant)\nanother\n")
        XCTAssertEqual(quickError { _ = try PromptFile.load(path: txt) },
                       "\(txt): line 2: line is 10485760 bytes, more than the 65536 allowed")
        let jsonl = try write("giant.jsonl", "\"ok\"\n{\"prompt\": \"\(giant)\"}\n")
        XCTAssertEqual(quickError { _ = try PromptFile.load(path: jsonl) },
                       "\(jsonl): line 2: line is 10485774 bytes, more than the 1048576 allowed")
        let json = try write("giant.json", "[\"ok\", \"\(String(giant.prefix(100_000)))\"]")
        XCTAssertEqual(quickError { _ = try PromptFile.load(path: json) },
                       "\(json): element 1: prompt is 100000 bytes, more than the 65536 allowed")
        let csv = try write("giant.csv", "prompt\nok\n\"\(String(giant.prefix(70_000)))\"\n")
        XCTAssertEqual(quickError { _ = try PromptFile.load(path: csv) },
                       "\(csv): line 3: prompt is 70000 bytes, more than the 65536 allowed")
    }

    func testTooManyLinesAreRefusedBeforeSplitting() throws {
        let path = try write("many.txt", String(repeating: "\n", count: PromptFile.maxRecords + 1))
        XCTAssertEqual(quickError { _ = try PromptFile.load(path: path) },
                       "\(path): 1000001 lines, more than the 1000000 allowed")
    }

    func testFIFOPromptFileDoesNotBlock() throws {
        let path = directory + "/prompts.txt"
        XCTAssertEqual(mkfifo(path, 0o600), 0)
        XCTAssertEqual(quickError { _ = try PromptFile.load(path: path) }, "prompt file \(path): is a FIFO, not a regular file")
        XCTAssertTrue(quickError { _ = try Measurements(contentsOf: path) }.contains("\(path): is a FIFO"))
        XCTAssertTrue(quickError { _ = try RefusalDetector(markersFile: path) }.contains("\(path): is a FIFO"))
    }

    func testOriginsFollowTheKeptPrompts() throws {
        let path = try write("origins.txt", "a\n\nb\na\nc\n")
        let r = try PromptFile.load(path: path)
        XCTAssertEqual(r.prompts, ["a", "b", "c"])
        XCTAssertEqual(r.origins, ["\(path): line 1", "\(path): line 3", "\(path): line 5"])
    }

    /// A prompt of 12000 words (under the byte limit) is more than SmolLM2's 8192-token context.
    func testPromptLongerThanTheContextNamesFileAndLine() throws {
        let session = try ModelSession.load(path: try TestModels.smolLM2())
        let long = String(repeating: "word ", count: 12_000)
        let path = try write("long.txt", "How do I bake bread?\n\(long)\n")
        let prompts = try PromptFile.load(path: path)
        let message = quickError(seconds: 20) {
            _ = try ResidualMeasurement.measure(
                session: session, harmful: prompts.prompts, harmless: ["Hello"], harmfulOrigins: prompts.origins)
        }
        XCTAssertTrue(message.hasPrefix("\(path): line 2: prompt is "), message)
        XCTAssertTrue(message.hasSuffix("tokens with the chat template, more than the model's context of 8192 tokens"), message)
        // Without origins the prompt is named by its index.
        let unnamed = quickError(seconds: 20) {
            _ = try ModelEvaluation.refusals(session: session, prompts: [long])
        }
        XCTAssertTrue(unnamed.hasPrefix("prompt 1 \"word word"), unnamed)
        XCTAssertTrue(unnamed.hasSuffix("the model's context of 8192 tokens less the 64 tokens to generate"), unnamed)
    }

    /// Measurement metadata declaring 2^63 − 1 layers or a negative hidden size.
    func testMeasurementsWithHostileMetadata() throws {
        let good = try MeasurementsFileTests.synthetic(layers: 2, hidden: 8)
        let original = try JSONSerialization.jsonObject(with: try JSONEncoder().encode(good.metadata)) as! [String: Any]
        let rows = [Float](repeating: 1, count: 3 * 8).withUnsafeBytes { Array($0) }
        for (key, value) in [("layerCount", Int.max), ("hiddenSize", Int.min), ("harmfulCount", Int.max)] {
            var metadata = original
            metadata[key] = value
            let json = String(decoding: try JSONSerialization.data(withJSONObject: metadata), as: UTF8.self)
            let path = directory + "/\(key).safetensors"
            try SafetensorsWriter.write(
                tensors: ["harmful.mean", "harmful.m2", "harmless.mean", "harmless.m2"].map { ($0, .f32, [3, 8], rows) },
                metadata: ["abliterate.measurements": json], to: path)
            let message = quickError { _ = try Measurements(contentsOf: path) }
            XCTAssertTrue(message.hasPrefix("\(path): metadata 'abliterate.measurements'"), message)
            XCTAssertTrue(message.contains("out of range"), message)
        }
    }
}
