import XCTest
@testable import AbliterationCore

final class PipelineTestsErrorTests: XCTestCase {
    func testErrorDescriptionIsTheMessage() {
        XCTAssertEqual(AbliterationError.invalidInput("prompts.txt: empty").description, "prompts.txt: empty")
    }
}
