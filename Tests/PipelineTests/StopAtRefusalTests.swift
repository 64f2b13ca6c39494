import Foundation
import XCTest
import TestSupport
@testable import AbliterationPipeline
@testable import LanguageModels
import AbliterationCore

/// `EvaluationOptions.stopAtRefusal` (what the plan searches use) counts the refusals full responses count.
final class StopAtRefusalTests: XCTestCase {
    /// On the refusal organism, unedited and under an edit that removes some of its refusals, over harmful
    /// and harmless training prompts: every response is judged as its full-length response is, and the
    /// refusals end early.
    func testEarlyStopJudgesEveryResponseAsTheFullResponse() throws {
        let (session, train, measurements) = try SmallOrganismMeasurement.load()
        let prompts = PromptSet.evenlySpaced(train.harmful, count: 24) + PromptSet.evenlySpaced(train.harmless, count: 8)
        var full = EvaluationOptions()
        full.maxNewTokens = 24
        var early = full
        early.stopAtRefusal = true
        var cut = 0
        for plan in [nil, try LayerPlan(parsing: "21:6-25")] {
            let judge = { (options: EvaluationOptions) throws -> RefusalEvaluation in
                guard let plan else { return try ModelEvaluation.refusals(session: session, prompts: prompts, options: options) }
                return try ModelEditor.withPlan(plan, measurements: measurements, options: .init(), model: session.model) {
                    try ModelEvaluation.refusals(session: session, prompts: prompts, options: options)
                }
            }
            let (a, b) = (try judge(full), try judge(early))
            XCTAssertEqual(a.responses.map(\.refusal), b.responses.map(\.refusal), "plan \(plan?.description ?? "none")")
            XCTAssertEqual(a.refusals, b.refusals)
            XCTAssertGreaterThan(a.refusals, 0)
            XCTAssertLessThan(a.refusals, prompts.count)
            for (x, y) in zip(a.responses, b.responses) {
                XCTAssertTrue(x.response.hasPrefix(y.response), "\(y.response) is not the start of \(x.response)")
                if y.response.count < x.response.count { cut += 1; XCTAssertTrue(y.refusal) }
            }
        }
        XCTAssertGreaterThan(cut, 10, "the refusals should end early")
    }
}
