import XCTest
@testable import AbliterationCore
@testable import AbliterationPipeline
@testable import LanguageModels

final class PipelineTestsErrorTests: XCTestCase {
    func testErrorDescriptionIsTheMessage() {
        XCTAssertEqual(AbliterationError.invalidInput("prompts.txt: empty").description, "prompts.txt: empty")
    }
}
