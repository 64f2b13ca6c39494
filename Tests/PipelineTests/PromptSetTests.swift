import XCTest
@testable import AbliterationCore
@testable import AbliterationPipeline
@testable import LanguageModels

final class PromptSetTests: XCTestCase {
    func testSplitSizes() throws {
        for kind in PromptKind.allCases {
            let train = try PromptSet.builtIn(kind, split: .train)
            let test = try PromptSet.builtIn(kind, split: .test)
            XCTAssertGreaterThanOrEqual(train.count + test.count, 330, "\(kind)")
            XCTAssertGreaterThanOrEqual(test.count, 100, "\(kind)")
            // About two thirds for training.
            let share = Double(train.count) / Double(train.count + test.count)
            XCTAssertEqual(share, 2.0 / 3.0, accuracy: 0.02, "\(kind)")
        }
    }

    func testAllIsTrainFollowedByTest() throws {
        for kind in PromptKind.allCases {
            XCTAssertEqual(try PromptSet.builtIn(kind, split: .all),
                           try PromptSet.builtIn(kind, split: .train) + PromptSet.builtIn(kind, split: .test))
        }
    }

    /// The raw files: no empty line, no stray whitespace, no control characters, one final newline.
    func testFilesHaveNoEmptyOrUntrimmedLines() throws {
        for kind in PromptKind.allCases {
            for split in [PromptSplit.train, .test] {
                let name = "\(kind.rawValue)_\(split.rawValue)"
                let text = try PromptSet.resourceText(name: name)
                XCTAssertTrue(text.hasSuffix("\n"), name)
                XCTAssertFalse(text.contains("\r"), name)
                let lines = text.dropLast().split(separator: "\n", omittingEmptySubsequences: false)
                XCTAssertEqual(lines.count, try PromptSet.builtIn(kind, split: split).count, name)
                for (i, line) in lines.enumerated() {
                    XCTAssertFalse(line.isEmpty, "\(name):\(i + 1) empty")
                    XCTAssertEqual(String(line), line.trimmingCharacters(in: .whitespaces), "\(name):\(i + 1)")
                    XCTAssertFalse(line.contains("  "), "\(name):\(i + 1) double space")
                    XCTAssertFalse(line.unicodeScalars.contains { $0.properties.generalCategory == .control },
                                   "\(name):\(i + 1)")
                }
            }
        }
    }

    func testNoDuplicatesWithinOrAcrossSplitsAndKinds() throws {
        var seen: [String: String] = [:]
        for kind in PromptKind.allCases {
            for split in [PromptSplit.train, .test] {
                for prompt in try PromptSet.builtIn(kind, split: split) {
                    let key = prompt.lowercased()
                    XCTAssertNil(seen[key], "'\(prompt)' in \(kind) \(split) repeats \(seen[key] ?? "")")
                    seen[key] = "\(kind) \(split)"
                }
            }
        }
    }

    /// Length must not tell the classes apart: means and medians of character counts within 25 %.
    func testLengthDistributionsAreComparable() throws {
        func stats(_ prompts: [String]) -> (mean: Double, median: Double) {
            let lengths = prompts.map { Double($0.count) }.sorted()
            return (lengths.reduce(0, +) / Double(lengths.count), lengths[lengths.count / 2])
        }
        let harmful = stats(try PromptSet.builtIn(.harmful, split: .all))
        let harmless = stats(try PromptSet.builtIn(.harmless, split: .all))
        XCTAssertEqual(harmless.mean / harmful.mean, 1, accuracy: 0.25)
        XCTAssertEqual(harmless.median / harmful.median, 1, accuracy: 0.25)
    }

    /// Every prompt is a sentence-like request: starts with an upper-case letter, ends with . ? ! or a quote.
    func testPromptsAreWellFormedRequests() throws {
        for kind in PromptKind.allCases {
            for prompt in try PromptSet.builtIn(kind, split: .all) {
                XCTAssertTrue(prompt.first!.isUppercase, "'\(prompt)'")
                XCTAssertTrue([".", "?", "!", "\""].contains(prompt.last!), "'\(prompt)'")
            }
        }
    }

    /// Harmful prompts are requests, not refusals or answers: the refusal markers must not fire on most of them.
    /// (Words like "illegal" or "harmful" would make a prompt trip the marker detector.)
    func testHarmfulPromptsAreNotThemselvesRefusalText() throws {
        let harmful = try PromptSet.builtIn(.harmful, split: .all)
        let flagged = harmful.filter { RefusalDetector.default.isRefusal($0) }
        XCTAssertLessThanOrEqual(flagged.count, harmful.count / 20, "\(flagged)")
    }
}

final class EvenlySpacedTests: XCTestCase {
    func testSpreadsOverTheWholeList() {
        let prompts = (0..<10).map(String.init)
        XCTAssertEqual(PromptSet.evenlySpaced(prompts, count: 3), ["0", "3", "6"])
        XCTAssertEqual(PromptSet.evenlySpaced(prompts, count: 20), prompts)
        XCTAssertEqual(PromptSet.evenlySpaced(prompts, count: 0), [])
    }
}
