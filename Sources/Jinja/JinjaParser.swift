/// An expression of the template language.
indirect enum JinjaExpr {
    case literal(JinjaValue)
    case name(String)
    case list([JinjaExpr])
    case dict([(JinjaExpr, JinjaExpr)])
    case attribute(JinjaExpr, String)
    case index(JinjaExpr, JinjaExpr)
    case slice(JinjaExpr, JinjaExpr?, JinjaExpr?, JinjaExpr?)
    case call(JinjaExpr, [JinjaExpr], [(String, JinjaExpr)])
    case filter(JinjaExpr, String, [JinjaExpr], [(String, JinjaExpr)])
    case test(JinjaExpr, String, [JinjaExpr], negated: Bool)
    case unary(String, JinjaExpr)
    case binary(String, JinjaExpr, JinjaExpr)
    case conditional(then: JinjaExpr, condition: JinjaExpr, otherwise: JinjaExpr?)
}

/// A statement of the template language; `line` is where its tag is, for errors while it runs.
indirect enum JinjaNode {
    case text(String)
    case output(JinjaExpr, line: Int)
    case ifChain([(condition: JinjaExpr, line: Int, body: [JinjaNode])], otherwise: [JinjaNode])
    case forLoop(targets: [String], iterable: JinjaExpr, condition: JinjaExpr?, body: [JinjaNode], otherwise: [JinjaNode], line: Int)
    case set(targets: [String], attribute: String?, value: JinjaExpr, line: Int)
    case setBlock(name: String, body: [JinjaNode], line: Int)
}

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

/// Expression parser with Jinja's precedence: conditional < or < and < not < comparisons/in/is <
/// `+ -` < `~` < `* / // %` < `**` < unary `-` < postfix (`.attr`, `[i]`, `[a:b]`, call, `|filter`, `is test`).
///
/// `depth` counts the nested expressions, `not`s and unary signs being parsed plus the links of the
/// operator/postfix/filter chains in progress, so neither the parser's recursion nor the tree it builds
/// (at most about twice as deep) passes `JinjaLimits.expressionDepth`.
struct JinjaExprParser {
    private let tokens: [JinjaToken]
    private let line: Int
    private var k = 0
    private var depth = 0

    init(tokens: [JinjaToken], line: Int) { self.tokens = tokens; self.line = line }

    func parsedWhole() throws -> JinjaExpr { var p = self; return try p.parseAll() }

    mutating func parseAll() throws -> JinjaExpr {
        let e = try parseExpression(allowConditional: true)
        try expectEnd()
        return e
    }

    func expectEnd() throws {
        if k < tokens.count { throw JinjaLexer.syntax("unexpected \(describe(tokens[k]))", line) }
    }

    private func describe(_ t: JinjaToken) -> String {
        switch t {
        case .name(let n): return "'\(n)'"
        case .string(let s): return "string '\(s)'"
        case .int(let i): return "\(i)"
        case .double(let d): return "\(d)"
        case .op(let o): return "'\(o)'"
        }
    }

    private var peek: JinjaToken? { k < tokens.count ? tokens[k] : nil }

    /// One level deeper; callers restore `depth` when they return.
    private mutating func descend() throws {
        depth += 1
        guard depth <= JinjaLimits.expressionDepth else {
            throw JinjaLexer.syntax("expression nested deeper than the nesting-depth limit of \(JinjaLimits.expressionDepth) levels", line)
        }
    }

    mutating func accept(_ t: JinjaToken) -> Bool {
        if peek == t { k += 1; return true }
        return false
    }

    private mutating func expect(_ t: JinjaToken) throws {
        guard accept(t) else {
            throw JinjaLexer.syntax("expected \(describe(t))" + (peek.map { ", found \(describe($0))" } ?? " at end of tag"), line)
        }
    }

    mutating func parseExpression(allowConditional: Bool) throws -> JinjaExpr {
        let saved = depth
        defer { depth = saved }
        try descend()
        let e = try parseOr()
        if allowConditional, accept(.name("if")) {
            let c = try parseOr()
            let otherwise: JinjaExpr? = accept(.name("else")) ? try parseExpression(allowConditional: true) : nil
            return .conditional(then: e, condition: c, otherwise: otherwise)
        }
        return e
    }

    private mutating func parseOr() throws -> JinjaExpr {
        let saved = depth
        defer { depth = saved }
        var e = try parseAnd()
        while accept(.name("or")) { try descend(); e = .binary("or", e, try parseAnd()) }
        return e
    }

    private mutating func parseAnd() throws -> JinjaExpr {
        let saved = depth
        defer { depth = saved }
        var e = try parseNot()
        while accept(.name("and")) { try descend(); e = .binary("and", e, try parseNot()) }
        return e
    }

    private mutating func parseNot() throws -> JinjaExpr {
        if accept(.name("not")) {
            let saved = depth
            defer { depth = saved }
            try descend()
            return .unary("not", try parseNot())
        }
        return try parseCompare()
    }

    private mutating func parseCompare() throws -> JinjaExpr {
        let saved = depth
        defer { depth = saved }
        var e = try parseMath1()
        while true {
            if case .op(let o)? = peek, ["==", "!=", "<", ">", "<=", ">="].contains(o) {
                k += 1; try descend(); e = .binary(o, e, try parseMath1())
            } else if accept(.name("in")) {
                try descend(); e = .binary("in", e, try parseMath1())
            } else if peek == .name("not"), k + 1 < tokens.count, tokens[k + 1] == .name("in") {
                k += 2; try descend(); e = .binary("not in", e, try parseMath1())
            } else {
                return e
            }
        }
    }

    private mutating func parseMath1() throws -> JinjaExpr {
        let saved = depth
        defer { depth = saved }
        var e = try parseConcat()
        while case .op(let o)? = peek, o == "+" || o == "-" { k += 1; try descend(); e = .binary(o, e, try parseConcat()) }
        return e
    }

    private mutating func parseConcat() throws -> JinjaExpr {
        let saved = depth
        defer { depth = saved }
        var e = try parseMath2()
        while accept(.op("~")) { try descend(); e = .binary("~", e, try parseMath2()) }
        return e
    }

    private mutating func parseMath2() throws -> JinjaExpr {
        let saved = depth
        defer { depth = saved }
        var e = try parsePow()
        while case .op(let o)? = peek, ["*", "/", "//", "%"].contains(o) { k += 1; try descend(); e = .binary(o, e, try parsePow()) }
        return e
    }

    private mutating func parsePow() throws -> JinjaExpr {
        let saved = depth
        defer { depth = saved }
        var e = try parseUnary()
        while accept(.op("**")) { try descend(); e = .binary("**", e, try parseUnary()) }
        return e
    }

    private mutating func parseUnary() throws -> JinjaExpr {
        if case .op(let sign)? = peek, sign == "-" || sign == "+" {
            k += 1
            let saved = depth
            defer { depth = saved }
            try descend()
            return try filterChain(.unary(sign, try parseUnary()))
        }
        return try filterChain(try postfix(try primary()))
    }

    private mutating func primary() throws -> JinjaExpr {
        guard let t = peek else { throw JinjaLexer.syntax("expression ends too early", line) }
        k += 1
        switch t {
        case .string(var s):
            while case .string(let more)? = peek { s += more; k += 1 }   // adjacent literals concatenate
            return .literal(.string(s))
        case .int(let i): return .literal(.int(i))
        case .double(let d): return .literal(.double(d))
        case .name(let n):
            switch n {
            case "true", "True": return .literal(.bool(true))
            case "false", "False": return .literal(.bool(false))
            case "none", "None": return .literal(.none)
            default: return .name(n)
            }
        case .op("("):
            let e = try parseExpression(allowConditional: true)
            if accept(.op(",")) {   // tuple: treated as a list
                var items = [e]
                while peek != .op(")") { items.append(try parseExpression(allowConditional: true)); if !accept(.op(",")) { break } }
                try expect(.op(")"))
                return .list(items)
            }
            try expect(.op(")"))
            return e
        case .op("["):
            var items: [JinjaExpr] = []
            while peek != .op("]") {
                items.append(try parseExpression(allowConditional: true))
                if !accept(.op(",")) { break }
            }
            try expect(.op("]"))
            return .list(items)
        case .op("{"):
            var pairs: [(JinjaExpr, JinjaExpr)] = []
            while peek != .op("}") {
                let key = try parseExpression(allowConditional: true)
                try expect(.op(":"))
                pairs.append((key, try parseExpression(allowConditional: true)))
                if !accept(.op(",")) { break }
            }
            try expect(.op("}"))
            return .dict(pairs)
        default:
            throw JinjaLexer.syntax("unexpected \(describe(t))", line)
        }
    }

    private mutating func postfix(_ base: JinjaExpr) throws -> JinjaExpr {
        let saved = depth
        defer { depth = saved }
        var e = base
        while true {
            if peek == .op(".") || peek == .op("[") || peek == .op("(") { try descend() }
            if accept(.op(".")) {
                guard case .name(let n)? = peek else { throw JinjaLexer.syntax("expected attribute name after '.'", line) }
                k += 1
                e = .attribute(e, n)
            } else if accept(.op("[")) {
                var parts: [JinjaExpr?] = [nil]
                var colons = 0
                while peek != .op("]") {
                    if accept(.op(":")) { colons += 1; parts.append(nil); continue }
                    guard peek != nil else { throw JinjaLexer.syntax("missing ']'", line) }
                    parts[parts.count - 1] = try parseExpression(allowConditional: true)
                }
                try expect(.op("]"))
                if colons == 0 {
                    guard let index = parts[0] else { throw JinjaLexer.syntax("empty subscript", line) }
                    e = .index(e, index)
                } else {
                    guard colons <= 2 else { throw JinjaLexer.syntax("bad slice", line) }
                    e = .slice(e, parts[0], parts[1], colons == 2 ? parts[2] : nil)
                }
            } else if peek == .op("(") {
                k += 1
                let (args, kwargs) = try arguments()
                e = .call(e, args, kwargs)
            } else {
                return e
            }
        }
    }

    /// `(a, b, key=value)` after the opening parenthesis.
    private mutating func arguments() throws -> ([JinjaExpr], [(String, JinjaExpr)]) {
        var args: [JinjaExpr] = [], kwargs: [(String, JinjaExpr)] = []
        while peek != .op(")") {
            if case .name(let n)? = peek, k + 1 < tokens.count, tokens[k + 1] == .op("=") {
                k += 2
                kwargs.append((n, try parseExpression(allowConditional: true)))
            } else {
                args.append(try parseExpression(allowConditional: true))
            }
            if !accept(.op(",")) { break }
        }
        try expect(.op(")"))
        return (args, kwargs)
    }

    private mutating func filterChain(_ base: JinjaExpr) throws -> JinjaExpr {
        let saved = depth
        defer { depth = saved }
        var e = base
        while true {
            if peek == .op("|") || peek == .name("is") { try descend() }
            if accept(.op("|")) {
                guard case .name(let n)? = peek else { throw JinjaLexer.syntax("expected a filter name after '|'", line) }
                k += 1
                var args: [JinjaExpr] = [], kwargs: [(String, JinjaExpr)] = []
                if accept(.op("(")) { (args, kwargs) = try arguments() }
                e = .filter(e, n, args, kwargs)
            } else if accept(.name("is")) {
                let negated = accept(.name("not"))
                guard case .name(let n)? = peek else { throw JinjaLexer.syntax("expected a test name after 'is'", line) }
                k += 1
                var args: [JinjaExpr] = []
                if accept(.op("(")) { args = try arguments().0 }
                else if let t = peek, case .name(let a) = t, !["and", "or", "else", "if", "in", "not", "is"].contains(a) {
                    args = [try primary()]
                } else if let t = peek, case .string = t { args = [try primary()] }
                else if let t = peek, case .int = t { args = [try primary()] }
                e = .test(e, n, args, negated: negated)
            } else {
                return e
            }
        }
    }
}
