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
    /// How each instruction becomes a prompt.
    public var format = PromptFormat.chat
    public var detector = RefusalDetector.default
    /// End a response as soon as the detector finds a marker in it. The count of refusals is the same
    /// (a marker in the first k tokens' text is in the whole response's), the responses of refusals are
    /// cut short and cost fewer decoding steps: for searches, which only count.
    public var stopAtRefusal = false

    public init(maxNewTokens: Int = 64, batchSize: Int = 32, format: PromptFormat = .chat,
                detector: RefusalDetector = .default, stopAtRefusal: Bool = false) {
        self.maxNewTokens = maxNewTokens
        self.batchSize = batchSize
        self.format = format
        self.detector = detector
        self.stopAtRefusal = stopAtRefusal
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
        try refusalsAndCompletions(session: session, prompts: prompts, options: options, origins: origins, progress: progress).evaluation
    }

    /// As `refusals`, with the generated tokens of each response (stop token excluded; empty for an empty one).
    public static func refusalsAndCompletions(
        session: ModelSession, prompts: [String], options: EvaluationOptions = .init(), origins: [String]? = nil,
        progress: ((Int, Int) -> Void)? = nil
    ) throws -> (evaluation: RefusalEvaluation, completions: [[Int]]) {
        var completions = [[Int]](repeating: [], count: prompts.count)
        let tokens = try session.promptTokens(
            prompts, origins: origins, format: options.format, reserve: options.maxNewTokens)
        var responses = [EvaluatedResponse?](repeating: nil, count: prompts.count)
        var done = 0
        let refused: ((Int, [Int]) -> Bool)? = options.stopAtRefusal ? { _, generated in
            options.detector.startIsRefusal(session.tokenizer.decode(generated, skipSpecialTokens: true))
        } : nil
        for batch in ModelSession.lengthSortedBatches(tokens.map(\.count), batchSize: options.batchSize) {
            let generations = try session.model.generate(
                batch: batch.map { tokens[$0] }, maxNewTokens: options.maxNewTokens, stopTokens: session.stopTokens, topK: 1,
                stop: refused)
            for (i, generation) in zip(batch, generations) {
                let text = session.tokenizer.decode(generation.completionTokens, skipSpecialTokens: true)
                let marker = options.detector.matchedMarker(text)
                completions[i] = generation.completionTokens
                responses[i] = EvaluatedResponse(prompt: prompts[i], response: text, refusal: marker != nil, marker: marker)
            }
            done += batch.count
            progress?(done, prompts.count)
        }
        let all = responses.compactMap { $0 }
        let refusals = all.filter(\.refusal).count
        let interval = try ProportionInterval.wilson(successes: refusals, total: all.count)
        return (RefusalEvaluation(
            refusals: refusals, total: all.count, refusalRate: interval.proportion,
            interval95: [interval.lower, interval.upper], responses: all), completions)
    }

    /// Teacher-forced scores of a continuation of each prompt: the first token's log-probabilities
    /// (vocab) and the cumulative log-probabilities log P(c₀…c_j | prompt) for j < c.count, in Double.
    /// An empty continuation gives the first token's distribution and no cumulative values. One forward
    /// pass over prompt + c minus its last token per prompt (batched among equal continuation lengths).
    public static func continuationLogProbabilities(
        session: ModelSession, prompts: [String], continuations: [[Int]], options: EvaluationOptions = .init(),
        progress: ((Int, Int) -> Void)? = nil
    ) throws -> [(firstToken: [Float], cumulative: [Double])] {
        guard continuations.count == prompts.count else {
            throw AbliterationError.dimensionMismatch("continuations: \(continuations.count) for \(prompts.count) prompts")
        }
        let vocab = session.model.configuration.vocabSize
        for (i, c) in continuations.enumerated() {
            if let bad = c.first(where: { $0 < 0 || $0 >= vocab }) {
                throw AbliterationError.invalidInput("continuation of prompt \(i): token \(bad) outside the vocabulary of \(vocab)")
            }
        }
        let tokens = try session.promptTokens(prompts, format: options.format, reserve: continuations.map(\.count).max() ?? 0)
        var out = [(firstToken: [Float], cumulative: [Double])](repeating: ([], []), count: prompts.count)
        var done = 0
        for count in Set(continuations.map { max(1, $0.count) }).sorted() {
            let members = prompts.indices.filter { max(1, continuations[$0].count) == count }
            let inputs = members.map { tokens[$0] + continuations[$0].dropLast() }
            for batch in ModelSession.lengthSortedBatches(inputs.map(\.count), batchSize: options.batchSize) {
                let logProbabilities = try session.model.lastTokensLogProbabilities(batch: batch.map { inputs[$0] }, count: count)
                for (r, m) in batch.enumerated() {
                    let i = members[m]
                    var sum = 0.0
                    var cumulative: [Double] = []
                    for (j, token) in continuations[i].enumerated() {
                        sum += Double(logProbabilities.scalars[(r * count + j) * vocab + token])
                        cumulative.append(sum)
                    }
                    out[i] = (Array(logProbabilities.row(r * count)), cumulative)
                }
                done += batch.count
                progress?(done, prompts.count)
            }
        }
        return out
    }

    /// The log-probabilities of the first generated token for each prompt: (prompts, vocab), f32.
    public static func firstTokenLogProbabilities(
        session: ModelSession, prompts: [String], options: EvaluationOptions = .init(), origins: [String]? = nil,
        progress: ((Int, Int) -> Void)? = nil
    ) throws -> [[Float]] {
        let tokens = try session.promptTokens(
            prompts, origins: origins, format: options.format)
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

extension ModelEvaluation {
    /// What `abliterate eval` reports: the refusals on `harmful` and, with a `baseline`, the mean
    /// first-token KL(P_baseline ‖ P_model) over `harmless`. `baseline` loads the baseline model; it is
    /// called only after the model's own log-probabilities are computed. `progress(done, total)` follows
    /// the generation on the harmful prompts.
    public static func report(
        session: ModelSession, harmful: [String], harmless: [String], baseline: (() throws -> ModelSession)? = nil,
        options: EvaluationOptions = .init(), progress: ((Int, Int) -> Void)? = nil
    ) throws -> EvaluationReport {
        let refusals = try refusals(session: session, prompts: harmful, options: options, progress: progress)
        var kl: Double?
        if let baseline {
            let modelLogProbabilities = try firstTokenLogProbabilities(session: session, prompts: harmless, options: options)
            let base = try baseline()
            let baseLogProbabilities = try firstTokenLogProbabilities(session: base, prompts: harmless, options: options)
            kl = try meanKLDivergence(baseline: baseLogProbabilities, model: modelLogProbabilities)
        }
        return EvaluationReport(refusals: refusals, klDivergence: kl)
    }
}
