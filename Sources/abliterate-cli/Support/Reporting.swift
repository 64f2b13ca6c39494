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

/// Progress lines on standard error: a bar redrawn in place on a terminal, plain lines otherwise.
final class ProgressPrinter: @unchecked Sendable {
    private let label: String
    private let isTerminal = isatty(2) != 0
    private let start = Date()
    private var lastPlainLine = Date.distantPast

    init(_ label: String) { self.label = label }

    func update(done: Int, total: Int, unit: String = "prompts") {
        let elapsed = max(Date().timeIntervalSince(start), 1e-9)
        let rate = Double(done) / elapsed
        if isTerminal {
            let width = 28
            let filled = total > 0 ? width * done / total : 0
            let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
            let line = String(format: "\r%@ [%@] %d/%d %@ (%.1f %@/s)", label, bar, done, total, unit, rate, unit)
            FileHandle.standardError.write(Data(line.utf8))
            if done >= total { FileHandle.standardError.write(Data("\n".utf8)) }
        } else if done >= total || Date().timeIntervalSince(lastPlainLine) > 5 {
            lastPlainLine = Date()
            printError(String(format: "%@: %d/%d %@ (%.1f %@/s)", label, done, total, unit, rate, unit))
        }
    }
}
