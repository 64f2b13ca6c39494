import Foundation
import XCTest
import TestSupport

/// `--norm-preserving` and `--row-normalized` are refused, before any file is read, where they cannot apply.
final class NormPreservationCommandTests: XCTestCase {
    func refused(_ arguments: [String], saying text: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let r = try CommandLineTool.abliterate(arguments)
        XCTAssertNotEqual(r.status, 0, file: file, line: line)
        XCTAssertTrue(r.stderr.contains(text), r.stderr, file: file, line: line)
    }

    func testEditsThatCannotApplyAreRefused() throws {
        let common = ["--model", "/nonexistent-model", "--measurements", "/nonexistent.safetensors", "--plan", "1:0", "--output", "/nonexistent-out"]
        try refused(["ablate"] + common + ["--row-normalized", "--norm-preserving"], saying: "pick one")
        try refused(["ablate"] + common + ["--row-normalized", "--targets", "o_proj,embed"], saying: "embed is not one")
        try refused(["ablate"] + common + ["--norm-preserving", "--targets", "inputs"], saying: "q_proj is not one")
        try refused(["run", "--model", "/nonexistent-model", "--output", "/nonexistent-out", "--row-normalized", "--targets", "gate_proj"],
                    saying: "gate_proj is not one")
    }
}
