import Foundation
import TensorKit

/// A decoder-only language model run on the CPU in f32: loading (GGUF file or Hugging Face
/// directory, optional PEFT LoRA applied unmerged), batched forward with residual capture, and
/// greedy generation with a KV cache.
///
/// Weights stay in their stored type (quantized blocks, bf16, ...) and are widened to f32 in scratch
/// space one linear layer at a time, so resident memory stays close to the file size. Calls on one
/// model are serialized (the scratch space is shared).
public final class LanguageModel: @unchecked Sendable {
    public let configuration: ModelConfiguration
    public let weights: ModelWeights
    /// The file or directory the model was loaded from.
    public let source: String
    /// The LoRA adapter applied at load (`LoRAAdapter.attach(to:)`), if any.
    public let adapter: LoRAAdapter?

    let recipe: BlockRecipe
    let globalRoPE: RotaryEmbedding
    let localRoPE: RotaryEmbedding?
    let lock = NSLock()
    /// Dequantization scratch for one weight (grown as needed).
    var weightScratch: [Float] = []
    /// The residual write edit the forward pass applies (`setResidualWriteEdit`); read under `lock`.
    var residualEdit: ResidualWriteEdit?

    /// Loads a GGUF file or a Hugging Face model directory (detected), and applies the PEFT LoRA
    /// adapter in `adapter` if given (`LoRAAdapter.attach(to:)`: unmerged beside the block linear
    /// weights). `prepareBase` may change the base weights before (for example quantize them, as QLoRA
    /// keeps a 4-bit base under an f32 adapter).
    public static func load(
        path: String, adapter: String? = nil, prepareBase: ((ModelWeights) throws -> Void)? = nil
    ) throws -> LanguageModel {
        let loaded = try CheckpointLoader.load(path: path)
        try prepareBase?(loaded.weights)
        var lora: LoRAAdapter?
        if let adapter {
            let a = try LoRAAdapter.load(directory: adapter)
            try a.attach(to: loaded.weights)
            lora = a
        }
        return LanguageModel(
            configuration: loaded.configuration, weights: loaded.weights, source: path, adapter: lora,
            ropeFrequencyFactors: loaded.ropeFrequencyFactors)
    }

    init(configuration c: ModelConfiguration, weights: ModelWeights, source: String, adapter: LoRAAdapter?,
         ropeFrequencyFactors: [Float]?) {
        configuration = c
        self.weights = weights
        self.source = source
        self.adapter = adapter
        recipe = c.architecture.definition.recipe
        globalRoPE = RotaryEmbedding(
            headDim: c.headDim, base: c.ropeTheta, scaling: c.ropeScaling, frequencyFactors: ropeFrequencyFactors)
        localRoPE = c.localRopeTheta.map { RotaryEmbedding(headDim: c.headDim, base: $0, scaling: .none) }
    }

    /// The Hugging Face `config.json` of this model, for weights written as `dtype`.
    public func configJSON(dtype: String = "bfloat16") throws -> Data {
        try configuration.architecture.definition.configJSON(configuration, dtype: dtype)
    }

    // MARK: - Residual writes

    /// The gain g of the RMS norm that weight `name`'s output passes through before it is added to the
    /// residual stream (effective convention: Gemma's 1 + w), or nil when the output is added as it is.
    ///
    /// Gemma 3 adds `post_attention_layernorm(o_proj(·))` and `post_feedforward_layernorm(down_proj(·))`:
    /// what reaches the residual is g ⊙ y / rms(y) for y = Wx, so its component along a direction r̂ is
    /// (g ⊙ r̂)ᵀy / rms(y). Llama and Qwen add y itself (nil).
    public func outputNormGain(ofWeight name: String) throws -> [Float]? {
        try blockNormGain(ofWeight: name, norm: recipe.outputNorm(ofBlockTensor:))
    }

    /// The gain of the norm `norm(suffix)` names in the block of weight `name` (nil when it names none);
    /// throws for a weight that is not in the model.
    private func blockNormGain(ofWeight name: String, norm: (String) -> String?) throws -> [Float]? {
        guard weights.contains(name) else {
            throw ModelError.invalidInput("weight '\(name)' is not part of this \(configuration.architecture.rawValue) model")
        }
        guard let (layer, suffix) = ModelArchitecture.splitLayer(name, prefix: "model.layers."),
              let norm = norm(suffix) else { return nil }
        return try weights.vector("model.layers.\(layer).\(norm)")
    }

    /// The gain g of the RMS norm through which weight `name` reads the residual stream (effective
    /// convention: Gemma's 1 + w): `input_layernorm` for `q_proj`/`k_proj`/`v_proj`, the norm before the
    /// MLP for `gate_proj`/`up_proj`. Throws for a weight that is not in the model or does not read the
    /// residual through a block norm.
    public func inputNormGain(ofWeight name: String) throws -> [Float] {
        guard let gain = try blockNormGain(ofWeight: name, norm: recipe.inputNorm(ofBlockTensor:)) else {
            throw ModelError.invalidInput("weight '\(name)' does not read the residual stream through a block's input norm")
        }
        return gain
    }

    // MARK: - Forward

    /// Runs the prompts of `batch` (any lengths; each sequence attends only to itself) and returns the
    /// requested residuals and logits. Blocks after the last captured point are not run when no
    /// logits are requested. A prefix every prompt shares is run once (`SharedPrefix.swift`).
    public func forward(
        batch: [[Int]], capture: ResidualCapture? = nil, logits: LogitsRequest = .none
    ) throws -> ForwardOutput {
        lock.lock()
        defer { lock.unlock() }
        let blocks = blocksNeeded(points: capture?.points ?? [], logits: logits)
        let shared = Self.tokensNeeded(capture: capture, logits: logits).map { sharedPrefixLength(batch, keep: $0) } ?? 0
        guard shared > 0, blocks > 0 else {
            return try run(batch, cache: nil, slots: nil, capture: capture, logits: logits)
        }
        let prefix = try prefixCache(Array(batch[0][..<shared]), blocks: blocks)
        return try run(batch.map { Array($0[shared...]) }, cache: nil, slots: nil, prefix: prefix, capture: capture, logits: logits)
    }

    /// The log-softmax of the last token's logits of each prompt: (batch, vocab).
    public func lastTokenLogProbabilities(batch: [[Int]]) throws -> Tensor<Float> {
        try lastTokensLogProbabilities(batch: batch, count: 1)
    }

    /// The log-softmax of the logits of each prompt's last `count` tokens: (batch · count, vocab), rows
    /// ordered by prompt, then position (row j of a prompt predicts the token after its (n − count + j)-th).
    public func lastTokensLogProbabilities(batch: [[Int]], count: Int) throws -> Tensor<Float> {
        guard var logits = try forward(batch: batch, logits: .lastTokens(count: count)).logits else {
            throw ModelError.invalidInput("no logits computed")
        }
        let v = configuration.vocabSize
        logits.scalars.withUnsafeMutableBufferPointer { p in
            for r in 0..<batch.count * count { Self.logSoftmax(p.baseAddress! + r * v, count: v) }
        }
        return logits
    }

    /// x ← x − max − log Σ exp(x − max), the sum in Double.
    static func logSoftmax(_ x: UnsafeMutablePointer<Float>, count: Int) {
        var m = -Float.infinity
        for i in 0..<count { m = max(m, x[i]) }
        var total = 0.0
        for i in 0..<count { total += Foundation.exp(Double(x[i] - m)) }
        let shift = m + Float(Foundation.log(total))
        for i in 0..<count { x[i] -= shift }
    }
}
