import Foundation

/// Renders parsed template nodes. Variables live in a stack of scopes: a for-loop body is a scope of its
/// own (so `set` inside it is not seen after the loop, as in Jinja); `namespace()` objects are shared.
///
/// Every render spends from one `JinjaBudget`, so a hostile template ends in an error naming the
/// `JinjaLimits` bound it hit instead of running without end or exhausting memory.
struct JinjaInterpreter {
    private var scopes: [[String: JinjaValue]]
    /// What this render has spent; the operator, filter, test, method and function files charge it too.
    var budget = JinjaBudget()

    init(globals: [String: JinjaValue]) { scopes = [globals] }

    mutating func render(_ nodes: [JinjaNode]) throws -> String {
        var out = ""
        try run(nodes, into: &out)
        return out
    }

    /// The keys of `loop` inside a for-loop, in order.
    private static let loopKeys = ["index", "index0", "revindex", "revindex0", "first", "last", "length", "previtem", "nextitem"]

    func lookup(_ name: String) -> JinjaValue {
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
    mutating func sequence(_ v: JinjaValue, _ context: String) throws -> [JinjaValue] {
        switch v {
        case .array(let a): return a
        case .string(let s): return try characters(s).map { .string(String($0)) }
        case .dict(let d): return d.keys.map { .string($0) }
        case .undefined, .none: return []
        default: throw JinjaError.invalidInput("chat template: \(context) over a \(v.typeName), which is not iterable")
        }
    }

    /// `Array(s)`, charged to the text budget and within `JinjaLimits.listItems`.
    mutating func characters(_ s: String) throws -> [Character] {
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
    mutating func text(_ v: JinjaValue) throws -> String { try v.text(&budget) }

    mutating func equal(_ a: JinjaValue, _ b: JinjaValue) throws -> Bool { try a.equals(b, &budget) }

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
        case let .filter(base, filter, args, kwargs):
            let a = try args.map { try eval($0) }
            var kw: [String: JinjaValue] = [:]
            for (k, v) in kwargs { kw[k] = try eval(v) }
            return try charged(try applyFilter(filter, try eval(base), a, kw))
        case let .test(base, test, args, negated):
            let r = try applyTest(test, try eval(base), try args.map { try eval($0) })
            return .bool(negated ? !r : r)
        case let .unary(op, x): return try unary(op, try eval(x))
        case let .binary(.and, l, r): let a = try eval(l); return a.isTruthy ? try eval(r) : a
        case let .binary(.or, l, r): let a = try eval(l); return a.isTruthy ? a : try eval(r)
        case let .binary(op, l, r): return try charged(try binary(op, try eval(l), try eval(r)))
        case .unsupported(let error): throw error
        case let .conditional(then, condition, otherwise):
            if try eval(condition).isTruthy { return try eval(then) }
            return try otherwise.map { try eval($0) } ?? .undefined
        }
    }

    /// Charges a string that a filter, method or operator made to the text budget, within `JinjaLimits.stringBytes`.
    mutating func charged(_ v: JinjaValue) throws -> JinjaValue {
        if case .string(let s) = v { try budget.built(s) }
        return v
    }

    func member(_ v: JinjaValue, _ name: String) -> JinjaValue {
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
}
