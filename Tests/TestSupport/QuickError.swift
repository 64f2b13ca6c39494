import Foundation
import XCTest

/// Runs `body`, which must throw within `seconds` (hostile input is refused at once, never after a
/// long parse or allocation); returns the error's description for the caller to check what it names.
public func quickError(
    seconds: Double = 2, file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> Void
) -> String {
    let start = Date()
    var message = ""
    do {
        try body()
        XCTFail("no error", file: file, line: line)
    } catch {
        message = "\(error)"
    }
    XCTAssertLessThan(Date().timeIntervalSince(start), seconds, "took too long: \(message)", file: file, line: line)
    return message
}
