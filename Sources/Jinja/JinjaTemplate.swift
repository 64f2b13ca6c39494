/// A Jinja template (the subset chat templates use), parsed once and rendered with variables.
///
///     let t = try JinjaTemplate(source: "{% for m in messages %}{{ m['content'] }}{% endfor %}")
///     let text = try t.render(["messages": .array([.string("hi")])])
///
/// Parsing and rendering throw `JinjaError`; a construct outside the subset is `.unsupported`, naming it.
public struct JinjaTemplate: @unchecked Sendable {
    public let source: String
    private let nodes: [JinjaNode]

    public init(source: String) throws {
        self.source = source
        nodes = try JinjaParser.parse(source)
    }

    /// The template rendered with `variables` as its globals.
    public func render(_ variables: [String: JinjaValue]) throws -> String {
        var interpreter = JinjaInterpreter(globals: variables)
        return try interpreter.render(nodes)
    }
}
