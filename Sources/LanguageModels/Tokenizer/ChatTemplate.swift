import Jinja

/// One message of a conversation.
public struct ChatMessage: Sendable, Equatable {
    public var role: String
    public var content: String
    public init(role: String, content: String) { self.role = role; self.content = content }
}

/// A model's Jinja chat template, parsed once and rendered per conversation with what Hugging Face's
/// `apply_chat_template` passes: `messages`, `add_generation_prompt`, `bos_token`, `eos_token`,
/// `unk_token`, `pad_token`.
public struct ChatTemplate: @unchecked Sendable {
    public let source: String
    public let bosToken: String
    public let eosToken: String
    public let unknownToken: String
    public let paddingToken: String
    private let template: JinjaTemplate

    /// Parses `source`; a construct outside the supported subset is a `JinjaError.unsupported` naming it.
    public init(source: String, bosToken: String = "", eosToken: String = "",
                unknownToken: String = "", paddingToken: String = "") throws {
        self.source = source
        self.bosToken = bosToken
        self.eosToken = eosToken
        self.unknownToken = unknownToken
        self.paddingToken = paddingToken
        template = try JinjaTemplate(source: source)
    }

    /// The conversation as text in the model's format.
    public func render(messages: [ChatMessage], addGenerationPrompt: Bool) throws -> String {
        try render(messages: messages.map { ["role": .string($0.role), "content": .string($0.content)] },
                   addGenerationPrompt: addGenerationPrompt)
    }

    /// Renders messages given as string dictionaries (keys kept in role, content, then sorted order).
    public func render(messages: [[String: String]], addGenerationPrompt: Bool) throws -> String {
        try render(messages: messages.map { m in m.mapValues { JinjaValue.string($0) } }, addGenerationPrompt: addGenerationPrompt)
    }

    func render(messages: [[String: JinjaValue]], addGenerationPrompt: Bool,
                extra: [String: JinjaValue] = [:]) throws -> String {
        let list: [JinjaValue] = messages.map { m in
            var d = JinjaDict()
            for k in ["role", "content"] where m[k] != nil { d[k] = m[k] }
            for k in m.keys.sorted() where k != "role" && k != "content" { d[k] = m[k] }
            return .dict(d)
        }
        var globals: [String: JinjaValue] = [
            "messages": .array(list),
            "add_generation_prompt": .bool(addGenerationPrompt),
            "bos_token": .string(bosToken),
            "eos_token": .string(eosToken),
            "unk_token": .string(unknownToken),
            "pad_token": .string(paddingToken),
        ]
        for (k, v) in extra { globals[k] = v }
        return try template.render(globals)
    }

    /// Render with arbitrary variables (for tests and tools passing more than messages).
    func render(variables: [String: JinjaValue]) throws -> String {
        try template.render(variables)
    }

    /// The standard format of a family for models without a template: Gemma's turn markers
    /// (`<start_of_turn>user\n...<end_of_turn>\n`, assistant role written `model`, system text folded
    /// into the first user turn, BOS first), else ChatML (`<|im_start|>role\n...<|im_end|>\n`).
    public static func standardFormat(family: String, model: TokenizerModel) -> String {
        if family.lowercased().hasPrefix("gemma") { return gemmaFormat }
        return chatMLFormat
    }

    static let chatMLFormat = """
    {%- for message in messages -%}
    {{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' -}}
    {%- endfor -%}
    {%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}
    """

    static let gemmaFormat = """
    {{- bos_token -}}
    {%- if messages and messages[0]['role'] == 'system' -%}
    {%- set system_prefix = messages[0]['content'] + '\\n\\n' -%}
    {%- set turns = messages[1:] -%}
    {%- else -%}
    {%- set system_prefix = '' -%}
    {%- set turns = messages -%}
    {%- endif -%}
    {%- for message in turns -%}
    {%- if message['role'] == 'assistant' -%}{%- set role = 'model' -%}{%- else -%}{%- set role = message['role'] -%}{%- endif -%}
    {{- '<start_of_turn>' + role + '\\n' + (system_prefix if loop.first else '') + message['content'] | trim + '<end_of_turn>\\n' -}}
    {%- endfor -%}
    {%- if add_generation_prompt -%}{{- '<start_of_turn>model\\n' -}}{%- endif -%}
    """
}
