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
        while accept(.name("or")) { try descend(); e = .binary(.or, e, try parseAnd()) }
        return e
    }

    private mutating func parseAnd() throws -> JinjaExpr {
        let saved = depth
        defer { depth = saved }
        var e = try parseNot()
        while accept(.name("and")) { try descend(); e = .binary(.and, e, try parseNot()) }
        return e
    }

    private mutating func parseNot() throws -> JinjaExpr {
        if accept(.name("not")) {
            let saved = depth
            defer { depth = saved }
            try descend()
            return .unary(.not, try parseNot())
        }
        return try parseCompare()
    }

    private mutating func parseCompare() throws -> JinjaExpr {
        let saved = depth
        defer { depth = saved }
        var e = try parseArithmetic()
        while true {
            let op: BinaryOperator
            if let o = accept(oneOf: BinaryOperator.comparisons) {
                op = o
            } else if accept(.name("in")) {
                op = .isIn
            } else if peek == .name("not"), k + 1 < tokens.count, tokens[k + 1] == .name("in") {
                k += 2; op = .notIn
            } else {
                return e
            }
            try descend(); e = .binary(op, e, try parseArithmetic())
        }
    }

    /// One level of `BinaryOperator.arithmeticLevels` (left-associative), then the tighter ones.
    private mutating func parseArithmetic(_ level: Int = 0) throws -> JinjaExpr {
        guard level < BinaryOperator.arithmeticLevels.count else { return try parseUnary() }
        let saved = depth
        defer { depth = saved }
        var e = try parseArithmetic(level + 1)
        while let op = accept(oneOf: BinaryOperator.arithmeticLevels[level]) {
            try descend(); e = .binary(op, e, try parseArithmetic(level + 1))
        }
        return e
    }

    /// The next token when it spells one of `ops`.
    private mutating func accept(oneOf ops: [BinaryOperator]) -> BinaryOperator? {
        guard case .op(let o)? = peek, let op = ops.first(where: { $0.rawValue == o }) else { return nil }
        k += 1
        return op
    }

    private mutating func parseUnary() throws -> JinjaExpr {
        if let op: UnaryOperator = accept(.op("-")) ? .negate : accept(.op("+")) ? .plus : nil {
            let saved = depth
            defer { depth = saved }
            try descend()
            return try filterChain(.unary(op, try parseUnary()))
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
                if let filter = JinjaFilter(rawValue: n) { e = .filter(e, filter, args, kwargs) }
                else { e = .unsupported(JinjaFilter.unsupported(n, line: line)) }
            } else if accept(.name("is")) {
                let negated = accept(.name("not"))
                guard case .name(let n)? = peek else { throw JinjaLexer.syntax("expected a test name after 'is'", line) }
                let test = JinjaTest(rawValue: n)
                k += 1
                var args: [JinjaExpr] = []
                if accept(.op("(")) { args = try arguments().0 }
                else if let t = peek, case .name(let a) = t, !["and", "or", "else", "if", "in", "not", "is"].contains(a) {
                    args = [try primary()]
                } else if let t = peek, case .string = t { args = [try primary()] }
                else if let t = peek, case .int = t { args = [try primary()] }
                if let test { e = .test(e, test, args, negated: negated) }
                else { e = .unsupported(JinjaTest.unsupported(n, line: line)) }
            } else {
                return e
            }
        }
    }
}
