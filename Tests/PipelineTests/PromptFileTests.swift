import XCTest
@testable import AbliterationCore
@testable import AbliterationPipeline
@testable import LanguageModels

final class PromptFileTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("PromptFileTests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    private func write(_ name: String, _ text: String) throws -> String {
        let url = directory.appendingPathComponent(name)
        try Data(text.utf8).write(to: url)
        return url.path
    }

    private func assertInvalidInput(_ expression: @autoclosure () throws -> PromptLoadResult,
                                    mentions parts: [String], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try expression(), file: file, line: line) { error in
            guard case AbliterationError.invalidInput(let message) = error else {
                return XCTFail("expected invalidInput, got \(error)", file: file, line: line)
            }
            for part in parts {
                XCTAssertTrue(message.contains(part), "'\(message)' lacks '\(part)'", file: file, line: line)
            }
        }
    }

    // MARK: txt

    func testTextFileDropsEmptyAndDuplicateLinesKeepingOrder() throws {
        let path = try write("p.txt", "  Second prompt  \r\nFirst prompt\n\n   \nSecond prompt\nThird\tone\nFirst prompt")
        let r = try PromptFile.load(path: path)
        XCTAssertEqual(r.prompts, ["Second prompt", "First prompt", "Third\tone"])
        XCTAssertEqual(r.droppedEmpty, 2)
        XCTAssertEqual(r.droppedDuplicates, 2)
    }

    func testTextFileWithByteOrderMarkAndCarriageReturns() throws {
        let path = try write("p.TXT", "\u{FEFF}a\rb\r\nc\n")
        XCTAssertEqual(try PromptFile.load(path: path), PromptLoadResult(prompts: ["a", "b", "c"], droppedEmpty: 0, droppedDuplicates: 0))
    }

    // MARK: jsonl

    func testJSONLinesObjectsAndBareStrings() throws {
        let path = try write("p.jsonl", """
            {"prompt": "Tell me a joke.", "id": 1}
            "Name a color."

            {"instruction": "Sort these numbers.", "input": ""}
            {"goal": "Tell me a joke."}
            {"text": "  ", "prompt": null}
            {"text": "Last"}
            """)
        let r = try PromptFile.load(path: path)
        XCTAssertEqual(r.prompts, ["Tell me a joke.", "Name a color.", "Sort these numbers.", "Last"])
        XCTAssertEqual(r.droppedEmpty, 2)   // the blank line and the null prompt
        XCTAssertEqual(r.droppedDuplicates, 1)
    }

    func testJSONLinesDefaultFieldPrefersPromptOverLaterNames() throws {
        let path = try write("p.jsonl", #"{"text": "t", "goal": "g", "instruction": "i", "prompt": "p"}"# + "\n")
        XCTAssertEqual(try PromptFile.load(path: path).prompts, ["p"])
        XCTAssertEqual(try PromptFile.load(path: path, field: "goal").prompts, ["g"])
    }

    func testJSONLinesMalformedLineIsNamed() throws {
        let path = try write("bad.jsonl", "{\"prompt\": \"ok\"}\n{\"prompt\": \"unterminated}\n")
        assertInvalidInput(try PromptFile.load(path: path), mentions: ["bad.jsonl", "line 2", "malformed JSON"])
    }

    func testJSONLinesMissingFieldIsNamed() throws {
        let path = try write("m.jsonl", "{\"prompt\": \"a\"}\n{\"question\": \"b\"}\n")
        assertInvalidInput(try PromptFile.load(path: path), mentions: ["m.jsonl", "line 2", "prompt", "instruction"])
        assertInvalidInput(try PromptFile.load(path: path, field: "question"), mentions: ["m.jsonl", "line 1", "'question'"])
    }

    func testJSONLinesNonStringFieldIsAnError() throws {
        let path = try write("n.jsonl", "{\"prompt\": 42}\n")
        assertInvalidInput(try PromptFile.load(path: path), mentions: ["n.jsonl", "line 1", "'prompt'", "not a string"])
    }

    // MARK: json

    func testJSONArrayOfStrings() throws {
        let path = try write("p.json", #"["a", "b", "", "a", " c "]"#)
        XCTAssertEqual(try PromptFile.load(path: path),
                       PromptLoadResult(prompts: ["a", "b", "c"], droppedEmpty: 1, droppedDuplicates: 1))
    }

    func testJSONArrayOfObjectsWithField() throws {
        let path = try write("p.json", #"[{"q": "x", "prompt": "no"}, {"q": "y\nz", "prompt": "no2"}]"#)
        XCTAssertEqual(try PromptFile.load(path: path, field: "q").prompts, ["x", "y\nz"])
        XCTAssertEqual(try PromptFile.load(path: path).prompts, ["no", "no2"])
    }

    func testJSONMissingFieldNamesElement() throws {
        let path = try write("o.json", #"[{"q": "x"}, {"r": "y"}]"#)
        assertInvalidInput(try PromptFile.load(path: path, field: "q"), mentions: ["o.json", "element 1", "'q'"])
    }

    func testJSONThatIsNotAnArray() throws {
        let path = try write("o.json", #"{"prompt": "x"}"#)
        assertInvalidInput(try PromptFile.load(path: path), mentions: ["o.json", "array"])
        let broken = try write("b.json", #"["x", "#)
        assertInvalidInput(try PromptFile.load(path: broken), mentions: ["b.json", "malformed JSON"])
    }

    // MARK: csv

    func testCSVQuotingCommasQuotesAndNewlines() throws {
        let path = try write("p.csv",
            "id,prompt,target\r\n" +
            "1,\"Hello, world\",x\r\n" +
            "2,\"She said \"\"hi\"\"\",y\r\n" +
            "3,\"line one\nline two\",z\n" +
            "4,plain,w\n" +
            "5,,v\n" +
            "6,plain,again\n")
        let r = try PromptFile.load(path: path)
        XCTAssertEqual(r.prompts, ["Hello, world", "She said \"hi\"", "line one\nline two", "plain"])
        XCTAssertEqual(r.droppedEmpty, 1)
        XCTAssertEqual(r.droppedDuplicates, 1)
        XCTAssertEqual(try PromptFile.load(path: path, field: "target").prompts, ["x", "y", "z", "w", "v", "again"])
    }

    func testCSVDefaultFieldOrderAndHeaderErrors() throws {
        let path = try write("g.csv", "text,goal\nT1,G1\nT2,G2\n")
        XCTAssertEqual(try PromptFile.load(path: path).prompts, ["G1", "G2"])   // goal comes before text
        let none = try write("none.csv", "a,b\n1,2\n")
        assertInvalidInput(try PromptFile.load(path: none), mentions: ["none.csv", "prompt", "a, b"])
        assertInvalidInput(try PromptFile.load(path: none, field: "c"), mentions: ["none.csv", "'c'"])
    }

    func testCSVShortRowNamesItsLine() throws {
        // The quoted newline makes record 2 span lines 2-3, so the short row starts on line 4.
        let path = try write("s.csv", "id,prompt\n1,\"a\nb\"\n2\n")
        assertInvalidInput(try PromptFile.load(path: path), mentions: ["s.csv", "line 4", "'prompt'"])
    }

    func testCSVUnclosedQuoteIsAnError() throws {
        let path = try write("u.csv", "prompt\n\"never closed\nmore\n")
        assertInvalidInput(try PromptFile.load(path: path), mentions: ["u.csv", "line 2", "never closed"])
    }

    func testCSVReaderRecords() throws {
        XCTAssertEqual(try CSVReader.records("a,b\n\"x\"\"\",\"\"\n", file: "t"),
                       [CSVRecord(fields: ["a", "b"], line: 1), CSVRecord(fields: ["x\"", ""], line: 2)])
        XCTAssertEqual(try CSVReader.records("a,\"b\r\nc\"\r\nd,e", file: "t"),
                       [CSVRecord(fields: ["a", "b\r\nc"], line: 1), CSVRecord(fields: ["d", "e"], line: 3)])
    }

    // MARK: general errors

    func testUnknownExtensionMissingFileAndNothingLeft() throws {
        let xml = try write("p.xml", "<a/>")
        assertInvalidInput(try PromptFile.load(path: xml), mentions: ["p.xml", ".xml", ".csv"])
        assertInvalidInput(try PromptFile.load(path: directory.appendingPathComponent("absent.txt").path),
                           mentions: ["absent.txt", "not found"])
        let blank = try write("blank.txt", "\n  \n\t\n")
        assertInvalidInput(try PromptFile.load(path: blank), mentions: ["blank.txt", "no prompts", "3 empty"])
        let empty = try write("empty.csv", "")
        assertInvalidInput(try PromptFile.load(path: empty), mentions: ["empty.csv", "header"])
    }

    func testInvalidUTF8IsAnError() throws {
        let url = directory.appendingPathComponent("bin.txt")
        try Data([0x61, 0xFF, 0xFE, 0x0A]).write(to: url)
        assertInvalidInput(try PromptFile.load(path: url.path), mentions: ["bin.txt", "UTF-8"])
    }

    /// A built-in set written to every format reads back identically.
    func testRoundTripOfBuiltInSetThroughAllFormats() throws {
        let prompts = try PromptSet.builtIn(.harmless, split: .test)
        let txt = try write("r.txt", prompts.joined(separator: "\n") + "\n")
        let jsonl = try write("r.jsonl", try prompts.map {
            String(decoding: try JSONSerialization.data(withJSONObject: ["instruction": $0]), as: UTF8.self)
        }.joined(separator: "\n"))
        let json = try write("r.json", String(decoding: try JSONSerialization.data(withJSONObject: prompts), as: UTF8.self))
        let csv = try write("r.csv", "n,prompt\n" + prompts.enumerated().map { i, p in
            "\(i),\"" + p.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }.joined(separator: "\r\n"))
        for path in [txt, jsonl, json, csv] {
            let r = try PromptFile.load(path: path)
            XCTAssertEqual(r.prompts, prompts, path)
            XCTAssertEqual(r.droppedEmpty + r.droppedDuplicates, 0, path)
        }
    }
}
