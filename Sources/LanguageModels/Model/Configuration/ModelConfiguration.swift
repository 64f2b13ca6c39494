/// Whether a block attends to the whole prefix or to a sliding window of it.
public enum AttentionSpan: String, Sendable, Equatable, Codable {
    case full = "full_attention"
    case sliding = "sliding_attention"
}

/// How the RoPE inverse frequencies are rescaled for long contexts.
public enum RoPEScaling: Sendable, Equatable {
    case none
    /// fᵢ / factor (Gemma 3's global layers, "linear" in transformers).
    case linear(factor: Double)
    /// Llama 3.x's frequency-dependent scaling.
    case llama3(factor: Double, lowFrequencyFactor: Double, highFrequencyFactor: Double, originalMaxPositions: Int)
}

/// Everything the forward pass needs to know about a model, whatever file it came from.
///
/// Built from a config.json or from GGUF metadata (`CommonConfiguration` plus each architecture's
/// own settings, `ArchitectureDefinition`). Layer indices are 0-based block indices.
public struct ModelConfiguration: Sendable, Equatable {
    public var architecture: ModelArchitecture
    public var vocabSize: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var layerCount: Int
    public var headCount: Int
    public var kvHeadCount: Int
    public var headDim: Int
    public var rmsNormEpsilon: Float
    /// RoPE base of the full-attention layers.
    public var ropeTheta: Double
    /// RoPE scaling of the full-attention layers.
    public var ropeScaling: RoPEScaling
    /// RoPE base of the sliding-window layers (Gemma 3's `rope_local_base_freq`); nil when the
    /// architecture has one base for every layer.
    public var localRopeTheta: Double?
    /// Window of the sliding layers, in tokens (including the token itself).
    public var slidingWindow: Int?
    /// One entry per block.
    public var layerSpans: [AttentionSpan]
    /// The factor applied to q·k (head_dim^−½, or query_pre_attn_scalar^−½ for Gemma).
    public var queryScale: Float
    /// q/k/v projections carry biases (Qwen 2).
    public var attentionBias: Bool
    /// Per-head RMSNorm on queries and keys before RoPE (Qwen 3, Gemma 3).
    public var queryKeyNorm: Bool
    public var tieWordEmbeddings: Bool
    public var maxPositionEmbeddings: Int
    public var bosTokenID: Int?
    public var eosTokenIDs: [Int]
    public var padTokenID: Int?
    /// Gemma 2's attention soft cap: each score s = (q · k) · scale becomes cap · tanh(s / cap) before the
    /// mask and softmax; nil for none.
    public var attentionLogitSoftCap: Float?
    /// Gemma's final soft cap: each logit becomes cap · tanh(logit / cap); nil for none.
    public var finalLogitSoftCap: Float?

    public init(
        architecture: ModelArchitecture, vocabSize: Int, hiddenSize: Int, intermediateSize: Int, layerCount: Int,
        headCount: Int, kvHeadCount: Int, headDim: Int, rmsNormEpsilon: Float, ropeTheta: Double,
        ropeScaling: RoPEScaling = .none, localRopeTheta: Double? = nil, slidingWindow: Int? = nil,
        layerSpans: [AttentionSpan]? = nil, queryScale: Float? = nil, attentionBias: Bool = false,
        queryKeyNorm: Bool = false, tieWordEmbeddings: Bool, maxPositionEmbeddings: Int,
        bosTokenID: Int?, eosTokenIDs: [Int], padTokenID: Int? = nil,
        attentionLogitSoftCap: Float? = nil, finalLogitSoftCap: Float? = nil
    ) {
        self.architecture = architecture
        self.vocabSize = vocabSize
        self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize
        self.layerCount = layerCount
        self.headCount = headCount
        self.kvHeadCount = kvHeadCount
        self.headDim = headDim
        self.rmsNormEpsilon = rmsNormEpsilon
        self.ropeTheta = ropeTheta
        self.ropeScaling = ropeScaling
        self.localRopeTheta = localRopeTheta
        self.slidingWindow = slidingWindow
        // An out-of-range layer count gets no spans here; `validate` then reports the count.
        self.layerSpans = layerSpans
            ?? Array(repeating: .full, count: (1...Self.maxLayerCount).contains(layerCount) ? layerCount : 0)
        self.queryScale = queryScale ?? 1 / Float(headDim).squareRoot()
        self.attentionBias = attentionBias
        self.queryKeyNorm = queryKeyNorm
        self.tieWordEmbeddings = tieWordEmbeddings
        self.maxPositionEmbeddings = maxPositionEmbeddings
        self.bosTokenID = bosTokenID
        self.eosTokenIDs = eosTokenIDs
        self.padTokenID = padTokenID
        self.attentionLogitSoftCap = attentionLogitSoftCap
        self.finalLogitSoftCap = finalLogitSoftCap
    }

    /// Width of all query heads together.
    public var queryWidth: Int { headCount * headDim }
    /// Width of all key (or value) heads together.
    public var keyValueWidth: Int { kvHeadCount * headDim }

    // Upper bounds on what a config.json or GGUF header may declare, well above any released model
    // (Llama 3.1 405B: 126 layers, hidden 16384, 128 heads; Gemma 3: vocabulary 262208, head dim 256),
    // so a corrupt or hostile count is refused before anything is built per layer, head or token.
    public static let maxLayerCount = 1024
    public static let maxHiddenSize = 1 << 16
    public static let maxIntermediateSize = 1 << 20
    public static let maxVocabSize = 1 << 22
    public static let maxHeadCount = 1024
    public static let maxHeadDim = 4096
    public static let maxContextLength = 1 << 24
    /// config.json, adapter_config.json and the like are refused above this size.
    public static let maxConfigFileBytes = 16 << 20

    /// Checks that every size is in range and that the sizes fit together; `source` names the file in errors.
    public func validate(source: String) throws {
        let bounded: [(String, Int, Int)] = [
            ("vocab size", vocabSize, Self.maxVocabSize), ("hidden size", hiddenSize, Self.maxHiddenSize),
            ("intermediate size", intermediateSize, Self.maxIntermediateSize),
            ("layer count", layerCount, Self.maxLayerCount), ("head count", headCount, Self.maxHeadCount),
            ("kv head count", kvHeadCount, Self.maxHeadCount), ("head dim", headDim, Self.maxHeadDim),
            ("context length", maxPositionEmbeddings, Self.maxContextLength),
        ]
        for (name, value, limit) in bounded where value <= 0 || value > limit {
            throw ModelError.invalidInput("\(source): \(name) \(value) is out of range (1...\(limit))")
        }
        if let slidingWindow, slidingWindow <= 0 || slidingWindow > Self.maxContextLength {
            throw ModelError.invalidInput(
                "\(source): sliding window \(slidingWindow) is out of range (1...\(Self.maxContextLength))")
        }
        guard headCount % kvHeadCount == 0 else {
            throw ModelError.invalidInput(
                "\(source): \(headCount) attention heads are not a multiple of \(kvHeadCount) key/value heads")
        }
        guard headDim % 2 == 0 else {
            throw ModelError.invalidInput("\(source): head dim \(headDim) is odd; RoPE needs pairs")
        }
        guard layerSpans.count == layerCount else {
            throw ModelError.invalidInput(
                "\(source): \(layerSpans.count) layer types for \(layerCount) layers")
        }
        if layerSpans.contains(.sliding) && (slidingWindow ?? 0) <= 0 {
            throw ModelError.invalidInput("\(source): sliding-window layers without a positive sliding_window")
        }
    }

    /// Gemma's layer pattern: every `pattern`-th block (1-based) is global, the rest sliding (Gemma 3: 6,
    /// Gemma 2: 2, so even 0-based blocks slide).
    /// An out-of-range layer count gets no spans (`validate` reports the count).
    public static func gemmaLayerSpans(layerCount: Int, pattern: Int) -> [AttentionSpan] {
        guard (1...maxLayerCount).contains(layerCount) else { return [] }
        return (0..<layerCount).map { pattern > 0 && ($0 + 1) % pattern == 0 ? .full : .sliding }
    }
}
