import Foundation
import TestSupport
@testable import AbliterationCore
@testable import AbliterationPipeline
@testable import LanguageModels

/// The refusal organism (SmolLM2-135M-Instruct + refusal-lora-a) with a small measurement, 32 + 32 evenly
/// spaced training prompts: for tests that edit it and judge a few prompts.
enum SmallOrganismMeasurement {
    static func load() throws -> (session: ModelSession, train: (harmful: [String], harmless: [String]), measurements: Measurements) {
        let session = try ModelSession.load(path: try TestModels.smolLM2(), adapter: Fixtures.refusalAdapter.path)
        let train = (harmful: try PromptSet.builtIn(.harmful, split: .train), harmless: try PromptSet.builtIn(.harmless, split: .train))
        let measurements = try ResidualMeasurement.measure(
            session: session, harmful: PromptSet.evenlySpaced(train.harmful, count: 32),
            harmless: PromptSet.evenlySpaced(train.harmless, count: 32))
        return (session, train, measurements)
    }
}
