import Foundation
import XCTest
import TestSupport
@testable import AbliterationPipeline
import AbliterationCore

/// `ProcessMeter` (a child's wall time and peak memory) and `abliterate bench pipeline` on the demo model.
final class PipelineBenchmarkTests: XCTestCase {
    func testStatusLinesAreParsedInBytes() {
        let status = "Name:\tabliterate\nVmPeak:\t  900 kB\nVmHWM:\t   2048 kB\nVmRSS:\t 1024 kB\nRssAnon:\t     512 kB\nRssFile:\t 512 kB\n"
        let parsed = ProcessMeter.parseStatus(status)
        XCTAssertEqual(parsed.anonymous, 512 * 1024)
        XCTAssertEqual(parsed.highWaterMark, 2048 * 1024)
        let broken = ProcessMeter.parseStatus("RssAnon: lots kB\nVmHWM:\n")
        XCTAssertNil(broken.anonymous)
        XCTAssertNil(broken.highWaterMark)
    }

    /// A shell that holds a 100 MB string in a variable has at least that much anonymous memory; one
    /// that only sleeps has a few MB. The exit status and the output reach the caller and the log.
    func testChildPeakAnonymousMemoryAndExitStatus() throws {
        #if os(Linux)
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("meter-\(UUID().uuidString).log").path
        defer { try? FileManager.default.removeItem(atPath: log) }
        let big = try ProcessMeter.run(
            executable: "/bin/sh",
            arguments: ["-c", "x=$(head -c 100000000 /dev/zero | tr '\\0' a); sleep 0.3; echo ${#x}"], log: log)
        XCTAssertEqual(big.exitStatus, 0)
        XCTAssertGreaterThanOrEqual(big.peakAnonymousBytes ?? 0, 100_000_000)
        XCTAssertGreaterThanOrEqual(big.peakResidentBytes ?? 0, big.peakAnonymousBytes ?? 0)
        XCTAssertEqual(try String(contentsOfFile: log, encoding: .utf8), "100000000\n")

        let small = try ProcessMeter.run(executable: "/bin/sh", arguments: ["-c", "sleep 0.2; exit 3"])
        XCTAssertEqual(small.exitStatus, 3)
        XCTAssertNil(small.signal)
        let killed = try ProcessMeter.run(executable: "/bin/sh", arguments: ["-c", "kill -9 $$"])
        XCTAssertEqual(killed.signal, 9)
        XCTAssertEqual(killed.exitStatus, 137)
        XCTAssertLessThan(small.peakAnonymousBytes ?? 0, 20_000_000)
        XCTAssertGreaterThan(small.seconds, 0.15)
        #else
        throw XCTSkip("/proc/PID/status is Linux's")
        #endif
    }

    func testMissingExecutableIsOneError() {
        XCTAssertThrowsError(try ProcessMeter.run(executable: "/nonexistent/abliterate", arguments: [])) { error in
            XCTAssertTrue("\(error)".contains("/nonexistent/abliterate"), "\(error)")
        }
    }

    /// The write-up's Gemma 3 12B plan at 48 layers, and the same fractions of other depths.
    func testDefaultPlanIsTheWriteUpsAtFortyEightLayers() {
        XCTAssertEqual(PipelineBenchmark.defaultPlan(layers: 48), "23:11-23,29:24-41")
        XCTAssertEqual(PipelineBenchmark.defaultPlan(layers: 34), "16:8-16,20:17-29")
        XCTAssertEqual(PipelineBenchmark.defaultPlan(layers: 30), "14:7-14,18:15-26")
        XCTAssertEqual(PipelineBenchmark.defaultPlan(layers: 2), "1:0-1")
        for layers in 1...80 {
            XCTAssertNoThrow(try LayerPlan(parsing: PipelineBenchmark.defaultPlan(layers: layers)).validate(layerCount: layers), "\(layers)")
        }
    }

    /// The whole command on the demo GGUF with its refusal adapter: every step ran and was measured,
    /// the copy and the written models are gone, the report says the same as bench-pipeline.json.
    func testBenchPipelineOnTheDemoModel() throws {
        let model = try TestModels.smolLM2()
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("bench-pipeline-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: work) }
        let r = try CommandLineTool.abliterate([
            "bench", "pipeline", "--model", model, "--adapter", Fixtures.refusalAdapter.path, "--work-dir", work,
            "--prompts", "4", "--eval-prompts", "2", "--max-new-tokens", "4", "--with-run", "--search-prompts", "2", "--json",
        ])
        XCTAssertEqual(r.status, 0, r.stderr)
        let report = try JSONDecoder().decode(PipelineBenchmark.self, from: Data(contentsOf: URL(fileURLWithPath: work + "/bench-pipeline.json")))
        XCTAssertEqual(try JSONDecoder().decode(PipelineBenchmark.self, from: Data(r.stdout.utf8)).steps.map(\.name), report.steps.map(\.name))
        XCTAssertEqual(report.steps.map(\.name), ["measure", "copy", "ablate", "eval", "run"])
        XCTAssertEqual(report.plan, "14:7-14,18:15-26")
        for step in report.steps {
            XCTAssertEqual(step.measurement.exitStatus, 0, step.name)
            XCTAssertGreaterThan(step.measurement.seconds, 0, step.name)
            #if os(Linux)
            if step.name != "copy" { XCTAssertGreaterThan(step.measurement.peakAnonymousBytes ?? 0, 1_000_000, step.name) }
            #endif
        }
        XCTAssertNotNil(report.ablateSpeedAgainstCopy)
        XCTAssertTrue(report.steps[2].command.contains(work + "/ablated.gguf"), "a GGUF is written back as GGUF")
        let left = Set(try FileManager.default.contentsOfDirectory(atPath: work))
        XCTAssertTrue(left.isDisjoint(with: ["copy.gguf", "ablated.gguf", "run-output.gguf"]), "\(left)")
        XCTAssertTrue(left.isSuperset(of: ["measurements.safetensors", "measure.log", "eval.log", "harmful_train.txt"]), "\(left)")
        XCTAssertTrue(try String(contentsOfFile: work + "/eval.log", encoding: .utf8).contains("refusals:"))

        // The work directory exists now: a second run refuses it before any work, in one line.
        let again = try CommandLineTool.abliterate(["bench", "pipeline", "--model", model, "--work-dir", work])
        XCTAssertNotEqual(again.status, 0)
        XCTAssertEqual(again.stderr.filter { $0 == "\n" }.count, 1, again.stderr)
        XCTAssertTrue(again.stderr.contains("--work-dir"), again.stderr)
    }
}
