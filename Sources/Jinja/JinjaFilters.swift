import Foundation

/// The supported filters (`x|name(args)`), in the order error messages list them; the raw value is the
/// filter's name. A filter outside this list is a parse-time `JinjaError.unsupported`.
enum JinjaFilter: String, CaseIterable {
    /// Whitespace (or the given characters) stripped from both ends.
    case trim
    /// Characters of a string, items of a list, keys of a dict; 0 for undefined. `count` is the same.
    case length, count
    /// JSON text, with `indent` (at most `JinjaLimits.filterWidth`) for pretty printing.
    case tojson
    case upper, lower
    /// First character upper case, the rest lower case.
    case capitalize
    /// Each word's first letter upper case.
    case title
    /// The argument (else `''`) when the value is undefined, or also when it is false with `boolean=true`.
    /// `d` is the same.
    case `default`, d
    /// The first or last item (character, key); undefined when empty.
    case first, last
    /// The items as text joined by the argument (else `''`).
    case join
    /// `s.replace(old, new)` of the value as text.
    case replace
    /// The value as text.
    case string
    /// Jinja's `int`: an integer as it is, a float truncated, a string parsed (as an int, else a
    /// float), anything else 0; a result outside 64 bits is an error.
    case int
    /// The value as a float, else 0.
    case float
    /// The items (characters, keys) as a list.
    case list
    /// A dict's `[key, value]` pairs; an empty list for anything else.
    case items
    /// The characters or items in reverse order.
    case reverse
    /// The value unchanged (nothing is escaped here).
    case safe
    /// The absolute value of a number.
    case abs
    /// The items whose attribute passes the test (its truth, without one) — or fails it, for `rejectattr`.
    case selectattr, rejectattr
    /// Each item's `attribute=`, or each item through the filter named by the first argument.
    case map
    /// The items without repeats (by Python equality), first occurrences kept.
    case unique
    /// Whitespace-separated words.
    case wordcount
    /// Every line but the first (all with `first=true`) and empty ones, indented by the width (default 4).
    case indent
    /// Numbers by value, anything else by its text.
    case sort

    /// The error for a filter outside the list, with the line when it is known at parse time.
    static func unsupported(_ name: String, line: Int? = nil) -> JinjaError {
        .unsupported("chat template: unsupported filter '|\(name)'\(line.map { " (line \($0))" } ?? ""); supported: "
            + allCases.map(\.rawValue).joined(separator: ", "))
    }
}

extension JinjaInterpreter {
    mutating func applyFilter(_ filter: JinjaFilter, _ v: JinjaValue, _ a: [JinjaValue], _ kw: [String: JinjaValue]) throws -> JinjaValue {
        switch filter {
        case .trim: return .string(strip(try text(v), try a.first.map { try text($0) }, leading: true, trailing: true))
        case .length, .count:
            switch v {
            case .string(let s):
                try budget.text(s.utf8.count)
                return .int(s.count)
            case .array(let x): return .int(x.count)
            case .dict(let d): return .int(d.keys.count)
            case .undefined: return .int(0)
            default: throw JinjaError.invalidInput("chat template: length of a \(v.typeName)")
            }
        case .tojson:
            var indent: Int?
            switch kw["indent"] ?? a.first {
            case nil, .none?, .undefined?: indent = nil
            case let i?: indent = try width(i, "tojson indent")
            }
            return .string(try v.json(indent: indent, &budget))
        case .upper: return .string(try text(v).uppercased())
        case .lower: return .string(try text(v).lowercased())
        case .capitalize: return .string(capitalized(try text(v)))
        case .title: return .string(try text(v).capitalized)
        case .default, .d:
            let boolean = (kw["boolean"] ?? (a.count > 1 ? a[1] : .bool(false))).isTruthy
            if !v.isDefined || (boolean && !v.isTruthy) { return a.first ?? .string("") }
            return v
        case .first: return try sequence(v, "first").first ?? .undefined
        case .last: return try sequence(v, "last").last ?? .undefined
        case .join:
            let sep = try (a.first ?? kw["d"]).map { try text($0) } ?? ""
            let parts = try sequence(v, "join").map { try text($0) }
            // size checked before joining: a list of many references to one long string must not be built
            let size = parts.reduce(0) { $0 + $1.utf8.count } + sep.utf8.count * max(parts.count - 1, 0)
            try budget.fits(size)
            return .string(parts.joined(separator: sep))
        case .replace:
            guard a.count >= 2 else { throw JinjaError.invalidInput("chat template: replace needs 2 arguments") }
            let s = try text(v)
            try budget.text(s.utf8.count)
            return .string(try replace(s, try text(a[0]), try text(a[1])))
        case .string: return .string(try text(v))
        case .safe: return v
        case .int:
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
        case .float: return .double(try v.number ?? Double(text(v)) ?? 0)
        case .abs:
            if case .int(let i) = v {
                guard i != .min else { throw budget.outOfRange("abs(\(i))") }
                return .int(Swift.abs(i))
            }
            return .double(Swift.abs(v.number ?? 0))
        case .list:
            let items = try sequence(v, "list")
            try budget.list(items.count)
            return .array(items)
        case .items:
            guard case .dict(let d) = v else { return .array([]) }
            try budget.list(d.keys.count)
            return .array(d.keys.map { .array([.string($0), d[$0]!]) })
        case .reverse:
            if case .string(let s) = v { return .string(String(try characters(s).reversed())) }
            let items = try sequence(v, "reverse")
            try budget.list(items.count)
            return .array(items.reversed())
        case .unique:
            var out: [JinjaValue] = []
            for x in try sequence(v, "unique") {
                var seen = false
                for y in out where try equal(y, x) { seen = true; break }
                if !seen { out.append(x) }
            }
            return .array(out)
        case .wordcount:
            let s = try text(v)
            try budget.text(s.utf8.count)
            return .int(s.split(whereSeparator: { $0.isWhitespace }).count)
        case .indent:
            let width = try width(a.first ?? kw["width"] ?? .int(4), "indent width")
            let pad = String(repeating: " ", count: width)
            let first = (kw["first"] ?? (a.count > 1 ? a[1] : .bool(false))).isTruthy
            let lines = try text(v).components(separatedBy: "\n")
            try budget.fits(lines.reduce(0) { $0 + $1.utf8.count + 1 + width })
            return .string(lines.enumerated().map { i, l in
                (i == 0 && !first) || l.isEmpty ? l : pad + l }.joined(separator: "\n"))
        case .sort:
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
        case .selectattr, .rejectattr:
            let name = filter.rawValue
            guard let attr = try a.first.map({ try text($0) }) else { throw JinjaError.invalidInput("chat template: \(name) needs an attribute") }
            let keep = filter == .selectattr
            let test = try a.count > 1 ? text(a[1]) : nil
            return .array(try sequence(v, name).filter { item in
                let x = member(item, attr)
                let r = try test.map { try applyTest(try JinjaTest.named($0), x, Array(a.dropFirst(2))) } ?? x.isTruthy
                return r == keep
            })
        case .map:
            if let attr = kw["attribute"] {
                let key = try text(attr)
                return .array(try sequence(v, "map").map { member($0, key) })
            }
            guard let f = try a.first.map({ try text($0) }) else { throw JinjaError.invalidInput("chat template: map needs a filter") }
            return .array(try sequence(v, "map").map {
                guard let mapped = JinjaFilter(rawValue: f) else { throw JinjaFilter.unsupported(f) }
                return try charged(try applyFilter(mapped, $0, Array(a.dropFirst()), [:]))
            })
        }
    }

    /// An integer filter argument that sizes padding (`tojson` indent, `indent` width), which must lie
    /// in `0...JinjaLimits.filterWidth`.
    private func width(_ v: JinjaValue, _ what: String) throws -> Int {
        guard case .int(let i) = v, (0...JinjaLimits.filterWidth).contains(i) else {
            throw budget.error("\(what) must be an integer from 0 to the limit of \(JinjaLimits.filterWidth), not \(v.typeName == "int" ? "\(v)" : "a \(v.typeName)")")
        }
        return i
    }

    /// A float's integer part (Jinja's `int`), an error outside 64 bits; NaN gives Jinja's default, 0.
    private func integer(_ d: Double) throws -> Int {
        if d.isNaN { return 0 }
        guard let i = Int(exactly: d.rounded(.towardZero)) else { throw budget.outOfRange("\(d)") }
        return i
    }
}
