import TensorKit

/// A point of the residual stream.
///
/// `.hiddenState(L)` is Hugging Face's `hidden_states[L]`: the *input* of block L for L < layerCount,
/// `.hiddenState(0)` the embedding output (Gemma: already × √hidden), and `.hiddenState(layerCount)`
/// the output of the last block *before* the final norm. `.finalNorm` is the last block's output
/// after the final norm (what Hugging Face returns as its last `hidden_states` entry).
///
/// `.attentionWrite(L)` and `.feedForwardWrite(L)` are what block L's attention and MLP add to the
/// stream: `o_proj`'s output and `down_proj`'s output, each after its output norm where the block has
/// one (Gemma 3's post-norms). hidden_states[L + 1] = hidden_states[L] + attentionWrite(L) + feedForwardWrite(L).
public enum ResidualPoint: Hashable, Sendable, CustomStringConvertible {
    case hiddenState(Int)
    case finalNorm
    case attentionWrite(Int)
    case feedForwardWrite(Int)

    public var description: String {
        switch self {
        case .hiddenState(let l): return "hidden state \(l)"
        case .finalNorm: return "final norm"
        case .attentionWrite(let l): return "attention write of block \(l)"
        case .feedForwardWrite(let l): return "MLP write of block \(l)"
        }
    }
}

/// A token position inside each sequence of a batch (of the tokens passed to this call).
public enum TokenPosition: Hashable, Sendable {
    /// The last token (the default: for a chat prompt, the last token of the generation prompt).
    case last
    /// i-th token from the start (0-based).
    case fromStart(Int)
    /// k-th token before the last (`.fromEnd(0) == .last`).
    case fromEnd(Int)
}

/// Which residuals a forward pass returns. The pass stops after the last block it needs.
public struct ResidualCapture: Sendable, Equatable {
    public var points: [ResidualPoint]
    public var positions: [TokenPosition]

    public init(points: [ResidualPoint], positions: [TokenPosition] = [.last]) {
        self.points = points
        self.positions = positions
    }

    /// `.hiddenState(L)` for each L.
    public static func hiddenStates(_ layers: [Int], positions: [TokenPosition] = [.last]) -> ResidualCapture {
        ResidualCapture(points: layers.map { .hiddenState($0) }, positions: positions)
    }
}

/// Whether and where a forward pass computes logits.
public enum LogitsRequest: Sendable, Equatable {
    /// No LM head (and no blocks after the last captured residual).
    case none
    /// The logits of each sequence's last token: (batch, vocab).
    case lastToken
    /// The logits of each sequence's last `count` tokens: (batch · count, vocab), rows ordered by
    /// sequence, then position. Every sequence must have at least `count` tokens.
    case lastTokens(count: Int)
}

/// What a forward pass returns.
public struct ForwardOutput: Sendable {
    /// For each requested point: (batch · positions, hidden), rows ordered by sequence, then position.
    /// With the default single position, (batch, hidden).
    public var residuals: [ResidualPoint: Tensor<Float>]
    /// (batch, vocab) when requested.
    public var logits: Tensor<Float>?
    /// How many decoder blocks ran (fewer than `layerCount` when a capture allowed stopping early).
    public var blocksEvaluated: Int
}

/// A token id with its logit.
public struct TokenLogit: Sendable, Equatable {
    public var id: Int
    public var logit: Float
}

/// Why a generation ended.
public enum StopReason: Sendable, Equatable {
    /// A stop token was generated (it is the last element of `tokens`).
    case stopToken(Int)
    /// `maxNewTokens` were generated.
    case maxNewTokens
    /// The caller's `stop` test was true of the tokens generated so far.
    case stoppedByCaller
}

/// One greedy generation.
public struct Generation: Sendable {
    /// The generated ids, including the stop token when one ended the generation (as transformers does).
    public var tokens: [Int]
    public var stopReason: StopReason
    /// The first step's top-k ids, largest logit first.
    public var firstStepTop: [TokenLogit]
    /// The first step's log-probabilities over the vocabulary, when requested.
    public var firstStepLogProbabilities: [Float]?

    /// `tokens` without a final stop token.
    public var completionTokens: [Int] {
        if case .stopToken = stopReason { return Array(tokens.dropLast()) }
        return tokens
    }
}
