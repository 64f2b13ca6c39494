import XCTest
import TestSupport
@testable import LanguageModels

/// Encoding throughput (release only: debug builds are not what users run).
final class TokenizerBenchmarkTests: XCTestCase {
    func testEncodingAtLeastOneMegabytePerSecond() throws {
        #if DEBUG
        throw XCTSkip("throughput is measured in release: swift test -c release -Xswiftc -enable-testing --filter TokenizerBenchmarkTests")
        #else
        for (name, path) in [("SmolLM2", try TestModels.smolLM2()), ("Gemma 3", try TestModels.gemma3())] {
            let tokenizer = try Tokenizer.load(ggufPath: path)
            let result = TokenizerBenchmark.run(tokenizer, bytes: 2_000_000, repetitions: 3)
            print("\(name): \(result)")
            XCTAssertGreaterThanOrEqual(result.megabytesPerSecond, 1.0, "\(name): \(result)")
            XCTAssertGreaterThanOrEqual(result.coldMegabytesPerSecond, 1.0, "\(name): \(result)")
            XCTAssertEqual(tokenizer.decode(tokenizer.encode(TokenizerBenchmark.englishText(bytes: 20_000))),
                           TokenizerBenchmark.englishText(bytes: 20_000))
        }
        #endif
    }
}
