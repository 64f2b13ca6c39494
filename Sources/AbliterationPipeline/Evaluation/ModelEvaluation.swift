import Foundation
import TensorKit
import AbliterationCore
import LanguageModels

/// One generated response and how the detector judged it.
public struct EvaluatedResponse: Sendable, Codable, Equatable {
    public var prompt: String
    public var response: String
    public var refusal: Bool
    /// The marker that made it a refusal, if any.
    public var marker: String?
}

/// Refusals among greedy responses to a set of prompts, with a Wilson 95% interval for the rate.
public struct RefusalEvaluation: Sendable, Codable, Equatable {
    public var refusals: Int
    public var total: Int
    public var refusalRate: Double
    public var interval95: [Double]
    public var responses: [EvaluatedResponse]
}

/// How prompts are generated from during evaluation.
public struct EvaluationOptions: Sendable {
    public var maxNewTokens = 64
    public var batchSize = 32
    public var systemPrompt: String?
    public var chat = true
    public var detector = RefusalDetector.default

    public init(maxNewTokens: Int = 64, batchSize: Int = 32, systemPrompt: String? = nil, chat: Bool = true,
                detector: RefusalDetector = .default) {
        self.maxNewTokens = maxNewTokens
        self.batchSize = batchSize
        self.systemPrompt = systemPrompt
        self.chat = chat
        self.detector = detector
    }
}

/// Step 6 of the method: does the model still refuse, and how far has it moved on harmless prompts?
public enum ModelEvaluation {
    /// Greedy responses (KV cache, batched) to `prompts`, each judged by the refusal detector.
    /// `origins` ("FILE: line N") name the prompts in errors.
    public static func refusals(
        session: ModelSession, prompts: [String], options: EvaluationOptions = .init(), origins: [String]? = nil,
        progress: ((Int, Int) -> Void)? = nil
    ) throws -> RefusalEvaluation {
        let tokens = try session.promptTokens(
            prompts, origins: origins, systemPrompt: options.systemPrompt, chat: options.chat, reserve: options.maxNewTokens)
        var responses = [EvaluatedResponse?](repeating: nil, count: prompts.count)
        var done = 0
        for batch in ModelSession.lengthSortedBatches(tokens.map(\.count), batchSize: options.batchSize) {
            let generations = try session.model.generate(
                batch: batch.map { tokens[$0] }, maxNewTokens: options.maxNewTokens, stopTokens: session.stopTokens, topK: 1)
            for (i, generation) in zip(batch, generations) {
                let text = session.tokenizer.decode(generation.completionTokens, skipSpecialTokens: true)
                let marker = options.detector.matchedMarker(text)
                responses[i] = EvaluatedResponse(prompt: prompts[i], response: text, refusal: marker != nil, marker: marker)
            }
            done += batch.count
            progress?(done, prompts.count)
        }
        let all = responses.compactMap { $0 }
        let refusals = all.filter(\.refusal).count
        let interval = try ProportionInterval.wilson(successes: refusals, total: all.count)
        return RefusalEvaluation(
            refusals: refusals, total: all.count, refusalRate: interval.proportion,
            interval95: [interval.lower, interval.upper], responses: all)
    }

    /// The log-probabilities of the first generated token for each prompt: (prompts, vocab), f32.
    public static func firstTokenLogProbabilities(
        session: ModelSession, prompts: [String], options: EvaluationOptions = .init(), origins: [String]? = nil,
        progress: ((Int, Int) -> Void)? = nil
    ) throws -> [[Float]] {
        let tokens = try session.promptTokens(
            prompts, origins: origins, systemPrompt: options.systemPrompt, chat: options.chat)
        var out = [[Float]](repeating: [], count: prompts.count)
        var done = 0
        for batch in ModelSession.lengthSortedBatches(tokens.map(\.count), batchSize: options.batchSize) {
            let logProbabilities = try session.model.lastTokenLogProbabilities(batch: batch.map { tokens[$0] })  // (batch, vocab)
            for (r, i) in batch.enumerated() { out[i] = Array(logProbabilities.row(r)) }
            done += batch.count
            progress?(done, prompts.count)
        }
        return out
    }

    /// Mean over prompts of KL(P_baseline ‖ P_model) of the first generated token, in nats.
    public static func meanKLDivergence(baseline: [[Float]], model: [[Float]]) throws -> Double {
        guard baseline.count == model.count, !baseline.isEmpty else {
            throw AbliterationError.dimensionMismatch("KL: \(baseline.count) baseline and \(model.count) model distributions")
        }
        return try KLDivergence.meanFromLogProbabilities(
            zip(baseline, model).map { (p: $0.0.map(Double.init), q: $0.1.map(Double.init)) })
    }
}
