import XCTest
@testable import AbliterationCore

final class ModelRuntimeTestsErrorTests: XCTestCase {
    func testErrorDescriptionIsTheMessage() {
        XCTAssertEqual(AbliterationError.invalidInput("prompts.txt: empty").description, "prompts.txt: empty")
    }
}
