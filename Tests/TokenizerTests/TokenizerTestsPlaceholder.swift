import XCTest
@testable import AbliterationCore

final class TokenizerTestsErrorTests: XCTestCase {
    func testErrorDescriptionIsTheMessage() {
        XCTAssertEqual(AbliterationError.invalidInput("prompts.txt: empty").description, "prompts.txt: empty")
    }
}
