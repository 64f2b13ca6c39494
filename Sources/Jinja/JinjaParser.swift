/// Recursive-descent parser for the subset of Jinja chat templates use. Anything else is an error
/// that names the construct. Blocks nest at most `JinjaLimits.blockDepth` deep.
struct JinjaParser {
    private let parts: [JinjaPart]
    private var index = 0
    /// Blocks open around the tag being parsed.
    private var blockDepth = 0

    static let supportedTags = "if/elif/else/endif, for/else/endfor, set/endset"

    static func parse(_ source: String) throws -> [JinjaNode] {
        var parser = JinjaParser(parts: try JinjaLexer.lex(source))
        let (nodes, stop) = try parser.body(until: [])
        if let stop { throw JinjaLexer.syntax("unexpected '{% \(stop.name) %}'", stop.line) }
        return nodes
    }

    private init(parts: [JinjaPart]) { self.parts = parts }

    /// Parses nodes until a statement whose keyword is in `stops`; returns it with its remaining tokens.
    private mutating func body(until stops: Set<String>) throws -> ([JinjaNode], (name: String, rest: [JinjaToken], line: Int)?) {
        var nodes: [JinjaNode] = []
        while index < parts.count {
            let part = parts[index]
            index += 1
            switch part {
            case .text(let t): nodes.append(.text(t))
            case .output(let tokens, let line):
                var e = JinjaExprParser(tokens: tokens, line: line)
                nodes.append(.output(try e.parseAll(), line: line))
            case .statement(let tokens, let line):
                guard case .name(let keyword)? = tokens.first else { throw JinjaLexer.syntax("empty or malformed tag", line) }
                let rest = Array(tokens.dropFirst())
                if stops.contains(keyword) { return (nodes, (keyword, rest, line)) }
                let opensBlock = ["if", "for", "set"].contains(keyword)
                if opensBlock { try enterBlock(line) }
                defer { if opensBlock { blockDepth -= 1 } }
                switch keyword {
                case "if": nodes.append(try ifStatement(rest, line))
                case "for": nodes.append(try forStatement(rest, line))
                case "set": nodes.append(try setStatement(rest, line))
                case "elif", "else", "endif", "endfor", "endset":
                    throw JinjaLexer.syntax("unexpected '{% \(keyword) %}'", line)
                default:
                    throw JinjaError.unsupported(
                        "chat template: unsupported tag '{% \(keyword) %}' (line \(line)); supported: \(JinjaParser.supportedTags)")
                }
            }
        }
        if !stops.isEmpty { throw JinjaLexer.syntax("missing '{% \(stops.sorted().last!) %}'", parts.isEmpty ? 1 : 0) }
        return (nodes, nil)
    }

    /// Counts a block that may open here against `JinjaLimits.blockDepth` (a `{% set %}` may be one).
    private mutating func enterBlock(_ line: Int) throws {
        blockDepth += 1
        guard blockDepth <= JinjaLimits.blockDepth else {
            throw JinjaLexer.syntax("blocks nested deeper than the nesting-depth limit of \(JinjaLimits.blockDepth) levels", line)
        }
    }

    private mutating func ifStatement(_ tokens: [JinjaToken], _ line: Int) throws -> JinjaNode {
        var branches: [(condition: JinjaExpr, line: Int, body: [JinjaNode])] = []
        var condition = try JinjaExprParser(tokens: tokens, line: line).parsedWhole()
        var conditionLine = line
        while true {
            let (nodes, stop) = try body(until: ["elif", "else", "endif"])
            guard let stop else { throw JinjaLexer.syntax("missing '{% endif %}' for if", line) }
            branches.append((condition, conditionLine, nodes))
            switch stop.name {
            case "elif":
                condition = try JinjaExprParser(tokens: stop.rest, line: stop.line).parsedWhole()
                conditionLine = stop.line
            case "else":
                let (otherwise, end) = try body(until: ["endif"])
                guard end != nil else { throw JinjaLexer.syntax("missing '{% endif %}' for if", line) }
                return .ifChain(branches, otherwise: otherwise)
            default: return .ifChain(branches, otherwise: [])
            }
        }
    }

    private mutating func forStatement(_ tokens: [JinjaToken], _ line: Int) throws -> JinjaNode {
        var targets: [String] = []
        var k = 0
        while k < tokens.count {
            guard case .name(let n) = tokens[k] else { throw JinjaLexer.syntax("bad for-loop target", line) }
            targets.append(n); k += 1
            if k < tokens.count, tokens[k] == .op(",") { k += 1; continue }
            break
        }
        guard k < tokens.count, tokens[k] == .name("in"), !targets.isEmpty else {
            throw JinjaLexer.syntax("expected 'for NAME in EXPR'", line)
        }
        var p = JinjaExprParser(tokens: Array(tokens[(k + 1)...]), line: line)
        let iterable = try p.parseExpression(allowConditional: false)
        var condition: JinjaExpr?
        if p.accept(.name("if")) { condition = try p.parseExpression(allowConditional: false) }
        if p.accept(.name("recursive")) {
            throw JinjaError.unsupported("chat template: unsupported 'recursive' for-loop (line \(line))")
        }
        try p.expectEnd()
        let (nodes, stop) = try body(until: ["else", "endfor"])
        guard let stop else { throw JinjaLexer.syntax("missing '{% endfor %}'", line) }
        var otherwise: [JinjaNode] = []
        if stop.name == "else" {
            let (e, end) = try body(until: ["endfor"])
            guard end != nil else { throw JinjaLexer.syntax("missing '{% endfor %}'", line) }
            otherwise = e
        }
        return .forLoop(targets: targets, iterable: iterable, condition: condition, body: nodes, otherwise: otherwise, line: line)
    }

    private mutating func setStatement(_ tokens: [JinjaToken], _ line: Int) throws -> JinjaNode {
        guard case .name(let first)? = tokens.first else { throw JinjaLexer.syntax("expected a name after set", line) }
        var k = 1
        var targets = [first]
        var attribute: String?
        if k + 1 < tokens.count, tokens[k] == .op("."), case .name(let a) = tokens[k + 1] { attribute = a; k += 2 }
        while attribute == nil, k + 1 < tokens.count, tokens[k] == .op(","), case .name(let n) = tokens[k + 1] {
            targets.append(n); k += 2
        }
        if k == tokens.count {
            guard attribute == nil, targets.count == 1 else { throw JinjaLexer.syntax("bad block set", line) }
            let (nodes, stop) = try body(until: ["endset"])
            guard stop != nil else { throw JinjaLexer.syntax("missing '{% endset %}'", line) }
            return .setBlock(name: first, body: nodes, line: line)
        }
        guard tokens[k] == .op("=") else { throw JinjaLexer.syntax("expected '=' in set", line) }
        let value = try JinjaExprParser(tokens: Array(tokens[(k + 1)...]), line: line).parsedWhole()
        return .set(targets: targets, attribute: attribute, value: value, line: line)
    }
}
