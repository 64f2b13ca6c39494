import Foundation

/// Renders parsed template nodes. Variables live in a stack of scopes: a for-loop body is a scope of its
/// own (so `set` inside it is not seen after the loop, as in Jinja); `namespace()` objects are shared.
struct JinjaInterpreter {
    private var scopes: [[String: JinjaValue]]

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

    private func lookup(_ name: String) -> JinjaValue {
        for scope in scopes.reversed() { if let v = scope[name] { return v } }
        return .undefined
    }

    private mutating func assign(_ name: String, _ v: JinjaValue) { scopes[scopes.count - 1][name] = v }

    private mutating func run(_ nodes: [JinjaNode], into out: inout String) throws {
        for node in nodes {
            switch node {
            case .text(let t): out += t
            case .output(let e): out += try eval(e).text
            case .ifChain(let branches, let otherwise):
                var taken = false
                for (c, body) in branches where try eval(c).isTruthy {
                    try run(body, into: &out); taken = true; break
                }
                if !taken { try run(otherwise, into: &out) }
            case let .forLoop(targets, iterable, condition, body, otherwise):
                try runFor(targets, try eval(iterable), condition, body, otherwise, into: &out)
            case let .set(targets, attribute, value):
                let v = try eval(value)
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
            case let .setBlock(name, body):
                var captured = ""
                try run(body, into: &captured)
                assign(name, .string(captured))
            }
        }
    }

    private mutating func runFor(_ targets: [String], _ iterable: JinjaValue, _ condition: JinjaExpr?,
                                 _ body: [JinjaNode], _ otherwise: [JinjaNode], into out: inout String) throws {
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
            scopes.append([:])
            defer { scopes.removeLast() }
            try bind(targets, x)
            var loop = JinjaDict()
            loop["index"] = .int(i + 1); loop["index0"] = .int(i)
            loop["revindex"] = .int(n - i); loop["revindex0"] = .int(n - i - 1)
            loop["first"] = .bool(i == 0); loop["last"] = .bool(i == n - 1); loop["length"] = .int(n)
            loop["previtem"] = i > 0 ? items[i - 1] : .undefined
            loop["nextitem"] = i + 1 < n ? items[i + 1] : .undefined
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

    private func sequence(_ v: JinjaValue, _ context: String) throws -> [JinjaValue] {
        switch v {
        case .array(let a): return a
        case .string(let s): return s.map { .string(String($0)) }
        case .dict(let d): return d.keys.map { .string($0) }
        case .undefined, .none: return []
        default: throw JinjaError.invalidInput("chat template: \(context) over a \(v.typeName), which is not iterable")
        }
    }

    // MARK: - Expressions

    private mutating func eval(_ e: JinjaExpr) throws -> JinjaValue {
        switch e {
        case .literal(let v): return v
        case .name(let n): return lookup(n)
        case .list(let items): return .array(try items.map { try eval($0) })
        case .dict(let pairs):
            var d = JinjaDict()
            for (k, v) in pairs { d[try eval(k).text] = try eval(v) }
            return .dict(d)
        case .attribute(let base, let name): return member(try eval(base), name)
        case .index(let base, let i): return try subscriptValue(try eval(base), try eval(i))
        case let .slice(base, a, b, c):
            return try sliceValue(try eval(base), a.map { try eval($0) }, b.map { try eval($0) }, c.map { try eval($0) })
        case let .call(callee, args, kwargs):
            let a = try args.map { try eval($0) }
            var kw: [String: JinjaValue] = [:]
            for (k, v) in kwargs { kw[k] = try eval(v) }
            if case .attribute(let base, let method) = callee { return try callMethod(try eval(base), method, a, kw) }
            if case .name(let fn) = callee { return try callFunction(fn, a, kw) }
            throw JinjaError.unsupported("chat template: calling an expression that is not a function or method")
        case let .filter(base, name, args, kwargs):
            let a = try args.map { try eval($0) }
            var kw: [String: JinjaValue] = [:]
            for (k, v) in kwargs { kw[k] = try eval(v) }
            return try applyFilter(name, try eval(base), a, kw)
        case let .test(base, name, args, negated):
            let r = try applyTest(name, try eval(base), try args.map { try eval($0) })
            return .bool(negated ? !r : r)
        case let .unary(op, x):
            let v = try eval(x)
            switch op {
            case "not": return .bool(!v.isTruthy)
            case "-":
                if case .int(let i) = v { return .int(-i) }
                if case .double(let d) = v { return .double(-d) }
                throw JinjaError.invalidInput("chat template: cannot negate a \(v.typeName)")
            default: return v
            }
        case let .binary(op, l, r):
            if op == "and" { let a = try eval(l); return a.isTruthy ? try eval(r) : a }
            if op == "or" { let a = try eval(l); return a.isTruthy ? a : try eval(r) }
            return try binary(op, try eval(l), try eval(r))
        case let .conditional(then, condition, otherwise):
            if try eval(condition).isTruthy { return try eval(then) }
            return try otherwise.map { try eval($0) } ?? .undefined
        }
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

    private func subscriptValue(_ v: JinjaValue, _ i: JinjaValue) throws -> JinjaValue {
        switch (v, i) {
        case let (.array(a), .int(n)): return index(n, count: a.count).map { a[$0] } ?? .undefined
        case let (.string(s), .int(n)):
            let chars = Array(s)
            return index(n, count: chars.count).map { .string(String(chars[$0])) } ?? .undefined
        case let (.dict(d), .string(k)): return d[k] ?? .undefined
        case let (.namespace(ns), .string(k)): return ns.dict[k] ?? .undefined
        case (.undefined, _): return .undefined
        default: return .undefined
        }
    }

    /// Python slicing `x[a:b:c]` of lists and strings.
    private func sliceValue(_ v: JinjaValue, _ a: JinjaValue?, _ b: JinjaValue?, _ c: JinjaValue?) throws -> JinjaValue {
        func int(_ x: JinjaValue?) throws -> Int? {
            switch x {
            case nil, .none?, .undefined?: return nil
            case .int(let i)?: return i
            default: throw JinjaError.invalidInput("chat template: slice index must be an integer")
            }
        }
        let step = try int(c) ?? 1
        guard step != 0 else { throw JinjaError.invalidInput("chat template: slice step cannot be zero") }
        func pick<T>(_ items: [T]) throws -> [T] {
            let n = items.count
            func clamp(_ x: Int?, _ dflt: Int) -> Int {
                guard var x else { return dflt }
                if x < 0 { x += n }
                return step > 0 ? min(max(x, 0), n) : min(max(x, -1), n - 1)
            }
            var out: [T] = []
            if step > 0 {
                var i = clamp(try int(a), 0); let end = clamp(try int(b), n)
                while i < end { out.append(items[i]); i += step }
            } else {
                var i = clamp(try int(a), n - 1); let end = clamp(try int(b), -1)
                while i > end { out.append(items[i]); i += step }
            }
            return out
        }
        switch v {
        case .array(let arr): return .array(try pick(arr))
        case .string(let s): return .string(String(try pick(Array(s))))
        default: throw JinjaError.invalidInput("chat template: cannot slice a \(v.typeName)")
        }
    }

    private func binary(_ op: String, _ a: JinjaValue, _ b: JinjaValue) throws -> JinjaValue {
        switch op {
        case "==": return .bool(a.equals(b))
        case "!=": return .bool(!a.equals(b))
        case "~": return .string(a.text + b.text)
        case "in", "not in":
            let found: Bool
            switch b {
            case .string(let s): found = s.contains(a.text) && { if case .string = a { return true }; return false }()
            case .array(let arr): found = arr.contains { $0.equals(a) }
            case .dict(let d): found = d[a.text] != nil
            case .undefined, .none: found = false
            default: throw JinjaError.invalidInput("chat template: 'in' on a \(b.typeName)")
            }
            return .bool(op == "in" ? found : !found)
        default: break
        }
        switch (a, b) {
        case let (.string(x), .string(y)):
            switch op {
            case "+": return .string(x + y)
            case "<": return .bool(x < y)
            case ">": return .bool(x > y)
            case "<=": return .bool(x <= y)
            case ">=": return .bool(x >= y)
            default: break
            }
        case let (.array(x), .array(y)) where op == "+": return .array(x + y)
        case let (.string(x), .int(n)) where op == "*": return .string(String(repeating: x, count: max(n, 0)))
        case let (.int(x), .int(y)):
            switch op {
            case "+": return .int(x + y)
            case "-": return .int(x - y)
            case "*": return .int(x * y)
            case "/": guard y != 0 else { break }; return .double(Double(x) / Double(y))
            case "//": guard y != 0 else { break }; return .int(Int((Double(x) / Double(y)).rounded(.down)))
            case "%": guard y != 0 else { break }; return .int(((x % y) + y) % y)
            case "**": return .int(Int(pow(Double(x), Double(y))))
            case "<": return .bool(x < y)
            case ">": return .bool(x > y)
            case "<=": return .bool(x <= y)
            case ">=": return .bool(x >= y)
            default: break
            }
        default: break
        }
        if let x = a.number, let y = b.number {
            switch op {
            case "+": return .double(x + y)
            case "-": return .double(x - y)
            case "*": return .double(x * y)
            case "/": if y != 0 { return .double(x / y) }
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

    private func callFunction(_ name: String, _ a: [JinjaValue], _ kw: [String: JinjaValue]) throws -> JinjaValue {
        switch name {
        case "raise_exception":
            throw JinjaError.invalidInput("chat template raised an exception: \(a.first?.text ?? "")")
        case "range":
            let ints = a.compactMap { if case .int(let i) = $0 { return i }; return nil }
            guard ints.count == a.count, (1...3).contains(ints.count) else {
                throw JinjaError.invalidInput("chat template: range() takes 1 to 3 integers")
            }
            let (lo, hi, step) = ints.count == 1 ? (0, ints[0], 1) : (ints[0], ints[1], ints.count == 3 ? ints[2] : 1)
            guard step != 0 else { throw JinjaError.invalidInput("chat template: range() step is zero") }
            return .array(Swift.stride(from: lo, to: hi, by: step).prefix(1_000_000).map { .int($0) })
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

    private func callMethod(_ v: JinjaValue, _ name: String, _ a: [JinjaValue], _ kw: [String: JinjaValue]) throws -> JinjaValue {
        switch (v, name) {
        case let (.string(s), "strip"): return .string(strip(s, a.first?.text, leading: true, trailing: true))
        case let (.string(s), "lstrip"): return .string(strip(s, a.first?.text, leading: true, trailing: false))
        case let (.string(s), "rstrip"): return .string(strip(s, a.first?.text, leading: false, trailing: true))
        case let (.string(s), "upper"): return .string(s.uppercased())
        case let (.string(s), "lower"): return .string(s.lowercased())
        case let (.string(s), "title"): return .string(s.capitalized)
        case let (.string(s), "capitalize"): return .string(s.prefix(1).uppercased() + s.dropFirst().lowercased())
        case let (.string(s), "startswith"): return .bool(try stringArgs(a, name).contains { s.hasPrefix($0) })
        case let (.string(s), "endswith"): return .bool(try stringArgs(a, name).contains { s.hasSuffix($0) })
        case let (.string(s), "replace"):
            guard a.count >= 2 else { throw JinjaError.invalidInput("chat template: replace() needs 2 arguments") }
            return .string(s.replacingOccurrences(of: a[0].text, with: a[1].text))
        case let (.string(s), "split"):
            if let sep = a.first, case .string(let t) = sep, !t.isEmpty {
                return .array(s.components(separatedBy: t).map { .string($0) })
            }
            return .array(s.split(whereSeparator: { $0.isWhitespace }).map { .string(String($0)) })
        case let (.string(s), "find"):
            guard let r = s.range(of: a.first?.text ?? "") else { return .int(-1) }
            return .int(s.distance(from: s.startIndex, to: r.lowerBound))
        case let (.dict(d), "items"): return .array(d.keys.map { .array([.string($0), d[$0]!]) })
        case let (.dict(d), "keys"): return .array(d.keys.map { .string($0) })
        case let (.dict(d), "values"): return .array(d.keys.map { d[$0]! })
        case let (.dict(d), "get"):
            return d[a.first?.text ?? ""] ?? (a.count > 1 ? a[1] : .none)
        default:
            throw JinjaError.unsupported("chat template: unsupported method '\(name)()' on a \(v.typeName)")
        }
    }

    private func stringArgs(_ a: [JinjaValue], _ name: String) throws -> [String] {
        switch a.first {
        case .string(let s)?: return [s]
        case .array(let xs)?: return xs.map(\.text)
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

    private func applyFilter(_ name: String, _ v: JinjaValue, _ a: [JinjaValue], _ kw: [String: JinjaValue]) throws -> JinjaValue {
        switch name {
        case "trim": return .string(strip(v.text, a.first?.text, leading: true, trailing: true))
        case "length", "count":
            switch v {
            case .string(let s): return .int(s.count)
            case .array(let x): return .int(x.count)
            case .dict(let d): return .int(d.keys.count)
            case .undefined: return .int(0)
            default: throw JinjaError.invalidInput("chat template: length of a \(v.typeName)")
            }
        case "tojson":
            var indent: Int?
            if case .int(let i)? = kw["indent"] ?? a.first { indent = i }
            return .string(v.json(indent: indent))
        case "upper": return .string(v.text.uppercased())
        case "lower": return .string(v.text.lowercased())
        case "capitalize": let s = v.text; return .string(s.prefix(1).uppercased() + s.dropFirst().lowercased())
        case "title": return .string(v.text.capitalized)
        case "default", "d":
            let boolean = (kw["boolean"] ?? (a.count > 1 ? a[1] : .bool(false))).isTruthy
            if !v.isDefined || (boolean && !v.isTruthy) { return a.first ?? .string("") }
            return v
        case "first": return try sequence(v, "first").first ?? .undefined
        case "last": return try sequence(v, "last").last ?? .undefined
        case "join":
            let sep = (a.first ?? kw["d"])?.text ?? ""
            return .string(try sequence(v, "join").map(\.text).joined(separator: sep))
        case "replace":
            guard a.count >= 2 else { throw JinjaError.invalidInput("chat template: replace needs 2 arguments") }
            return .string(v.text.replacingOccurrences(of: a[0].text, with: a[1].text))
        case "string", "safe": return name == "safe" ? v : .string(v.text)
        case "int":
            switch v {
            case .int: return v
            case .double(let d): return .int(Int(d))
            case .bool(let b): return .int(b ? 1 : 0)
            default: return .int(Int(v.text.trimmingCharacters(in: .whitespaces)) ?? 0)
            }
        case "float": return .double(v.number ?? Double(v.text) ?? 0)
        case "abs":
            if case .int(let i) = v { return .int(abs(i)) }
            return .double(abs(v.number ?? 0))
        case "list": return .array(try sequence(v, "list"))
        case "items":
            guard case .dict(let d) = v else { return .array([]) }
            return .array(d.keys.map { .array([.string($0), d[$0]!]) })
        case "reverse":
            if case .string(let s) = v { return .string(String(s.reversed())) }
            return .array(try sequence(v, "reverse").reversed())
        case "unique":
            var out: [JinjaValue] = []
            for x in try sequence(v, "unique") where !out.contains(where: { $0.equals(x) }) { out.append(x) }
            return .array(out)
        case "wordcount": return .int(v.text.split(whereSeparator: { $0.isWhitespace }).count)
        case "indent":
            let width: Int = { if case .int(let i)? = a.first ?? kw["width"] { return i }; return 4 }()
            let pad = String(repeating: " ", count: width)
            let first = (kw["first"] ?? (a.count > 1 ? a[1] : .bool(false))).isTruthy
            let lines = v.text.components(separatedBy: "\n")
            return .string(lines.enumerated().map { i, l in
                (i == 0 && !first) || l.isEmpty ? l : pad + l }.joined(separator: "\n"))
        case "sort":
            let items = try sequence(v, "sort")
            return .array(items.sorted { x, y in
                if let p = x.number, let q = y.number { return p < q }
                return x.text < y.text })
        case "selectattr", "rejectattr":
            guard let attr = a.first?.text else { throw JinjaError.invalidInput("chat template: \(name) needs an attribute") }
            let keep = name == "selectattr"
            return .array(try sequence(v, name).filter { item in
                let x = member(item, attr)
                let r = a.count > 1 ? try applyTest(a[1].text, x, Array(a.dropFirst(2))) : x.isTruthy
                return r == keep
            })
        case "map":
            if let attr = kw["attribute"] { return .array(try sequence(v, "map").map { member($0, attr.text) }) }
            guard let f = a.first?.text else { throw JinjaError.invalidInput("chat template: map needs a filter") }
            return .array(try sequence(v, "map").map { try applyFilter(f, $0, Array(a.dropFirst()), [:]) })
        default:
            throw JinjaError.unsupported("chat template: unsupported filter '|\(name)'; supported: \(JinjaInterpreter.supportedFilters.joined(separator: ", "))")
        }
    }

    private func applyTest(_ name: String, _ v: JinjaValue, _ a: [JinjaValue]) throws -> Bool {
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
            if case .int(let i) = v, case .int(let d)? = a.first, d != 0 { return i % d == 0 }; return false
        case "equalto", "eq", "==", "sameas": return a.first.map { v.equals($0) } ?? false
        case "ne", "!=": return !(a.first.map { v.equals($0) } ?? false)
        case "in": return a.first.map { (try? binary("in", v, $0))?.isTruthy ?? false } ?? false
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
    var number: Double? {
        switch self {
        case .int(let i): return Double(i)
        case .double(let d): return d
        case .bool(let b): return b ? 1 : 0
        default: return nil
        }
    }
}
