import AbliterationCore
import AbliterationPipeline
import ArgumentParser
import Foundation
import LanguageModels
import TensorKit

/// `abliterate generate`: greedy generation from one prompt, as text or JSON.
struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Generate greedily from a prompt with the built-in CPU runtime.",
        discussion: """
            The chat template of the model is applied (with --system as the system message) unless --raw.
            Generation stops at the end-of-sequence or end-of-turn tokens or after --max-new-tokens.
            Examples:
              abliterate generate --model SmolLM2-135M-Instruct.Q4_1.gguf --prompt "Hello, how are you?"
              abliterate generate --model gemma-3-270m-q4_k_m.gguf --raw --prompt "The capital of France is" --json
            """)

    @Option(help: "A GGUF file or a Hugging Face model directory.")
    var model: String

    @Option(help: "A PEFT LoRA adapter directory merged onto the model at load.")
    var adapter: String?

    @Option(help: "The user message (or, with --raw, the whole text).")
    var prompt: String

    @Option(help: "A system message for the chat template.")
    var system: String?

    @Flag(help: "Encode the prompt as it is (with the model's BOS), without the chat template.")
    var raw = false

    @Option(parsing: .unconditional, help: "The most tokens to generate.")
    var maxNewTokens = 128

    @Option(parsing: .unconditional, help: "CPU threads for the matrix products.")
    var threads = 2

    @Flag(help: "Print JSON: prompt and completion token ids, completion text and each completion token's text, the first step's top-10 ids and logits.")
    var json = false

    func validate() throws {
        guard maxNewTokens >= 1 else { throw ValidationError("--max-new-tokens must be at least 1, got \(maxNewTokens)") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1, got \(threads)") }
    }

    func run() throws {
        try reportingErrors("generate") {
            BLAS.threadCount = threads
            let lm = try LanguageModel.load(path: model, adapter: adapter)
            let tokenizer = try lm.loadTokenizer()
            let promptIDs: [Int]
            if raw {
                promptIDs = tokenizer.encode(prompt, addSpecialTokens: true)
            } else {
                var messages: [ChatMessage] = []
                if let system { messages.append(ChatMessage(role: "system", content: system)) }
                messages.append(ChatMessage(role: "user", content: prompt))
                promptIDs = try tokenizer.encodeChat(messages: messages, addGenerationPrompt: true)
            }
            var stop = tokenizer.endOfTurnTokenIDs.union(lm.configuration.eosTokenIDs)
            if let eos = tokenizer.eosTokenID { stop.insert(eos) }
            let generation = try lm.generate(batch: [promptIDs], maxNewTokens: maxNewTokens, stopTokens: stop, topK: 10)[0]
            let text = tokenizer.decode(generation.completionTokens)
            if json {
                let object: [String: Any] = [
                    "prompt_token_ids": promptIDs,
                    "completion_token_ids": generation.tokens,
                    "completion_text": text,
                    "completion_token_texts": generation.completionTokens.map { tokenizer.decode([$0]) },
                    "stop_reason": {
                        switch generation.stopReason {
                        case .stopToken(let t): return "stop_token \(t)"
                        case .maxNewTokens: return "max_new_tokens"
                        case .stoppedByCaller: return "stopped_by_caller"
                        }
                    }(),
                    "first_step_top10": generation.firstStepTop.map {
                        ["id": $0.id, "logit": Double($0.logit), "token": tokenizer.token($0.id) ?? ""] as [String: Any]
                    },
                ]
                let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
                print(String(decoding: data, as: UTF8.self))
            } else {
                print(text)
            }
        }
    }
}
