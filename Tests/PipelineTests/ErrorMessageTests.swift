import Foundation
import XCTest
import TestSupport
@testable import TensorKit
@testable import AbliterationCore
@testable import AbliterationPipeline
@testable import LanguageModels

/// Error messages are one printable, bounded line that names the file and the key, line or offset.
final class ErrorMessageTests: XCTestCase {
    private var directory: String!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("ErrorMessageTests-\(UUID().uuidString)", isDirectory: true).path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: directory) }

    private func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let path = directory + "/" + name
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    private func message(_ body: () throws -> Void, file: StaticString = #filePath, line: UInt = #line) -> String {
        do {
            try body()
            XCTFail("expected an error", file: file, line: line)
            return ""
        } catch {
            return ErrorText.message(error)
        }
    }

    /// One line of printable characters.
    private func assertPrintable(_ text: String, maxLength: Int, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertLessThanOrEqual(text.count, maxLength, "\(text.prefix(300))...", file: file, line: line)
        for scalar in text.unicodeScalars {
            XCTAssertTrue(UserText.isPrintable(scalar), "U+\(String(scalar.value, radix: 16)) in \(text.prefix(300))", file: file, line: line)
        }
    }

    // MARK: sanitizer

    func testSanitizerEscapesControlAndFormatCharacters() {
        XCTAssertEqual(UserText.sanitized("a\u{0}b\u{1B}[31mc\nd\te\r"), "a\\x00b\\x1B[31mc\\nd\\te\\r")
        XCTAssertEqual(UserText.sanitized("\u{7F}\u{85}\u{202E}evil\u{2028}"), "\\x7F\\x85\\u{202E}evil\\u{2028}")
        XCTAssertEqual(UserText.sanitized("naïve café 日本 ✓ \\ 'q'"), "naïve café 日本 ✓ \\ 'q'")
        XCTAssertEqual(UserText.quoted("k\u{0}"), "'k\\x00'")
    }

    func testSanitizerTruncatesWithAnEllipsis() {
        XCTAssertEqual(UserText.sanitized(String(repeating: "x", count: 200)), String(repeating: "x", count: 200))
        XCTAssertEqual(UserText.sanitized(String(repeating: "x", count: 201)), String(repeating: "x", count: 200) + "…")
        XCTAssertEqual(UserText.sanitized("abcdef", limit: 3), "abc…")
        // The limit counts the escaped text: four NULs are 16 characters.
        XCTAssertEqual(UserText.sanitized("\u{0}\u{0}\u{0}\u{0}", limit: 10), "\\x00\\x00…")
        let huge = String(repeating: "\u{1B}", count: 1_000_000)
        assertPrintable(UserText.sanitized(huge), maxLength: 201)
    }

    // MARK: readers quote file content safely

    func testGGUFKeyNameWithControlCharactersIsEscaped() throws {
        var bytes = Array("GGUF".utf8)
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
        u32(3); u64(0); u64(1)
        let key = "evil\u{0}\u{1B}[2J\n" + String(repeating: "k", count: 5000)
        u64(UInt64(key.utf8.count)); bytes += Array(key.utf8)
        u32(99)  // unknown value type
        let path = try write("bad.gguf", bytes)
        let text = message { _ = try GGUFFile(path: path) }
        XCTAssertTrue(text.hasPrefix("\(path): evil\\x00\\x1B[2J\\nkkk"), text)
        XCTAssertTrue(text.contains("…: unknown value type 99"), text)
        assertPrintable(text, maxLength: 400)
    }

    func testSafetensorsTensorNameWithControlCharactersIsEscaped() throws {
        let header = #"{"w\u0000\u001b[1m\n": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}"#
        var bytes: [UInt8] = []
        withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { bytes += $0 }
        bytes += Array(header.utf8) + [0, 0, 0, 0]
        let path = try write("bad.safetensors", bytes)
        let text = message { _ = try SafetensorsFile(path: path) }
        XCTAssertTrue(text.contains("tensor 'w\\x00\\x1B[1m\\n'"), text)
        assertPrintable(text, maxLength: 400)
    }

    func testHugeCSVHeaderIsCutShort() throws {
        let header = String(repeating: "column,", count: 150_000) + "\u{1B}x"
        let path = try write("big.csv", Array((header + "\nvalue\n").utf8))
        let text = message { _ = try PromptFile.load(path: path) }
        XCTAssertTrue(text.hasPrefix("\(path): CSV header has none of the fields"), String(text.prefix(200)))
        XCTAssertTrue(text.contains("(columns: column, column"), String(text.prefix(300)))
        assertPrintable(text, maxLength: 600)
    }

    func testCSVFieldNameIsQuotedSafely() throws {
        let path = try write("p.csv", Array("prompt\nhello\n".utf8))
        let text = message { _ = try PromptFile.load(path: path, field: "a\u{0}b") }
        XCTAssertEqual(text, "\(path): CSV header has no field 'a\\x00b' (columns: prompt)")
    }

    // MARK: JSON prompt files name the place

    func testMalformedJSONPromptFileNamesLineAndColumn() throws {
        let path = try write("p.json", Array("[\n  \"one\",\n  xyz\n]".utf8))
        let text = message { _ = try PromptFile.load(path: path) }
        XCTAssertTrue(text.hasPrefix("\(path): malformed JSON: line 3, column 3"), text)
        XCTAssertFalse(text.contains("The data is not in the correct format"), text)
        let truncated = try write("t.json", Array("[\"one\",".utf8))
        let text2 = message { _ = try PromptFile.load(path: truncated) }
        XCTAssertTrue(text2.hasPrefix("\(truncated): malformed JSON: "), text2)
        XCTAssertFalse(text2.contains("The data is not in the correct format"), text2)
    }

    func testMalformedJSONLineNamesLineAndColumn() throws {
        let path = try write("p.jsonl", Array("\"ok\"\n{\"prompt\": x}\n".utf8))
        let text = message { _ = try PromptFile.load(path: path) }
        XCTAssertTrue(text.hasPrefix("\(path): line 2: malformed JSON line (column 12"), text)
    }

    func testDirectoryAsPromptFile() throws {
        for name in ["prompts", "prompts.txt"] {
            try FileManager.default.createDirectory(atPath: directory + "/" + name, withIntermediateDirectories: true)
            let text = message { _ = try PromptFile.load(path: directory + "/" + name) }
            XCTAssertEqual(text, "\(directory!)/\(name) is a directory, not a prompt file")
        }
    }

    // MARK: decoding errors name the key path

    func testBadMeasurementMetadataNamesFileAndKey() throws {
        let path = directory + "/m.safetensors"
        try MeasurementsFileTests.synthetic(layers: 2, hidden: 4).write(to: path)
        let file = try SafetensorsFile(path: path)
        var metadata = file.metadata
        let json = try XCTUnwrap(metadata["abliterate.measurements"])
        metadata["abliterate.measurements"] = json.replacingOccurrences(of: #""hiddenSize" : 4"#, with: #""hiddenSize" : "four""#)
        XCTAssertNotEqual(metadata["abliterate.measurements"], json)
        let tensors = try ["harmful.mean", "harmful.m2", "harmless.mean", "harmless.m2"].map { name in
            let t = try file.tensor(name)
            return (name: name, dtype: DType.f32, shape: t.shape, bytes: Array(t.bytes))
        }
        let bad = directory + "/bad.safetensors"
        try SafetensorsWriter.write(tensors: tensors, metadata: metadata, to: bad)
        let text = message { _ = try Measurements(contentsOf: bad) }
        XCTAssertEqual(text, "\(bad): metadata 'abliterate.measurements' is not valid: key 'hiddenSize' has the wrong type (expected an integer, found a string)")

        metadata["abliterate.measurements"] = json.replacingOccurrences(of: #""layerCount" : 2,"#, with: "")
        let missing = directory + "/missing.safetensors"
        try SafetensorsWriter.write(tensors: tensors, metadata: metadata, to: missing)
        XCTAssertEqual(message { _ = try Measurements(contentsOf: missing) },
                       "\(missing): metadata 'abliterate.measurements' is not valid: key 'layerCount' is missing")
    }

    func testLayerPlanJSONErrorsNameTheKeyPath() {
        let text = message { _ = try LayerPlan(json: Data(#"{"entries": [{"measurementLayer": 1, "firstTarget": "a", "lastTarget": 2}]}"#.utf8)) }
        XCTAssertEqual(text, "layer plan JSON: key 'entries[0].firstTarget' has the wrong type (expected an integer, found a string)")
        let broken = message { _ = try LayerPlan(json: Data("[{".utf8)) }
        XCTAssertTrue(broken.hasPrefix("layer plan JSON: not valid JSON"), broken)
    }

    /// `--plan report.json`: a run report's `plan` string is the plan; a bad one is refused naming the file.
    func testPlanArgumentReadsARunReport() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("abliterate-plan-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let report = dir.appendingPathComponent("report.json").path
        try Data(#"{"measurement": {"layerCount": 30}, "plan": "21:6-25@1.25", "search": [{"plan": "1:0-1"}]}"#.utf8)
            .write(to: URL(fileURLWithPath: report))
        XCTAssertEqual(try LayerPlan(argument: report).description, "21:6-25@1.25")
        let bad = dir.appendingPathComponent("bad.json").path
        try Data(#"{"measurement": {}, "plan": "21:6-x"}"#.utf8).write(to: URL(fileURLWithPath: bad))
        let text = message { _ = try LayerPlan(argument: bad) }
        XCTAssertTrue(text.hasPrefix("\(bad): plan of the run report: "), text)
        XCTAssertFalse(text.contains("\n"), text)
        // A plan file without a report's keys is still read as a plan.
        let plain = dir.appendingPathComponent("plan.json").path
        try LayerPlan(parsing: "3:0-2@1.5").jsonData().write(to: URL(fileURLWithPath: plain))
        XCTAssertEqual(try LayerPlan(argument: plain).description, "3:0-2@1.5")
    }

    // MARK: plan scales

    func testPlanScaleMustBePositiveAndFinite() {
        XCTAssertEqual(message { _ = try LayerPlan(parsing: "1:0-1@-2") },
                       "plan entry '1:0-1@-2': scale -2 must be greater than 0 (expected MEASURE:FIRST-LAST[@SCALE or @ATTN/MLP], e.g. 23:11-23@0.8)")
        XCTAssertTrue(message { _ = try LayerPlan(parsing: "5:2-3,1:0-1@0") }.hasPrefix("plan entry '1:0-1@0': scale 0 must be greater than 0"))
        for bad in ["nan", "inf", "-inf", "x"] {
            XCTAssertTrue(message { _ = try LayerPlan(parsing: "1:0-1@\(bad)") }
                .hasPrefix("plan entry '1:0-1@\(bad)': scale '\(bad)' is not a finite number"), bad)
        }
        XCTAssertEqual(message { _ = try LayerPlan(json: Data(#"[{"measurementLayer": 1, "firstTarget": 0, "lastTarget": 1, "scale": -0.5}]"#.utf8)) },
                       "plan entry '1:0-1@-0.5': scale -0.5 must be greater than 0")
        XCTAssertEqual(message { _ = try LayerPlan(entries: [.init(measurementLayer: 1, targets: 0...1, scale: 0)]) },
                       "plan entry '1:0-1@0.0': scale 0.0 must be greater than 0")
        XCTAssertNoThrow(try LayerPlan(parsing: "1:0-1@0.01,3:2-4@2.5"))
    }

    // MARK: Foundation errors

    func testFoundationFileErrorsBecomePathAndReason() throws {
        let file = try write("f", [1])
        XCTAssertThrowsError(try FileManager.default.createDirectory(atPath: file + "/x/y", withIntermediateDirectories: true)) { error in
            let text = ErrorText.message(error)
            XCTAssertFalse(text.contains("Error Domain"), text)
            XCTAssertTrue(text.hasPrefix(file), text)
        }
        XCTAssertThrowsError(try Data().write(to: URL(fileURLWithPath: directory + "/absent/x"))) { error in
            XCTAssertEqual(ErrorText.message(error), "\(directory!)/absent/x: No such file or directory")
        }
    }

    func testLineAndColumn() {
        let data = Data("ab\ncd\nef".utf8)
        XCTAssertEqual(ErrorText.lineAndColumn(of: 0, in: data).line, 1)
        XCTAssertEqual(ErrorText.lineAndColumn(of: 4, in: data).line, 2)
        XCTAssertEqual(ErrorText.lineAndColumn(of: 4, in: data).column, 2)
        XCTAssertEqual(ErrorText.lineAndColumn(of: 99, in: data).line, 3)
    }
}
