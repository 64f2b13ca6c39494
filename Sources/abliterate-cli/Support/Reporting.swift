import AbliterationCore
import AbliterationPipeline
import ArgumentParser
import Foundation
import LanguageModels
import TensorKit

/// The most characters of an error line (paths and quoted data are bounded before this).
let maxErrorLineLength = 1000

/// Runs `body`; any error becomes one line on standard error, `abliterate COMMAND: message`, and a
/// non-zero exit. The line is printable (control characters escaped) and bounded, whatever the error holds.
func reportingErrors<T>(_ command: String, _ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let exit as ExitCode {
        throw exit
    } catch {
        printError(errorLine(command, error))
        throw ExitCode.failure
    }
}

/// `abliterate COMMAND: message` on one printable, bounded line.
func errorLine(_ command: String, _ error: Error) -> String {
    let message = (error as? ValidationError)?.message ?? ErrorText.message(error)
    return "abliterate \(command): " + UserText.sanitized(message, limit: maxErrorLineLength)
}

/// Writes a line to standard error.
func printError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}

/// Renders the library's progress reports on standard error through `ProgressLine`: one line redrawn
/// in place on a terminal, plain lines (at most one per step every 5 s, and when it finishes) otherwise.
final class ProgressReporter: @unchecked Sendable {
    private let lock = NSLock()
    private var line = ProgressLine(terminal: isatty(2) != 0)

    private func write(_ text: String) { FileHandle.standardError.write(Data(text.utf8)) }

    func report(_ progress: StepProgress) {
        lock.lock(); defer { lock.unlock() }
        if let text = line.render(progress) { write(text) }
    }

    /// A (done, total) callback for step `name` counted in `unit`, its clock started now.
    func step(_ name: String, unit: String) -> (Int, Int) -> Void {
        lock.lock()
        write(line.begin(name))
        lock.unlock()
        return { [self] done, total in report(StepProgress(step: name, done: done, total: total, unit: unit)) }
    }

    /// A message line, after ending a progress line drawn in place.
    func log(_ message: String) {
        lock.lock(); defer { lock.unlock() }
        write(line.interrupt() + message + "\n")
    }
}
