import Foundation
import TensorKit
import AbliterationCore
import LanguageModels

/// A model with its tokenizer, ready to take instructions: loading from a GGUF file or a Hugging Face
/// directory (with an optional LoRA adapter applied), and turning an instruction into the exact token ids
/// the model was trained on (its chat template, or its family's standard format).
public final class ModelSession: @unchecked Sendable {
    public let model: LanguageModel
    public let tokenizer: Tokenizer
    /// The model file or directory, and the adapter directory, as given.
    public let path: String
    public let adapter: String?
    /// The quantization the base weights were put through at load (`.none` normally).
    public let quantization: MeasurementQuantization

    public init(model: LanguageModel, tokenizer: Tokenizer, path: String, adapter: String?,
                quantization: MeasurementQuantization = .none) {
        self.model = model
        self.tokenizer = tokenizer
        self.path = path
        self.adapter = adapter
        self.quantization = quantization
    }

    /// Loads the model and its tokenizer from `path` (GGUF file or Hugging Face directory), with the LoRA
    /// adapter in `adapter` kept unmerged beside its weights (`LoRAAdapter.attach(to:)`). With
    /// `quantization`, the base weights are quantized (kept packed) before the adapter is applied;
    /// `progress(done, total)` follows the weights quantized.
    public static func load(
        path: String, adapter: String? = nil, quantization: MeasurementQuantization = .none,
        progress: ((Int, Int) -> Void)? = nil
    ) throws -> ModelSession {
        let model = try LanguageModel.load(
            path: path, adapter: adapter, prepareBase: { try quantization.apply(to: $0, progress: progress) })
        let tokenizer = try model.loadTokenizer()
        guard tokenizer.vocabularySize <= model.configuration.vocabSize else {
            throw AbliterationError.mismatch(
                "\(path): tokenizer has \(tokenizer.vocabularySize) tokens, the model's vocabulary \(model.configuration.vocabSize)")
        }
        return ModelSession(model: model, tokenizer: tokenizer, path: path, adapter: adapter, quantization: quantization)
    }

    /// A short name for reports: the file or directory name.
    public var name: String {
        let base = URL(fileURLWithPath: path).lastPathComponent
        return adapter.map { base + " + " + URL(fileURLWithPath: $0).lastPathComponent } ?? base
    }

    /// Token ids of one instruction. With `format.chat`, the instruction is the user turn of the chat
    /// template (after a system turn when `format.systemPrompt` is given), ending with the generation
    /// prompt; without, the raw text with the BOS the model wants.
    public func promptTokens(_ instruction: String, format: PromptFormat = .chat) throws -> [Int] {
        let ids: [Int]
        if format.chat {
            var messages: [ChatMessage] = []
            if let systemPrompt = format.systemPrompt { messages.append(ChatMessage(role: "system", content: systemPrompt)) }
            messages.append(ChatMessage(role: "user", content: instruction))
            ids = try tokenizer.encodeChat(messages: messages, addGenerationPrompt: true)
        } else {
            ids = tokenizer.encode(instruction, addSpecialTokens: true)
        }
        guard !ids.isEmpty else { throw AbliterationError.invalidInput("prompt encodes to no tokens: \(instruction.debugDescription)") }
        return ids
    }

    /// Token ids of each instruction (as `promptTokens(_:format:)`), each checked to fit the
    /// model's context with `reserve` positions left over (the tokens to be generated). A prompt longer
    /// than `PromptFile.maxPromptBytes` is refused before it is tokenized. `origins` name the prompts in
    /// errors (`PromptLoadResult.origins`: "FILE: line N"); without them a prompt is named by its index.
    public func promptTokens(
        _ prompts: [String], origins: [String]? = nil, format: PromptFormat = .chat, reserve: Int = 0
    ) throws -> [[Int]] {
        if let origins, origins.count != prompts.count {
            throw AbliterationError.dimensionMismatch("\(origins.count) prompt origins for \(prompts.count) prompts")
        }
        let context = model.configuration.maxPositionEmbeddings
        return try prompts.enumerated().map { i, prompt in
            let name = origins?[i] ?? "prompt \(i + 1) \(String(prompt.prefix(40)).debugDescription)"
            guard prompt.utf8.count <= PromptFile.maxPromptBytes else {
                throw AbliterationError.invalidInput(
                    "\(name): prompt is \(prompt.utf8.count) bytes, more than the \(PromptFile.maxPromptBytes) allowed")
            }
            let ids = try promptTokens(prompt, format: format)
            guard ids.count <= context - reserve else {
                let template = format.chat ? " with the chat template" : ""
                let room = reserve > 0 ? " less the \(reserve) tokens to generate" : ""
                throw AbliterationError.invalidInput(
                    "\(name): prompt is \(ids.count) tokens\(template), more than the model's context of \(context) tokens\(room)")
            }
            return ids
        }
    }

    /// Tokens that end a response: EOS and the end-of-turn markers.
    public var stopTokens: Set<Int> {
        var s = tokenizer.endOfTurnTokenIDs
        if let e = tokenizer.eosTokenID { s.insert(e) }
        return s
    }

    /// Indices of `prompts` in batches of at most `batchSize`, grouping prompts of similar token length
    /// so little padding is computed. Each batch lists indices into the original array.
    static func lengthSortedBatches(_ lengths: [Int], batchSize: Int) -> [[Int]] {
        ResidualMeasurement.lengthSortedBatches(lengths, batchSize: batchSize)
    }
}
