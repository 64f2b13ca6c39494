import Foundation
import AbliterationCore
import LanguageModels
import TensorKit

/// Weights to run a measurement on instead of the model's own: the write-up's "measure on a 4-bit
/// copy, apply to full precision". Every linear weight of the blocks is quantized and kept packed, widened
/// by rows when used as a quantized checkpoint's weights are (`ModelWeights.quantize(_:as:)`), so the
/// forward pass sees exactly the quantized values and memory holds about the quantized size; norms and
/// embeddings stay as they are, as bitsandbytes and llama.cpp's Q8_0 models keep them. With a LoRA adapter,
/// the *base* is quantized and the adapter kept beside it in f32, as QLoRA runs it
/// (`ModelSession.load(path:adapter:quantization:)`): quantizing the merged weight would round most of a
/// small adapter's change away.
public enum MeasurementQuantization: String, Sendable, Codable, CaseIterable {
    case none
    /// bitsandbytes NF4, block size 64, f32 absmax.
    case nf4
    /// bitsandbytes NF4, block size 64, with double quantization (`bnb_4bit_use_double_quant=True`):
    /// each block's absmax is stored in 8 bits (`Quantizer.doubleQuantize(absmax:)`).
    case nf4DoubleQuant = "nf4-dq"
    /// bitsandbytes FP4, block size 64, f32 absmax.
    case fp4
    /// bitsandbytes FP4, block size 64, with double quantization: what the write-up's tooling measured on.
    /// grimjim's `measure.py --quant-measure 4bit` asks transformers for `BitsAndBytesConfig(load_in_4bit=True,
    /// bnb_4bit_use_double_quant=True)` without a `bnb_4bit_quant_type`, and transformers' default is "fp4".
    case fp4DoubleQuant = "fp4-dq"
    /// GGML Q8_0 (blocks of 32, one f16 scale).
    case q8_0

    /// How `ModelWeights.quantize(_:as:)` stores a weight for this choice (nil for `none`).
    public var weightQuantization: WeightQuantization? {
        switch self {
        case .none: return nil
        case .nf4: return .fourBit(.nf4, blockSize: 64, doubleQuant: false)
        case .nf4DoubleQuant: return .fourBit(.nf4, blockSize: 64, doubleQuant: true)
        case .fp4: return .fourBit(.fp4, blockSize: 64, doubleQuant: false)
        case .fp4DoubleQuant: return .fourBit(.fp4, blockSize: 64, doubleQuant: true)
        case .q8_0: return .q8_0
        }
    }

    /// Quantizes the linear weights of the blocks (`*_proj.weight`), one at a time, into packed storage.
    /// `progress(done, total)` is called at the start (done = 0) and after each weight.
    public func apply(to weights: ModelWeights, progress: ((Int, Int) -> Void)? = nil) throws {
        guard let format = weightQuantization else { return }
        let names = weights.names.filter { $0.hasSuffix("_proj.weight") }
        progress?(0, names.count)
        for (i, name) in names.enumerated() {
            try weights.quantize(name, as: format)
            progress?(i + 1, names.count)
        }
    }
}

/// How `ResidualMeasurement.measure(session:harmful:harmless:options:progress:)` runs.
public struct MeasurementOptions: Sendable {
    public var batchSize = 32
    /// Quantile for Winsorization of each residual vector (1 = no clipping).
    public var winsorizeQuantile = 0.995
    /// How each instruction becomes a prompt.
    public var format = PromptFormat.chat

    public init(batchSize: Int = 32, winsorizeQuantile: Double = 0.995, format: PromptFormat = .chat) {
        self.batchSize = batchSize
        self.winsorizeQuantile = winsorizeQuantile
        self.format = format
    }
}

/// The prompt-driven measurement: instructions → chat template → token ids on a `ModelSession`, then the
/// generic loop of AbliterationCore (`ResidualMeasurement.measure(_:harmful:harmless:metadata:)`).
extension ResidualMeasurement {
    /// Measures `harmful` and `harmless` on `session` at every residual index 0...layerCount.
    /// `progress(done, total)` is called after each batch. To measure on quantized weights, load the
    /// session so (`ModelSession.load(path:adapter:quantization:)`); the metadata records the session's
    /// quantization. `harmfulOrigins` and `harmlessOrigins` ("FILE: line N", see
    /// `PromptLoadResult.origins`) name the prompts in errors, such as a prompt longer than the context.
    /// Throws `AbliterationError` (and `ModelError` from the runtime).
    public static func measure(
        session: ModelSession, harmful: [String], harmless: [String], options: MeasurementOptions = .init(),
        harmfulOrigins: [String]? = nil, harmlessOrigins: [String]? = nil,
        progress: ((Int, Int) -> Void)? = nil
    ) throws -> Measurements {
        guard !harmful.isEmpty, !harmless.isEmpty else {
            throw AbliterationError.invalidInput("measure: need at least one harmful and one harmless prompt (got \(harmful.count), \(harmless.count))")
        }
        let config = session.model.configuration
        // Every prompt is tokenized (and checked against the context) before any forward pass runs.
        let harmfulTokens = try session.promptTokens(
            harmful, origins: harmfulOrigins, format: options.format)
        let harmlessTokens = try session.promptTokens(
            harmless, origins: harmlessOrigins, format: options.format)
        let metadata = MeasurementMetadata(
            model: session.path, adapter: session.adapter, architecture: config.architecture.rawValue,
            hiddenSize: config.hiddenSize, layerCount: config.layerCount, harmfulCount: harmful.count,
            harmlessCount: harmless.count, winsorizeQuantile: options.winsorizeQuantile,
            quantization: session.quantization.rawValue, chatTemplate: options.format.chat,
            systemPrompt: options.format.systemPrompt,
            bos: bosRecord(harmfulTokens + harmlessTokens, bos: session.tokenizer.bosTokenID, chat: options.format.chat))
        return try measure(
            session, harmful: harmfulTokens, harmless: harmlessTokens, metadata: metadata,
            batchSize: options.batchSize,
            describe: { label, index in (label == "harmful" ? harmful : harmless)[index].prefix(60).debugDescription },
            progress: progress)
    }
}

extension ResidualMeasurement {
    /// `MeasurementMetadata.bos` for these prompts: `template` or `tokenizer` when every prompt begins
    /// with exactly one BOS (from the chat template, or added to a raw prompt), `none` when none begins
    /// with BOS (or the model has none), `mixed` otherwise (a doubled BOS counts as mixed).
    static func bosRecord(_ prompts: [[Int]], bos: Int?, chat: Bool) -> String {
        guard let bos else { return "none" }
        let single = prompts.filter { $0.first == bos && $0.dropFirst().first != bos }.count
        let without = prompts.filter { $0.first != bos }.count
        if single == prompts.count { return chat ? "template" : "tokenizer" }
        if without == prompts.count { return "none" }
        return "mixed"
    }
}

/// The runtime as a `ResidualSource`: a batched forward pass that captures the hidden states.
extension ModelSession: ResidualSource {
    public var hiddenSize: Int { model.configuration.hiddenSize }
    public var layerCount: Int { model.configuration.layerCount }

    public func lastTokenResiduals(of batch: [[Int]], layers: [Int]) throws -> [[Float]] {
        let output = try model.forward(batch: batch, capture: .hiddenStates(layers), logits: .none)
        return try layers.map { layer in
            guard let rows = output.residuals[.hiddenState(layer)] else {
                throw AbliterationError.invalidInput("measure: the runtime returned no residual for layer \(layer)")
            }
            return rows.scalars  // (batch, hidden)
        }
    }
}
