import Foundation

/// Renders parsed template nodes. Variables live in a stack of scopes: a for-loop body is a scope of its
/// own (so `set` inside it is not seen after the loop, as in Jinja); `namespace()` objects are shared.
///
/// Every render spends from one `JinjaBudget`, so a hostile template ends in an error naming the
/// `JinjaLimits` bound it hit instead of running without end or exhausting memory.
struct JinjaInterpreter {
    private var scopes: [[String: JinjaValue]]
    private var budget = JinjaBudget()

    init(globals: [String: JinjaValue]) { scopes = [globals] }

    static let supportedFilters = ["trim", "length", "count", "tojson", "upper", "lower", "capitalize", "title",
                                   "default", "d", "first", "last", "join", "replace", "string", "int", "float",
                                   "list", "items", "reverse", "safe", "abs", "selectattr", "rejectattr", "map",
                                   "unique", "wordcount", "indent", "sort"]

    mutating func render(_ nodes: [JinjaNode]) throws -> String {
        var out = ""
        try run(nodes, into: &out)
        return out
    }

    /// The keys of `loop` inside a for-loop, in order.
    private static let loopKeys = ["index", "index0", "revindex", "revindex0", "first", "last", "length", "previtem", "nextitem"]

    private func lookup(_ name: String) -> JinjaValue {
        for scope in scopes.reversed() { if let v = scope[name] { return v } }
        return .undefined
    }

    private mutating func assign(_ name: String, _ v: JinjaValue) { scopes[scopes.count - 1][name] = v }

    /// Appends rendered text within `JinjaLimits.stringBytes`, charging it to the text budget.
    private mutating func emit(_ piece: String, into out: inout String) throws {
        try budget.append(piece, to: &out)
        try budget.text(piece.utf8.count)
    }

    private mutating func run(_ nodes: [JinjaNode], into out: inout String) throws {
        for node in nodes {
            try budget.step()
            switch node {
            case .text(let t): try emit(t, into: &out)
            case let .output(e, line):
                budget.line = line
                try emit(try text(try eval(e)), into: &out)
            case .ifChain(let branches, let otherwise):
                var taken = false
                for branch in branches {
                    budget.line = branch.line
                    if try eval(branch.condition).isTruthy { try run(branch.body, into: &out); taken = true; break }
                }
                if !taken { try run(otherwise, into: &out) }
            case let .forLoop(targets, iterable, condition, body, otherwise, line):
                budget.line = line
                try runFor(targets, try eval(iterable), condition, body, otherwise, line: line, into: &out)
            case let .set(targets, attribute, value, line):
                budget.line = line
                let v = try eval(value)
                // What is stored nests within JinjaLimits.valueDepth; a namespace holds no namespace.
                try v.checkNesting(&budget, allowNamespace: attribute == nil)
                if let attribute {
                    guard case .namespace(let ns) = lookup(targets[0]) else {
                        throw JinjaError.invalidInput("chat template: cannot set attribute '\(attribute)' of '\(targets[0])', which is not a namespace")
                    }
                    ns.dict[attribute] = v
                } else if targets.count == 1 {
                    assign(targets[0], v)
                } else {
                    let items = try sequence(v, "set")
                    guard items.count == targets.count else {
                        throw JinjaError.invalidInput("chat template: cannot unpack \(items.count) values into \(targets.count) names")
                    }
                    for (t, x) in zip(targets, items) { assign(t, x) }
                }
            case let .setBlock(name, body, line):
                budget.line = line
                var captured = ""
                try run(body, into: &captured)
                assign(name, .string(captured))
            }
        }
    }

    private mutating func runFor(_ targets: [String], _ iterable: JinjaValue, _ condition: JinjaExpr?,
                                 _ body: [JinjaNode], _ otherwise: [JinjaNode], line: Int, into out: inout String) throws {
        var items: [JinjaValue]
        if case .dict(let d) = iterable { items = d.keys.map { .string($0) } } else { items = try sequence(iterable, "for") }
        if let condition {   // the filter runs before loop variables exist, as in Jinja
            var kept: [JinjaValue] = []
            for x in items {
                scopes.append([:]); defer { scopes.removeLast() }
                try bind(targets, x)
                if try eval(condition).isTruthy { kept.append(x) }
            }
            items = kept
        }
        if items.isEmpty { try run(otherwise, into: &out); return }
        let n = items.count
        for (i, x) in items.enumerated() {
            budget.line = line
            try budget.step()
            scopes.append([:])
            defer { scopes.removeLast() }
            try bind(targets, x)
            let loop = JinjaDict(keys: JinjaInterpreter.loopKeys, values: [
                "index": .int(i + 1), "index0": .int(i), "revindex": .int(n - i), "revindex0": .int(n - i - 1),
                "first": .bool(i == 0), "last": .bool(i == n - 1), "length": .int(n),
                "previtem": i > 0 ? items[i - 1] : .undefined, "nextitem": i + 1 < n ? items[i + 1] : .undefined,
            ])
            assign("loop", .dict(loop))
            try run(body, into: &out)
        }
    }

    private mutating func bind(_ targets: [String], _ x: JinjaValue) throws {
        if targets.count == 1 { assign(targets[0], x); return }
        let parts = try sequence(x, "for")
        guard parts.count == targets.count else {
            throw JinjaError.invalidInput("chat template: cannot unpack \(parts.count) values into \(targets.count) loop names")
        }
        for (t, p) in zip(targets, parts) { assign(t, p) }
    }

    /// The items of a list, the characters of a string (at most `JinjaLimits.listItems`) or the keys of a dict.
    private mutating func sequence(_ v: JinjaValue, _ context: String) throws -> [JinjaValue] {
        switch v {
        case .array(let a): return a
        case .string(let s): return try characters(s).map { .string(String($0)) }
        case .dict(let d): return d.keys.map { .string($0) }
        case .undefined, .none: return []
        default: throw JinjaError.invalidInput("chat template: \(context) over a \(v.typeName), which is not iterable")
        }
    }

    /// `Array(s)`, charged to the text budget and within `JinjaLimits.listItems`.
    private mutating func characters(_ s: String) throws -> [Character] {
        try budget.text(s.utf8.count)
        var chars: [Character] = []
        for c in s {
            if chars.count == JinjaLimits.listItems { try budget.list(chars.count + 1) }
            chars.append(c)
        }
        try budget.step(chars.count)
        return chars
    }

    /// `str(v)`: the string itself, else its repr within the limits.
    private mutating func text(_ v: JinjaValue) throws -> String { try v.text(&budget) }

    private mutating func equal(_ a: JinjaValue, _ b: JinjaValue) throws -> Bool { try a.equals(b, &budget) }

    // MARK: - Expressions

    private mutating func eval(_ e: JinjaExpr) throws -> JinjaValue {
        try budget.step()
        switch e {
        case .literal(let v): return v
        case .name(let n): return lookup(n)
        case .list(let items): return .array(try items.map { try eval($0) })
        case .dict(let pairs):
            var d = JinjaDict()
            for (k, v) in pairs { d[try text(try eval(k))] = try eval(v) }
            return .dict(d)
        case .attribute(let base, let name): return member(try eval(base), name)
        case .index(let base, let i): return try subscriptValue(try eval(base), try eval(i))
        case let .slice(base, a, b, c):
            return try sliceValue(try eval(base), a.map { try eval($0) }, b.map { try eval($0) }, c.map { try eval($0) })
        case let .call(callee, args, kwargs):
            let a = try args.map { try eval($0) }
            var kw: [String: JinjaValue] = [:]
            for (k, v) in kwargs { kw[k] = try eval(v) }
            if case .attribute(let base, let method) = callee { return try charged(try callMethod(try eval(base), method, a, kw)) }
            if case .name(let fn) = callee { return try charged(try callFunction(fn, a, kw)) }
            throw JinjaError.unsupported("chat template: calling an expression that is not a function or method")
        case let .filter(base, name, args, kwargs):
            let a = try args.map { try eval($0) }
            var kw: [String: JinjaValue] = [:]
            for (k, v) in kwargs { kw[k] = try eval(v) }
            return try charged(try applyFilter(name, try eval(base), a, kw))
        case let .test(base, name, args, negated):
            let r = try applyTest(name, try eval(base), try args.map { try eval($0) })
            return .bool(negated ? !r : r)
        case let .unary(op, x):
            let v = try eval(x)
            switch op {
            case "not": return .bool(!v.isTruthy)
            case "-":
                if case .int(let i) = v { return .int(try checked(0.subtractingReportingOverflow(i), "-\(i)")) }
                if case .double(let d) = v { return .double(-d) }
                throw JinjaError.invalidInput("chat template: cannot negate a \(v.typeName)")
            default: return v
            }
        case let .binary(op, l, r):
            if op == "and" { let a = try eval(l); return a.isTruthy ? try eval(r) : a }
            if op == "or" { let a = try eval(l); return a.isTruthy ? a : try eval(r) }
            return try charged(try binary(op, try eval(l), try eval(r)))
        case let .conditional(then, condition, otherwise):
            if try eval(condition).isTruthy { return try eval(then) }
            return try otherwise.map { try eval($0) } ?? .undefined
        }
    }

    /// Charges a string that a filter, method or operator made to the text budget, within `JinjaLimits.stringBytes`.
    private mutating func charged(_ v: JinjaValue) throws -> JinjaValue {
        if case .string(let s) = v { try budget.built(s) }
        return v
    }

    private func member(_ v: JinjaValue, _ name: String) -> JinjaValue {
        switch v {
        case .dict(let d): return d[name] ?? .undefined
        case .namespace(let ns): return ns.dict[name] ?? .undefined
        default: return .undefined
        }
    }

    private func index(_ i: Int, count: Int) -> Int? {
        let j = i < 0 ? count + i : i
        return (0..<count).contains(j) ? j : nil
    }

    private mutating func subscriptValue(_ v: JinjaValue, _ i: JinjaValue) throws -> JinjaValue {
        switch (v, i) {
        case let (.array(a), .int(n)): return index(n, count: a.count).map { a[$0] } ?? .undefined
        case let (.string(s), .int(n)):
            // walks at most |n| characters from the nearer end; |n| past the length is out of range anyway
            let limit = s.utf8.count + 1
            let offset = min(max(n, -limit), limit)
            try budget.text(abs(offset))
            if offset >= 0 {
                guard let j = s.index(s.startIndex, offsetBy: offset, limitedBy: s.endIndex), j < s.endIndex else { return .undefined }
                return .string(String(s[j]))
            }
            guard let j = s.index(s.endIndex, offsetBy: offset, limitedBy: s.startIndex) else { return .undefined }
            return .string(String(s[j]))
        case let (.dict(d), .string(k)): return d[k] ?? .undefined
        case let (.namespace(ns), .string(k)): return ns.dict[k] ?? .undefined
        case (.undefined, _): return .undefined
        default: return .undefined
        }
    }

    /// Python slicing `x[a:b:c]` of lists and strings.
    private mutating func sliceValue(_ v: JinjaValue, _ a: JinjaValue?, _ b: JinjaValue?, _ c: JinjaValue?) throws -> JinjaValue {
        func int(_ x: JinjaValue?) throws -> Int? {
            switch x {
            case nil, .none?, .undefined?: return nil
            case .int(let i)?: return i
            default: throw JinjaError.invalidInput("chat template: slice index must be an integer")
            }
        }
        let step = try int(c) ?? 1
        guard step != 0 else { throw JinjaError.invalidInput("chat template: slice step cannot be zero") }
        let start = try int(a), end = try int(b)
        func pick<T>(_ items: [T]) -> [T] {
            let n = items.count
            func clamp(_ x: Int?, _ dflt: Int) -> Int {
                guard var x else { return dflt }
                if x < 0 { x += n }
                return step > 0 ? min(max(x, 0), n) : min(max(x, -1), n - 1)
            }
            var out: [T] = []
            if step > 0 {
                var i = clamp(start, 0); let stop = clamp(end, n)
                while i < stop {
                    out.append(items[i])
                    let (next, overflow) = i.addingReportingOverflow(step)
                    if overflow { break }
                    i = next
                }
            } else {
                // i >= 0 inside the loop and step < 0, so i + step cannot overflow
                var i = clamp(start, n - 1); let stop = clamp(end, -1)
                while i > stop { out.append(items[i]); i += step }
            }
            return out
        }
        switch v {
        case .array(let arr):
            let out = pick(arr)
            try budget.list(out.count)
            return .array(out)
        case .string(let s): return .string(String(pick(try characters(s))))
        default: throw JinjaError.invalidInput("chat template: cannot slice a \(v.typeName)")
        }
    }

    /// A 64-bit result, or an "integer out of range" error naming `what`.
    private func checked(_ r: (partialValue: Int, overflow: Bool), _ what: @autoclosure () -> String) throws -> Int {
        guard !r.overflow else { throw budget.outOfRange(what()) }
        return r.partialValue
    }

    private func divisionByZero(_ op: String) -> JinjaError { budget.error("division by zero in '\(op)'") }

    /// Python's integer arithmetic on 64 bits: `//` and `%` round toward negative infinity, `/` and
    /// `**` with a negative exponent give floats, and a result outside 64 bits is an error, never a
    /// wrapped number.
    private func intArithmetic(_ op: String, _ x: Int, _ y: Int) throws -> JinjaValue? {
        let what = "\(x) \(op) \(y)"
        switch op {
        case "+": return .int(try checked(x.addingReportingOverflow(y), what))
        case "-": return .int(try checked(x.subtractingReportingOverflow(y), what))
        case "*": return .int(try checked(x.multipliedReportingOverflow(by: y), what))
        case "/":
            guard y != 0 else { throw divisionByZero(op) }
            return .double(Double(x) / Double(y))
        case "//":
            guard y != 0 else { throw divisionByZero(op) }
            let q = try checked(x.dividedReportingOverflow(by: y), what)   // only Int.min // -1 overflows
            // |y| >= 2 when there is a remainder, so q - 1 cannot overflow
            return .int(x % y != 0 && (x < 0) != (y < 0) ? q - 1 : q)
        case "%":
            guard y != 0 else { throw divisionByZero(op) }
            if y == -1 { return .int(0) }   // Int.min % -1 would trap; every x % -1 is 0
            let r = x % y
            // r and y have opposite signs when adjusted, so r + y cannot overflow
            return .int(r != 0 && (r < 0) != (y < 0) ? r + y : r)
        case "**":
            if y < 0 {
                guard x != 0 else { throw divisionByZero(op) }
                return .double(pow(Double(x), Double(y)))
            }
            // square-and-multiply: a square overflows only when |x| >= 2 and a later bit needs it,
            // so the result would overflow too
            var result = 1, base = x, e = y
            while e > 0 {
                if e & 1 == 1 { result = try checked(result.multipliedReportingOverflow(by: base), what) }
                e >>= 1
                if e > 0 { base = try checked(base.multipliedReportingOverflow(by: base), what) }
            }
            return .int(result)
        case "<": return .bool(x < y)
        case ">": return .bool(x > y)
        case "<=": return .bool(x <= y)
        case ">=": return .bool(x >= y)
        default: return nil
        }
    }

    /// A float's integer part (Jinja's `int`), an error outside 64 bits; NaN gives Jinja's default, 0.
    private func integer(_ d: Double) throws -> Int {
        if d.isNaN { return 0 }
        guard let i = Int(exactly: d.rounded(.towardZero)) else { throw budget.outOfRange("\(d)") }
        return i
    }

    private mutating func binary(_ op: String, _ a: JinjaValue, _ b: JinjaValue) throws -> JinjaValue {
        switch op {
        case "==": return .bool(try equal(a, b))
        case "!=": return .bool(try !equal(a, b))
        case "~":
            let x = try text(a), y = try text(b)
            try budget.fits(x.utf8.count + y.utf8.count)
            return .string(x + y)
        case "in", "not in":
            let found: Bool
            switch b {
            case .string(let s):
                guard case .string(let t) = a else { found = false; break }
                try budget.text(s.utf8.count)
                found = s.contains(t)
            case .array(let arr):
                var hit = false
                for x in arr where try equal(x, a) { hit = true; break }
                found = hit
            case .dict(let d): found = d[try text(a)] != nil
            case .undefined, .none: found = false
            default: throw JinjaError.invalidInput("chat template: 'in' on a \(b.typeName)")
            }
            return .bool(op == "in" ? found : !found)
        default: break
        }
        switch (a, b) {
        case let (.string(x), .string(y)):
            switch op {
            case "+":
                try budget.fits(x.utf8.count + y.utf8.count)
                return .string(x + y)
            case "<", ">", "<=", ">=":
                try budget.text(min(x.utf8.count, y.utf8.count))
                switch op {
                case "<": return .bool(x < y)
                case ">": return .bool(x > y)
                case "<=": return .bool(x <= y)
                default: return .bool(x >= y)
                }
            default: break
            }
        case let (.array(x), .array(y)) where op == "+":
            try budget.list(x.count + y.count)
            return .array(x + y)
        case let (.string(x), .int(n)) where op == "*":
            // size checked before allocating: 'a' * 10**12 must not try to
            guard n > 0 else { return .string("") }
            let (size, overflow) = x.utf8.count.multipliedReportingOverflow(by: n)
            if overflow { throw budget.error("string repetition '* \(n)' exceeds the output-size limit of \(JinjaLimits.stringSize)") }
            try budget.fits(size)
            return .string(String(repeating: x, count: n))
        case let (.int(x), .int(y)):
            if let r = try intArithmetic(op, x, y) { return r }
        default: break
        }
        if let x = a.number, let y = b.number {
            switch op {
            case "+": return .double(x + y)
            case "-": return .double(x - y)
            case "*": return .double(x * y)
            case "/":
                guard y != 0 else { throw divisionByZero(op) }
                return .double(x / y)
            case "**": return .double(pow(x, y))
            case "<": return .bool(x < y)
            case ">": return .bool(x > y)
            case "<=": return .bool(x <= y)
            case ">=": return .bool(x >= y)
            default: break
            }
        }
        throw JinjaError.invalidInput("chat template: operator '\(op)' on \(a.typeName) and \(b.typeName)")
    }

    // MARK: - Functions, methods, filters, tests

    private mutating func callFunction(_ name: String, _ a: [JinjaValue], _ kw: [String: JinjaValue]) throws -> JinjaValue {
        switch name {
        case "raise_exception":
            throw JinjaError.invalidInput("chat template raised an exception: \(try a.first.map { try text($0) } ?? "")")
        case "range":
            let ints = a.compactMap { if case .int(let i) = $0 { return i }; return nil }
            guard ints.count == a.count, (1...3).contains(ints.count) else {
                throw JinjaError.invalidInput("chat template: range() takes 1 to 3 integers")
            }
            let (lo, hi, step) = ints.count == 1 ? (0, ints[0], 1) : (ints[0], ints[1], ints.count == 3 ? ints[2] : 1)
            guard step != 0 else { throw JinjaError.invalidInput("chat template: range() step is zero") }
            // the count in unsigned arithmetic, where hi - lo of any two Ints fits
            let span = step > 0 ? (hi > lo ? UInt(bitPattern: hi &- lo) : 0) : (lo > hi ? UInt(bitPattern: lo &- hi) : 0)
            let count = span == 0 ? 0 : (span - 1) / step.magnitude + 1
            guard count <= UInt(JinjaLimits.listItems) else {
                throw budget.error("range() of \(count) items exceeds the limit of \(JinjaLimits.listItems) items")
            }
            try budget.list(Int(count))
            var items: [JinjaValue] = []
            items.reserveCapacity(Int(count))
            var x = lo
            for _ in 0..<Int(count) {
                items.append(.int(x))
                x &+= step   // wraps only past the last item, which is never used
            }
            return .array(items)
        case "namespace":
            let ns = JinjaNamespace()
            if case .dict(let d)? = a.first { ns.dict = d }
            for k in kw.keys.sorted() { ns.dict[k] = kw[k] }
            return .namespace(ns)
        case "dict":
            var d = JinjaDict()
            for k in kw.keys.sorted() { d[k] = kw[k] }
            return .dict(d)
        default:
            if lookup(name).isDefined {
                throw JinjaError.unsupported("chat template: calling '\(name)', which is not a function")
            }
            throw JinjaError.unsupported("chat template: unsupported function '\(name)()'; supported: raise_exception, range, namespace, dict")
        }
    }

    private mutating func callMethod(_ v: JinjaValue, _ name: String, _ a: [JinjaValue], _ kw: [String: JinjaValue]) throws -> JinjaValue {
        if case .string(let s) = v { try budget.text(s.utf8.count) }   // string methods scan the string
        switch (v, name) {
        case let (.string(s), "strip"): return .string(strip(s, try a.first.map { try text($0) }, leading: true, trailing: true))
        case let (.string(s), "lstrip"): return .string(strip(s, try a.first.map { try text($0) }, leading: true, trailing: false))
        case let (.string(s), "rstrip"): return .string(strip(s, try a.first.map { try text($0) }, leading: false, trailing: true))
        case let (.string(s), "upper"): return .string(s.uppercased())
        case let (.string(s), "lower"): return .string(s.lowercased())
        case let (.string(s), "title"): return .string(s.capitalized)
        case let (.string(s), "capitalize"): return .string(s.prefix(1).uppercased() + s.dropFirst().lowercased())
        case let (.string(s), "startswith"): return .bool(try stringArgs(a, name).contains { s.hasPrefix($0) })
        case let (.string(s), "endswith"): return .bool(try stringArgs(a, name).contains { s.hasSuffix($0) })
        case let (.string(s), "replace"):
            guard a.count >= 2 else { throw JinjaError.invalidInput("chat template: replace() needs 2 arguments") }
            return .string(try replace(s, try text(a[0]), try text(a[1])))
        case let (.string(s), "split"):
            let parts: [Substring]
            if let sep = a.first, case .string(let t) = sep, !t.isEmpty {
                parts = try splitting(s, t)
            } else {
                parts = s.split(whereSeparator: { $0.isWhitespace })
            }
            try budget.list(parts.count)
            return .array(parts.map { .string(String($0)) })
        case let (.string(s), "find"):
            guard let r = s.range(of: try a.first.map { try text($0) } ?? "") else { return .int(-1) }
            return .int(s.distance(from: s.startIndex, to: r.lowerBound))
        case let (.dict(d), "items"):
            try budget.list(d.keys.count)
            return .array(d.keys.map { .array([.string($0), d[$0]!]) })
        case let (.dict(d), "keys"):
            try budget.list(d.keys.count)
            return .array(d.keys.map { .string($0) })
        case let (.dict(d), "values"):
            try budget.list(d.keys.count)
            return .array(d.keys.map { d[$0]! })
        case let (.dict(d), "get"):
            return d[try a.first.map { try text($0) } ?? ""] ?? (a.count > 1 ? a[1] : .none)
        default:
            throw JinjaError.unsupported("chat template: unsupported method '\(name)()' on a \(v.typeName)")
        }
    }

    /// `s.split(separator)` as Python does it (`separator` not empty), at most `JinjaLimits.listItems` parts.
    private mutating func splitting(_ s: String, _ separator: String) throws -> [Substring] {
        var parts: [Substring] = []
        var rest = s[...]
        while let r = rest.range(of: separator) {
            parts.append(rest[..<r.lowerBound])
            if parts.count >= JinjaLimits.listItems { try budget.list(parts.count + 1) }
            rest = rest[r.upperBound...]
        }
        parts.append(rest)
        return parts
    }

    /// `s.replace(old, new)` (an empty `old` leaves `s` as it is). When the result could pass
    /// `JinjaLimits.stringBytes`, the replacements are counted first, so an oversized one is never built.
    private mutating func replace(_ s: String, _ old: String, _ new: String) throws -> String {
        guard !old.isEmpty else { return s }
        let size = s.utf8.count, growth = new.utf8.count - old.utf8.count
        if growth > 0, size + size / old.utf8.count * growth > JinjaLimits.stringBytes {
            let tooMany = max(JinjaLimits.stringBytes - size, 0) / growth + 1
            if try occurrences(of: old, in: s, upTo: tooMany) >= tooMany {
                throw budget.error("replace() would grow the text past the output-size limit of \(JinjaLimits.stringSize)")
            }
        }
        return s.replacingOccurrences(of: old, with: new)
    }

    /// Non-overlapping occurrences of `needle`'s bytes in `haystack` (`needle` not empty), counted up
    /// to `limit`; each candidate compared is charged to the text budget.
    private mutating func occurrences(of needle: String, in haystack: String, upTo limit: Int) throws -> Int {
        let needle = Array(needle.utf8)
        var haystack = haystack   // withUTF8 needs it contiguous and mutable
        return try haystack.withUTF8 { h in
            guard let base = h.baseAddress else { return 0 }
            var count = 0, offset = 0
            while count < limit, offset + needle.count <= h.count,
                  let p = memchr(base + offset, Int32(needle[0]), h.count - offset - needle.count + 1) {
                let at = base.distance(to: p.assumingMemoryBound(to: UInt8.self))
                try budget.text(needle.count)
                if memcmp(base + at, needle, needle.count) == 0 { count += 1; offset = at + needle.count } else { offset = at + 1 }
            }
            return count
        }
    }

    private mutating func stringArgs(_ a: [JinjaValue], _ name: String) throws -> [String] {
        switch a.first {
        case .string(let s)?: return [s]
        case .array(let xs)?: return try xs.map { try text($0) }
        default: throw JinjaError.invalidInput("chat template: \(name)() needs a string")
        }
    }

    private func strip(_ s: String, _ chars: String?, leading: Bool, trailing: Bool) -> String {
        let drop: (Character) -> Bool = chars.map { set in { set.contains($0) } } ?? { $0.isWhitespace }
        var sub = Substring(s)
        if leading { sub = sub.drop(while: drop) }
        if trailing { while let l = sub.last, drop(l) { sub = sub.dropLast() } }
        return String(sub)
    }

    /// An integer filter argument that sizes padding (`tojson` indent, `indent` width), which must lie
    /// in `0...JinjaLimits.filterWidth`.
    private func width(_ v: JinjaValue, _ what: String) throws -> Int {
        guard case .int(let i) = v, (0...JinjaLimits.filterWidth).contains(i) else {
            throw budget.error("\(what) must be an integer from 0 to the limit of \(JinjaLimits.filterWidth), not \(v.typeName == "int" ? "\(v)" : "a \(v.typeName)")")
        }
        return i
    }

    private mutating func applyFilter(_ name: String, _ v: JinjaValue, _ a: [JinjaValue], _ kw: [String: JinjaValue]) throws -> JinjaValue {
        switch name {
        case "trim": return .string(strip(try text(v), try a.first.map { try text($0) }, leading: true, trailing: true))
        case "length", "count":
            switch v {
            case .string(let s):
                try budget.text(s.utf8.count)
                return .int(s.count)
            case .array(let x): return .int(x.count)
            case .dict(let d): return .int(d.keys.count)
            case .undefined: return .int(0)
            default: throw JinjaError.invalidInput("chat template: length of a \(v.typeName)")
            }
        case "tojson":
            var indent: Int?
            switch kw["indent"] ?? a.first {
            case nil, .none?, .undefined?: indent = nil
            case let i?: indent = try width(i, "tojson indent")
            }
            return .string(try v.json(indent: indent, &budget))
        case "upper": return .string(try text(v).uppercased())
        case "lower": return .string(try text(v).lowercased())
        case "capitalize": let s = try text(v); return .string(s.prefix(1).uppercased() + s.dropFirst().lowercased())
        case "title": return .string(try text(v).capitalized)
        case "default", "d":
            let boolean = (kw["boolean"] ?? (a.count > 1 ? a[1] : .bool(false))).isTruthy
            if !v.isDefined || (boolean && !v.isTruthy) { return a.first ?? .string("") }
            return v
        case "first": return try sequence(v, "first").first ?? .undefined
        case "last": return try sequence(v, "last").last ?? .undefined
        case "join":
            let sep = try (a.first ?? kw["d"]).map { try text($0) } ?? ""
            let parts = try sequence(v, "join").map { try text($0) }
            // size checked before joining: a list of many references to one long string must not be built
            let size = parts.reduce(0) { $0 + $1.utf8.count } + sep.utf8.count * max(parts.count - 1, 0)
            try budget.fits(size)
            return .string(parts.joined(separator: sep))
        case "replace":
            guard a.count >= 2 else { throw JinjaError.invalidInput("chat template: replace needs 2 arguments") }
            let s = try text(v)
            try budget.text(s.utf8.count)
            return .string(try replace(s, try text(a[0]), try text(a[1])))
        case "string", "safe": return name == "safe" ? v : .string(try text(v))
        case "int":
            switch v {
            case .int: return v
            case .double(let d): return .int(try integer(d))
            case .bool(let b): return .int(b ? 1 : 0)
            default:
                // as Jinja: int(s), else int(float(s)), else 0
                let s = try text(v).trimmingCharacters(in: .whitespaces)
                if let i = Int(s) { return .int(i) }
                let digits = s.hasPrefix("-") || s.hasPrefix("+") ? s.dropFirst() : Substring(s)
                if !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) { throw budget.outOfRange("'\(s.prefix(40))'") }
                if let d = Double(s) { return .int(try integer(d)) }
                return .int(0)
            }
        case "float": return .double(try v.number ?? Double(text(v)) ?? 0)
        case "abs":
            if case .int(let i) = v {
                guard i != .min else { throw budget.outOfRange("abs(\(i))") }
                return .int(abs(i))
            }
            return .double(abs(v.number ?? 0))
        case "list":
            let items = try sequence(v, "list")
            try budget.list(items.count)
            return .array(items)
        case "items":
            guard case .dict(let d) = v else { return .array([]) }
            try budget.list(d.keys.count)
            return .array(d.keys.map { .array([.string($0), d[$0]!]) })
        case "reverse":
            if case .string(let s) = v { return .string(String(try characters(s).reversed())) }
            let items = try sequence(v, "reverse")
            try budget.list(items.count)
            return .array(items.reversed())
        case "unique":
            var out: [JinjaValue] = []
            for x in try sequence(v, "unique") {
                var seen = false
                for y in out where try equal(y, x) { seen = true; break }
                if !seen { out.append(x) }
            }
            return .array(out)
        case "wordcount":
            let s = try text(v)
            try budget.text(s.utf8.count)
            return .int(s.split(whereSeparator: { $0.isWhitespace }).count)
        case "indent":
            let width = try width(a.first ?? kw["width"] ?? .int(4), "indent width")
            let pad = String(repeating: " ", count: width)
            let first = (kw["first"] ?? (a.count > 1 ? a[1] : .bool(false))).isTruthy
            let lines = try text(v).components(separatedBy: "\n")
            try budget.fits(lines.reduce(0) { $0 + $1.utf8.count + 1 + width })
            return .string(lines.enumerated().map { i, l in
                (i == 0 && !first) || l.isEmpty ? l : pad + l }.joined(separator: "\n"))
        case "sort":
            let items = try sequence(v, "sort")
            try budget.list(items.count)
            // numbers by value, anything else by text; each key made once
            let keys = try items.map { x in (number: x.number, text: try text(x)) }
            let order = try (0..<items.count).sorted { i, j in
                try budget.step()
                if let p = keys[i].number, let q = keys[j].number { return p < q }
                return keys[i].text < keys[j].text
            }
            return .array(order.map { items[$0] })
        case "selectattr", "rejectattr":
            guard let attr = try a.first.map({ try text($0) }) else { throw JinjaError.invalidInput("chat template: \(name) needs an attribute") }
            let keep = name == "selectattr"
            let test = try a.count > 1 ? text(a[1]) : nil
            return .array(try sequence(v, name).filter { item in
                let x = member(item, attr)
                let r = try test.map { try applyTest($0, x, Array(a.dropFirst(2))) } ?? x.isTruthy
                return r == keep
            })
        case "map":
            if let attr = kw["attribute"] {
                let key = try text(attr)
                return .array(try sequence(v, "map").map { member($0, key) })
            }
            guard let f = try a.first.map({ try text($0) }) else { throw JinjaError.invalidInput("chat template: map needs a filter") }
            return .array(try sequence(v, "map").map { try charged(try applyFilter(f, $0, Array(a.dropFirst()), [:])) })
        default:
            throw JinjaError.unsupported("chat template: unsupported filter '|\(name)'; supported: \(JinjaInterpreter.supportedFilters.joined(separator: ", "))")
        }
    }

    private mutating func applyTest(_ name: String, _ v: JinjaValue, _ a: [JinjaValue]) throws -> Bool {
        switch name {
        case "defined": return v.isDefined
        case "undefined": return !v.isDefined
        case "none": if case .none = v { return true }; return false
        case "string": if case .string = v { return true }; return false
        case "number": return v.number != nil && { if case .bool = v { return false }; return true }()
        case "integer": if case .int = v { return true }; return false
        case "float": if case .double = v { return true }; return false
        case "boolean": if case .bool = v { return true }; return false
        case "true": if case .bool(true) = v { return true }; return false
        case "false": if case .bool(false) = v { return true }; return false
        case "mapping": if case .dict = v { return true }; if case .namespace = v { return true }; return false
        case "sequence", "iterable":
            switch v { case .array, .string, .dict: return true; default: return false }
        case "odd": if case .int(let i) = v { return i % 2 != 0 }; return false
        case "even": if case .int(let i) = v { return i % 2 == 0 }; return false
        case "divisibleby":
            // -1 divides everything, and Int.min % -1 would trap
            if case .int(let i) = v, case .int(let d)? = a.first, d != 0 { return d == -1 || i % d == 0 }; return false
        case "equalto", "eq", "==", "sameas": return try a.first.map { try equal(v, $0) } ?? false
        case "ne", "!=": return try !(a.first.map { try equal(v, $0) } ?? false)
        case "in":
            switch a.first {
            case let b? where b.isContainer: return try binary("in", v, b).isTruthy
            default: return false
            }
        case "lt", "gt", "le", "ge":
            guard let b = a.first else { return false }
            let op = ["lt": "<", "gt": ">", "le": "<=", "ge": ">="][name]!
            return try binary(op, v, b).isTruthy
        default:
            throw JinjaError.unsupported("chat template: unsupported test 'is \(name)'")
        }
    }
}

extension JinjaValue {
    /// What `in` can look inside (or treats as empty).
    var isContainer: Bool {
        switch self {
        case .string, .array, .dict, .undefined, .none: return true
        default: return false
        }
    }

    var number: Double? {
        switch self {
        case .int(let i): return Double(i)
        case .double(let d): return d
        case .bool(let b): return b ? 1 : 0
        default: return nil
        }
    }
}
