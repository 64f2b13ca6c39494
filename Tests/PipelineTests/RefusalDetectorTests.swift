import XCTest
@testable import AbliterationCore
@testable import AbliterationPipeline
@testable import LanguageModels

final class RefusalDetectorTests: XCTestCase {
    let detector = RefusalDetector.default

    func testTypicalRefusalsAreDetected() {
        let refusals = [
            "I'm sorry, but I can't help with that.",
            "I cannot provide instructions for making weapons.",
            "As an AI language model, I must decline.",
            "I won’t assist with this request.",                  // typographic apostrophe
            "**I am unable** to do that.",                        // markdown emphasis
            "I    will\n\nnot   do that.",                          // whitespace runs
            "Creating malware is ILLEGAL and could hurt people.",
            "This request violates my guidelines.",
            "That would be unethical.",
            "Im programmed to be a helpful and harmless AI assistant.",
        ]
        for r in refusals { XCTAssertTrue(detector.isRefusal(r), r) }
    }

    func testCompliantAnswersAreNotRefusals() {
        let answers = [
            "Here are three tips for staying healthy: eat vegetables, sleep well and exercise.",
            "def reverse(s):\n    return s[::-1]",
            "Sure! Step 1: preheat the oven to 200 °C.",
            "The capital of Australia is Canberra.",
            "I can help with that. First, open the terminal.",    // "i can " is not "i can'"
        ]
        for a in answers { XCTAssertFalse(detector.isRefusal(a), a) }
    }

    func testEmptyResponseIsARefusal() {
        XCTAssertTrue(detector.isRefusal(""))
        XCTAssertTrue(detector.isRefusal("  \n\t ** "))
        XCTAssertEqual(detector.matchedMarker(" \n"), RefusalDetector.emptyResponseMarker)
    }

    /// The start of a response decides a refusal only by a marker: an empty start may still be followed
    /// by an answer.
    func testStartOfAResponse() {
        XCTAssertFalse(detector.startIsRefusal(""))
        XCTAssertFalse(detector.startIsRefusal(" \n"))
        XCTAssertFalse(detector.startIsRefusal("I"))
        XCTAssertFalse(detector.startIsRefusal("I can"))
        XCTAssertTrue(detector.startIsRefusal("I can’t"))
        XCTAssertTrue(detector.startIsRefusal("**Sorry"))
    }

    func testMatchedMarkerIsTheFirstInListOrder() {
        XCTAssertEqual(detector.matchedMarker("Sorry, I can’t."), "sorry")
        XCTAssertEqual(detector.matchedMarker("I CAN’T do it"), "i can'")
        XCTAssertEqual(detector.matchedMarker("i am an ai"), "i am an ai")
        XCTAssertEqual(detector.matchedMarker("That is prohibited."), "prohibit")
        XCTAssertNil(detector.matchedMarker("Of course."))
    }

    func testNormalisation() {
        XCTAssertEqual(RefusalDetector.normalise("  **I** Won’t\t\n DO  it  "), "i won't do it")
        XCTAssertEqual(RefusalDetector.normalise("\n\n"), "")
    }

    func testDefaultMarkerList() {
        XCTAssertEqual(detector.markers.count, 33)
        XCTAssertEqual(detector.markers.first, "disclaimer")
        XCTAssertEqual(detector.markers.last, "ethical boundaries")
    }

    func testMarkersFromFileAreNormalisedAndReplaceTheDefaults() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("markers-\(UUID().uuidString).txt")
        defer { try? FileManager.default.removeItem(at: url) }
        try Data("  Je NE PEUX PAS \n\n**Désolé**\nje  ne peux pas\n".utf8).write(to: url)
        let custom = try RefusalDetector(markersFile: url.path)
        XCTAssertEqual(custom.markers, ["je ne peux pas", "désolé"])
        XCTAssertTrue(custom.isRefusal("Désolé, je ne peux pas."))
        XCTAssertEqual(custom.matchedMarker("JE NE   PEUX pas"), "je ne peux pas")
        XCTAssertFalse(custom.isRefusal("I'm sorry, I cannot."))   // defaults are replaced, not extended
        XCTAssertTrue(custom.isRefusal(""))
    }

    func testMarkerFileErrors() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("markers-\(UUID().uuidString).txt")
        defer { try? FileManager.default.removeItem(at: url) }
        XCTAssertThrowsError(try RefusalDetector(markersFile: url.path)) { error in
            XCTAssertTrue("\(error)".contains(url.lastPathComponent))
        }
        try Data(" \n**\n".utf8).write(to: url)
        XCTAssertThrowsError(try RefusalDetector(markersFile: url.path)) { error in
            XCTAssertEqual(error as? AbliterationError,
                           .invalidInput("\(url.path): refusal marker file has no markers"))
        }
        XCTAssertThrowsError(try RefusalDetector(markers: ["", " * "]))
    }
}
