import Foundation
import TensorKit

/// Weights to run a measurement on instead of the model's own: the write-up's "measure on a 4-bit
/// copy, apply to full precision". Every linear weight of the blocks is quantized and dequantized
/// again (so the forward pass sees exactly the quantized values); norms and embeddings stay as they are,
/// as bitsandbytes and llama.cpp's Q8_0 models keep them. With a LoRA adapter, the *base* is quantized
/// and the adapter merged on top in f32, as QLoRA runs it (`ModelSession.load(path:adapter:quantization:)`):
/// quantizing the merged weight would round most of a small adapter's change away.
public enum MeasurementQuantization: String, Sendable, Codable, CaseIterable {
    case none
    /// bitsandbytes NF4, block size 64.
    case nf4
    /// GGML Q8_0 (blocks of 32, one f16 scale).
    case q8_0

    /// Replaces the linear weights by their quantized values.
    public func apply(to weights: ModelWeights) throws {
        guard self != .none else { return }
        for name in weights.names where name.hasSuffix("_proj.weight") {
            let w = try weights.float32(name)  // (out, in)
            let values: [Float]
            switch self {
            case .none: continue
            case .q8_0: values = try Quantizer.q8_0RoundTrip(w.scalars)
            case .nf4: values = try Quantizer.nf4RoundTrip(w.scalars, blockSize: 64)
            }
            try weights.replace(name, with: try Tensor(shape: w.shape, scalars: values))
        }
    }
}

/// How `ResidualMeasurement.measure` runs.
public struct MeasurementOptions: Sendable {
    public var batchSize = 32
    /// Quantile for Winsorization of each residual vector (1 = no clipping).
    public var winsorizeQuantile = 0.995
    /// A system turn before each instruction (nil: the template's default).
    public var systemPrompt: String?
    /// Apply the chat template (true) or feed the raw instruction.
    public var chat = true
    public var quantization = MeasurementQuantization.none

    public init(batchSize: Int = 32, winsorizeQuantile: Double = 0.995, systemPrompt: String? = nil,
                chat: Bool = true, quantization: MeasurementQuantization = .none) {
        self.batchSize = batchSize
        self.winsorizeQuantile = winsorizeQuantile
        self.systemPrompt = systemPrompt
        self.chat = chat
        self.quantization = quantization
    }
}

/// Step 1–2 of the method: run the model on harmful and harmless instructions, take the residual stream
/// at the last prompt token of every layer, Winsorize each vector, and accumulate per-layer means.
public enum ResidualMeasurement {
    /// Measures `harmful` and `harmless` on `session` at every residual index 0...layerCount.
    /// `progress(done, total)` is called after each batch. The quantization option, if any, must already
    /// have been applied when the session was loaded (`ModelSession.load(path:adapter:quantization:)`);
    /// it is recorded in the metadata. `harmfulOrigins` and `harmlessOrigins` ("FILE: line N", see
    /// `PromptLoadResult.origins`) name the prompts in errors, such as a prompt longer than the context.
    public static func measure(
        session: ModelSession, harmful: [String], harmless: [String], options: MeasurementOptions = .init(),
        harmfulOrigins: [String]? = nil, harmlessOrigins: [String]? = nil,
        progress: ((Int, Int) -> Void)? = nil
    ) throws -> Measurements {
        guard !harmful.isEmpty, !harmless.isEmpty else {
            throw AbliterationError.invalidInput("measure: need at least one harmful and one harmless prompt (got \(harmful.count), \(harmless.count))")
        }
        let config = session.model.configuration
        let winsorizer = try Winsorizer(quantile: options.winsorizeQuantile)
        let layers = Array(0...config.layerCount)
        let total = harmful.count + harmless.count
        var done = 0

        // Every prompt is tokenized (and checked against the context) before any forward pass runs.
        let harmfulTokens = try session.promptTokens(
            harmful, origins: harmfulOrigins, systemPrompt: options.systemPrompt, chat: options.chat)
        let harmlessTokens = try session.promptTokens(
            harmless, origins: harmlessOrigins, systemPrompt: options.systemPrompt, chat: options.chat)

        func accumulate(_ prompts: [String], tokens: [[Int]], label: String) throws -> [RunningMean] {
            var means = layers.map { _ in RunningMean(dimension: config.hiddenSize) }
            for batch in ModelSession.lengthSortedBatches(tokens.map(\.count), batchSize: options.batchSize) {
                let output = try session.model.forward(
                    batch: batch.map { tokens[$0] }, capture: .hiddenStates(layers), logits: .none)
                for layer in layers {
                    guard var rows = output.residuals[.hiddenState(layer)] else {
                        throw AbliterationError.invalidInput("measure: the runtime returned no residual for layer \(layer)")
                    }
                    // rows: (batch, hidden)
                    for (r, promptIndex) in batch.enumerated() {
                        let row = r * config.hiddenSize..<(r + 1) * config.hiddenSize
                        guard rows.scalars[row].allSatisfy({ $0.isFinite }) else {
                            throw AbliterationError.degenerate(
                                "measure: NaN or infinite activation at layer \(layer) for \(label) prompt \(promptIndex): \(prompts[promptIndex].prefix(60).debugDescription)")
                        }
                    }
                    try winsorizer.clipRows(&rows.scalars, rowLength: config.hiddenSize)
                    try means[layer].add(rows: rows)
                }
                done += batch.count
                progress?(done, total)
            }
            return means
        }

        let harmfulMeans = try accumulate(harmful, tokens: harmfulTokens, label: "harmful")
        let harmlessMeans = try accumulate(harmless, tokens: harmlessTokens, label: "harmless")
        let metadata = MeasurementMetadata(
            model: session.path, adapter: session.adapter, architecture: config.architecture.rawValue,
            hiddenSize: config.hiddenSize, layerCount: config.layerCount, harmfulCount: harmful.count,
            harmlessCount: harmless.count, winsorizeQuantile: options.winsorizeQuantile,
            quantization: options.quantization.rawValue, chatTemplate: options.chat, systemPrompt: options.systemPrompt)
        return try Measurements(metadata: metadata, harmful: harmfulMeans, harmless: harmlessMeans)
    }
}
