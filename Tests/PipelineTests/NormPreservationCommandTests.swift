import Foundation
import XCTest
import TestSupport
import AbliterationPipeline

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

/// The edit options a run report records, read back for `ablate --plan report.json`.
final class RunReportEditOptionsTests: XCTestCase {
    func report(_ fields: String) -> Data {
        Data(#"{"measurement": {"model": "m"}, "plan": "11:10@1.5", \#(fields)}"#.utf8)
    }

    func testRunReportsGiveTheirEditOptions() throws {
        let rows = try XCTUnwrap(AblationOptions(runReport: report(
            #""targets": ["o_proj", "down_proj"], "method": "projected", "norms": "rows", "scale": 1"#)))
        XCTAssertEqual(rows, AblationOptions(method: .projected, norms: .rows, scale: 1, targets: [.attentionOutput, .mlpDown]))
        // A report written before `norms` (with `normPreserving`) still reads.
        let legacy = try XCTUnwrap(AblationOptions(runReport: report(
            #""targets": ["q_proj"], "method": "biprojected", "normPreserving": true, "scale": 0.5"#)))
        XCTAssertEqual(legacy, AblationOptions(method: .biprojected, norms: .vectors, scale: 0.5, targets: [.attentionQuery]))
        // Not a report, or a report without what an edit needs, or with values no edit has: nil.
        XCTAssertNil(AblationOptions(runReport: Data(#"{"plan": "1:0"}"#.utf8)))
        XCTAssertNil(AblationOptions(runReport: report(#""targets": ["o_proj"], "method": "projected", "scale": 1"#)))
        XCTAssertNil(AblationOptions(runReport: report(#""targets": ["lm_head"], "method": "projected", "norms": "none", "scale": 1"#)))
        XCTAssertNil(AblationOptions(runReport: report(#""targets": ["o_proj"], "method": "projected", "norms": "columns", "scale": 1"#)))
    }
}
