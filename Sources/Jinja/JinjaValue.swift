import Foundation

/// A value inside a chat template: Python's types as Jinja sees them.
public enum JinjaValue {
    case undefined
    case none
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([JinjaValue])
    case dict(JinjaDict)
    case namespace(JinjaNamespace)

    /// Python truthiness.
    var isTruthy: Bool {
        switch self {
        case .undefined, .none: return false
        case .bool(let b): return b
        case .int(let i): return i != 0
        case .double(let d): return d != 0
        case .string(let s): return !s.isEmpty
        case .array(let a): return !a.isEmpty
        case .dict(let d): return !d.keys.isEmpty
        case .namespace: return true
        }
    }

    var isDefined: Bool { if case .undefined = self { return false }; return true }

    /// `str(x)` as `{{ x }}` prints it.
    func text(_ budget: inout JinjaBudget) throws -> String {
        switch self {
        case .undefined: return ""
        case .string(let s): return s
        default: return try repr(&budget)
        }
    }

    /// Python's `repr`, used for values inside lists and dicts.
    func repr(_ budget: inout JinjaBudget) throws -> String {
        var out = ""
        try writeRepr(into: &out, level: 0, &budget)
        return out
    }

    /// Appends the repr, one step per value and within `JinjaLimits.valueDepth` and `stringBytes`.
    private func writeRepr(into out: inout String, level: Int, _ budget: inout JinjaBudget) throws {
        try budget.step()
        guard level <= JinjaLimits.valueDepth else { throw budget.tooDeep() }
        switch self {
        case .undefined: return
        case .none: try budget.append("None", to: &out)
        case .bool(let b): try budget.append(b ? "True" : "False", to: &out)
        case .int(let i): try budget.append(String(i), to: &out)
        case .double(let d):
            if d.isFinite && d == d.rounded() && abs(d) < 1e16 { try budget.append(String(format: "%.1f", d), to: &out) }
            else { try budget.append("\(d)", to: &out) }
        case .string(let s):
            try budget.fits(out.utf8.count + s.utf8.count + 2)   // before escaping a string too long to fit
            let q = JinjaValue.contains(s, anyOf: [UInt8(ascii: "'")]) && !JinjaValue.contains(s, anyOf: [UInt8(ascii: "\"")]) ? "\"" : "'"
            if !JinjaValue.contains(s, anyOf: [UInt8(ascii: "\\"), q.utf8.first!, 10, 13, 9]) {
                try budget.append(q + s + q, to: &out)   // nothing to escape
                return
            }
            var quoted = q
            for ch in s.unicodeScalars {
                switch ch {
                case "\\": quoted += "\\\\"
                case "\n": quoted += "\\n"
                case "\r": quoted += "\\r"
                case "\t": quoted += "\\t"
                default: if String(ch) == q { quoted += "\\" + q } else { quoted.unicodeScalars.append(ch) }
                }
            }
            try budget.append(quoted + q, to: &out)
        case .array(let a):
            try budget.append("[", to: &out)
            for (i, x) in a.enumerated() {
                if i > 0 { try budget.append(", ", to: &out) }
                try x.writeRepr(into: &out, level: level + 1, &budget)
            }
            try budget.append("]", to: &out)
        case .dict(let d):
            try budget.append("{", to: &out)
            for (i, k) in d.keys.enumerated() {
                try budget.append((i > 0 ? ", '" : "'") + k + "': ", to: &out)
                try d.values[k]!.writeRepr(into: &out, level: level + 1, &budget)
            }
            try budget.append("}", to: &out)
        case .namespace: try budget.append("<Namespace>", to: &out)
        }
    }

    var typeName: String {
        switch self {
        case .undefined: return "undefined"
        case .none: return "none"
        case .bool: return "bool"
        case .int: return "int"
        case .double: return "float"
        case .string: return "string"
        case .array: return "list"
        case .dict: return "dict"
        case .namespace: return "namespace"
        }
    }

    /// Python `==`, one step per value compared and within `JinjaLimits.valueDepth`.
    func equals(_ o: JinjaValue, _ budget: inout JinjaBudget, level: Int = 0) throws -> Bool {
        try budget.step()
        guard level <= JinjaLimits.valueDepth else { throw budget.tooDeep() }
        switch (self, o) {
        case (.undefined, .undefined), (.none, .none): return true
        case let (.bool(a), .bool(b)): return a == b
        case let (.int(a), .int(b)): return a == b
        case let (.int(a), .double(b)), let (.double(b), .int(a)): return Double(a) == b
        case let (.double(a), .double(b)): return a == b
        case let (.string(a), .string(b)): return a == b
        case let (.array(a), .array(b)):
            guard a.count == b.count else { return false }
            for (x, y) in zip(a, b) where try !x.equals(y, &budget, level: level + 1) { return false }
            return true
        case let (.dict(a), .dict(b)):
            guard a.keys.count == b.keys.count else { return false }
            for k in a.keys {
                guard let y = b.values[k], try a.values[k]!.equals(y, &budget, level: level + 1) else { return false }
            }
            return true
        case let (.namespace(a), .namespace(b)): return a === b
        default: return false
        }
    }

    /// Throws unless the value nests within `JinjaLimits.valueDepth`, one step per value visited;
    /// `.set` checks what it stores, so no stored value nests deeper (and releasing one cannot
    /// recurse deeply). With `allowNamespace` false a namespace anywhere inside is an error: a
    /// namespace set into a namespace could make a cycle or a chain that nests without end.
    func checkNesting(_ budget: inout JinjaBudget, allowNamespace: Bool = true, level: Int = 0) throws {
        try budget.step()
        guard level <= JinjaLimits.valueDepth else { throw budget.tooDeep() }
        switch self {
        case .array(let a): for x in a { try x.checkNesting(&budget, allowNamespace: allowNamespace, level: level + 1) }
        case .dict(let d): for k in d.keys { try d.values[k]!.checkNesting(&budget, allowNamespace: allowNamespace, level: level + 1) }
        case .namespace(let n):
            guard allowNamespace else {
                throw budget.error("a namespace attribute cannot hold a namespace; namespaces set into namespaces could nest past the nesting-depth limit of \(JinjaLimits.valueDepth) levels")
            }
            for k in n.dict.keys { try n.dict.values[k]!.checkNesting(&budget, allowNamespace: allowNamespace, level: level + 1) }
        default: return
        }
    }

    /// JSON text, as `json.dumps(x, ensure_ascii=False)` writes it (`indent` pretty-prints), within
    /// `JinjaLimits.valueDepth` and `stringBytes`.
    func json(indent: Int?, _ budget: inout JinjaBudget) throws -> String {
        var out = ""
        try writeJSON(into: &out, indent: indent, level: 0, &budget)
        return out
    }

    private func writeJSON(into out: inout String, indent: Int?, level: Int, _ budget: inout JinjaBudget) throws {
        try budget.step()
        guard level <= JinjaLimits.valueDepth else { throw budget.tooDeep() }
        // indent <= JinjaLimits.filterWidth and level <= valueDepth keep these small
        let pad = indent.map { "\n" + String(repeating: " ", count: $0 * (level + 1)) } ?? ""
        let close = indent.map { "\n" + String(repeating: " ", count: $0 * level) } ?? ""
        let sep = indent == nil ? ", " : ","
        switch self {
        case .undefined, .none: try budget.append("null", to: &out)
        case .bool(let b): try budget.append(b ? "true" : "false", to: &out)
        case .int, .double: try writeRepr(into: &out, level: level, &budget)
        case .string(let s):
            try budget.fits(out.utf8.count + s.utf8.count + 2)   // before escaping a string too long to fit
            try budget.append(JinjaValue.jsonString(s), to: &out)
        case .array(let a):
            if a.isEmpty { try budget.append("[]", to: &out); return }
            try budget.append("[", to: &out)
            for (i, x) in a.enumerated() {
                try budget.append((i > 0 ? sep : "") + pad, to: &out)
                try x.writeJSON(into: &out, indent: indent, level: level + 1, &budget)
            }
            try budget.append(close + "]", to: &out)
        case .dict(let d):
            if d.keys.isEmpty { try budget.append("{}", to: &out); return }
            try budget.append("{", to: &out)
            for (i, k) in d.keys.enumerated() {
                try budget.append((i > 0 ? sep : "") + pad + JinjaValue.jsonString(k) + ": ", to: &out)
                try d.values[k]!.writeJSON(into: &out, indent: indent, level: level + 1, &budget)
            }
            try budget.append(close + "}", to: &out)
        case .namespace(let n): try JinjaValue.dict(n.dict).writeJSON(into: &out, indent: indent, level: level, &budget)
        }
    }

    /// Whether `s` has any of `bytes` in its UTF-8 (`memchr`, quick on long strings).
    static func contains(_ s: String, anyOf bytes: [UInt8]) -> Bool {
        var s = s   // withUTF8 needs it mutable; a native string is not copied
        return s.withUTF8 { b in
            guard let base = b.baseAddress else { return false }
            return bytes.contains { memchr(base, Int32($0), b.count) != nil }
        }
    }

    public static func jsonString(_ s: String) -> String {
        if !contains(s, anyOf: Array(0..<0x20) + [UInt8(ascii: "\""), UInt8(ascii: "\\")]) {
            return "\"" + s + "\""   // nothing to escape
        }
        var out = "\""
        for ch in s.unicodeScalars {
            switch ch {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if ch.value < 0x20 { out += String(format: "\\u%04x", ch.value) } else { out.unicodeScalars.append(ch) }
            }
        }
        return out + "\""
    }
}

/// A dict that keeps insertion order (templates iterate and `tojson` dicts).
public struct JinjaDict {
    public internal(set) var keys: [String] = []
    public internal(set) var values: [String: JinjaValue] = [:]

    public init() {}

    init(keys: [String], values: [String: JinjaValue]) {
        self.keys = keys
        self.values = values
    }

    public subscript(key: String) -> JinjaValue? {
        get { values[key] }
        set {
            if values[key] == nil, newValue != nil { keys.append(key) }
            if newValue == nil { keys.removeAll { $0 == key } }
            values[key] = newValue
        }
    }
}

/// `namespace(...)`: the one mutable object, so `set ns.x = ...` inside a loop is seen after it.
public final class JinjaNamespace {
    var dict = JinjaDict()
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
