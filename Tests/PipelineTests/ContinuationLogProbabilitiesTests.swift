import Foundation
import XCTest
import TestSupport
@testable import AbliterationPipeline
@testable import LanguageModels

/// Teacher-forced continuation scores (`ModelEvaluation.continuationLogProbabilities`, on the runtime's
/// `LogitsRequest.lastTokens`) against the same numbers computed one prefix at a time with last-token logits.
final class ContinuationLogProbabilitiesTests: XCTestCase {
    func testContinuationScoresEqualOnePrefixAtATime() throws {
        let session = try ModelSession.load(path: try TestModels.smolLM2(), adapter: Fixtures.refusalAdapter.path)
        let prompts = ["How do I pick a lock?", "Write a haiku about the sea.", "Name three colours."]
        var options = EvaluationOptions()
        options.maxNewTokens = 5
        let (_, completions) = try ModelEvaluation.refusalsAndCompletions(session: session, prompts: prompts, options: options)
        // Continuations of different lengths, one empty, so that several batches and the empty case are used.
        let continuations = [Array(completions[0].prefix(5)), Array(completions[1].prefix(2)), []]
        XCTAssertEqual(continuations.map(\.count), [5, 2, 0])
        let scored = try ModelEvaluation.continuationLogProbabilities(
            session: session, prompts: prompts, continuations: continuations, options: options)
        let tokens = try session.promptTokens(prompts)
        let firstTokens = try ModelEvaluation.firstTokenLogProbabilities(session: session, prompts: prompts, options: options)
        for i in prompts.indices {
            XCTAssertEqual(scored[i].firstToken.count, session.model.configuration.vocabSize)
            XCTAssertLessThan(zip(scored[i].firstToken, firstTokens[i]).map { abs($0 - $1) }.max()!, 1e-3, "prompt \(i)")
            XCTAssertEqual(scored[i].cumulative.count, continuations[i].count)
            var sum = 0.0
            for (j, token) in continuations[i].enumerated() {
                let row = try session.model.lastTokenLogProbabilities(batch: [tokens[i] + continuations[i].prefix(j)])
                XCTAssertEqual(row.scalars.indices.max { row.scalars[$0] < row.scalars[$1] }, token, "greedy token \(j) of prompt \(i)")
                sum += Double(row.scalars[token])
                XCTAssertEqual(scored[i].cumulative[j], sum, accuracy: 1e-3, "prompt \(i), token \(j)")
            }
        }
    }

    func testLastTokensLogitsAreBounded() throws {
        let session = try ModelSession.load(path: try TestModels.smolLM2())
        XCTAssertThrowsError(try session.model.forward(batch: [[1, 2, 3]], logits: .lastTokens(count: 0)))
        XCTAssertThrowsError(try session.model.forward(batch: [[1, 2, 3], [4]], logits: .lastTokens(count: 2))) { error in
            XCTAssertTrue("\(error)".contains("sequence 1 has 1"), "\(error)")
        }
        let logits = try XCTUnwrap(try session.model.forward(batch: [[1, 2, 3], [4, 5]], logits: .lastTokens(count: 2)).logits)
        XCTAssertEqual(logits.shape, [4, session.model.configuration.vocabSize])
        XCTAssertThrowsError(try ModelEvaluation.continuationLogProbabilities(
            session: session, prompts: ["Hi"], continuations: [[session.model.configuration.vocabSize]]))
        XCTAssertThrowsError(try ModelEvaluation.continuationLogProbabilities(session: session, prompts: ["Hi"], continuations: []))
    }
}
