import Foundation
import XCTest
@testable import AbliterationPipeline

/// `ProgressLine`: the rate-based ETA, in place on a terminal, plain lines in a log.
final class ProgressLineTests: XCTestCase {
    let t0 = Date(timeIntervalSinceReferenceDate: 1000)

    func report(_ step: String, _ done: Int, _ total: Int) -> StepProgress {
        StepProgress(step: step, done: done, total: total, unit: "prompts")
    }

    func testETAIsTheRemainingUnitsOverTheRateSoFar() {
        // 16 of 64 in 8 s: 2 prompts/s, 48 left → 24 s.
        XCTAssertEqual(ProgressLine.text(report("measure", 16, 64), elapsed: 8, bar: false),
                       "measure: 16/64 prompts, 2.00 prompts/s, ETA 24s")
        XCTAssertEqual(ProgressLine.text(report("measure", 64, 64), elapsed: 32, bar: false),
                       "measure: 64/64 prompts, 2.00 prompts/s, took 32s")
        XCTAssertEqual(ProgressLine.text(report("measure", 0, 64), elapsed: 0, bar: false), "measure: 0/64 prompts")
        XCTAssertEqual(ProgressLine.text(report("w", 12, 24), elapsed: 1, bar: true),
                       "w [████████████············] 12/24 prompts, 12 prompts/s, ETA 1s")
        XCTAssertEqual(ProgressLine.duration(42), "42s")
        XCTAssertEqual(ProgressLine.duration(185), "3m05s")
        XCTAssertEqual(ProgressLine.duration(3720), "1h02m")
        XCTAssertEqual(ProgressLine.duration(.infinity), "?")
    }

    /// On a terminal every report redraws the line; a finished step ends it; a new step or a log message
    /// first ends an open line.
    func testTerminalRedrawsOneLineInPlace() {
        var line = ProgressLine(terminal: true)
        XCTAssertEqual(line.render(report("measure", 0, 4), now: t0), "\rmeasure [························] 0/4 prompts\u{1B}[K")
        XCTAssertTrue(line.lineOpen)
        let half = line.render(report("measure", 2, 4), now: t0 + 4)!
        XCTAssertTrue(half.hasPrefix("\rmeasure [████████████") && half.hasSuffix(", ETA 4s\u{1B}[K"), half)
        XCTAssertEqual(line.interrupt(), "\n")
        XCTAssertEqual(line.interrupt(), "")
        _ = line.render(report("measure", 3, 4), now: t0 + 6)
        let next = line.render(report("write", 1, 10), now: t0 + 7)!
        XCTAssertTrue(next.hasPrefix("\n\rwrite ["), next)
        let done = line.render(report("write", 10, 10), now: t0 + 8)!
        XCTAssertTrue(done.hasSuffix("took 1s\u{1B}[K\n"), done)  // the step's clock started at its first report
        XCTAssertFalse(line.lineOpen)
    }

    /// In a log: the start, then at most one line per interval, and the end.
    func testPlainLinesAreSpacedOut() {
        var line = ProgressLine(terminal: false, plainInterval: 5)
        XCTAssertEqual(line.begin("eval", now: t0), "")
        XCTAssertEqual(line.render(report("eval", 1, 8), now: t0 + 1), "eval: 1/8 prompts, 1.00 prompts/s, ETA 7s\n")
        XCTAssertNil(line.render(report("eval", 2, 8), now: t0 + 2))
        XCTAssertEqual(line.render(report("eval", 6, 8), now: t0 + 6), "eval: 6/8 prompts, 1.00 prompts/s, ETA 2s\n")
        XCTAssertNil(line.render(report("eval", 7, 8), now: t0 + 7))
        XCTAssertEqual(line.render(report("eval", 8, 8), now: t0 + 8), "eval: 8/8 prompts, 1.00 prompts/s, took 8s\n")
        XCTAssertEqual(line.interrupt(), "")
    }
}
