import Foundation

/// How an instruction becomes a prompt: the user turn of the model's chat template (after an optional
/// system turn), or the raw text with the BOS the model wants. Measurement, evaluation and plan search
/// all take one, so the directions are measured on prompts formatted as the model is evaluated on.
public struct PromptFormat: Sendable, Equatable, Codable {
    /// Apply the chat template (true) or feed the raw instruction.
    public var chat: Bool
    /// A system turn before each instruction (nil: the template's default). Only used with `chat`.
    public var systemPrompt: String?

    public init(chat: Bool = true, systemPrompt: String? = nil) {
        self.chat = chat
        self.systemPrompt = systemPrompt
    }

    /// The chat template with its default system turn.
    public static let chat = PromptFormat()
    /// The raw instruction, no template.
    public static let raw = PromptFormat(chat: false)
}
