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
    var text: String {
        switch self {
        case .undefined: return ""
        case .string(let s): return s
        default: return repr
        }
    }

    /// Python's `repr`, used for values inside lists and dicts.
    var repr: String {
        switch self {
        case .undefined: return ""
        case .none: return "None"
        case .bool(let b): return b ? "True" : "False"
        case .int(let i): return String(i)
        case .double(let d):
            if d.isFinite && d == d.rounded() && abs(d) < 1e16 { return String(format: "%.1f", d) }
            return "\(d)"
        case .string(let s):
            let q = s.contains("'") && !s.contains("\"") ? "\"" : "'"
            var out = q
            for ch in s.unicodeScalars {
                switch ch {
                case "\\": out += "\\\\"
                case "\n": out += "\\n"
                case "\r": out += "\\r"
                case "\t": out += "\\t"
                default: if String(ch) == q { out += "\\" + q } else { out.unicodeScalars.append(ch) }
                }
            }
            return out + q
        case .array(let a): return "[" + a.map(\.repr).joined(separator: ", ") + "]"
        case .dict(let d): return "{" + d.keys.map { "'\($0)': \(d.values[$0]!.repr)" }.joined(separator: ", ") + "}"
        case .namespace: return "<Namespace>"
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

    /// Python `==`.
    func equals(_ o: JinjaValue) -> Bool {
        switch (self, o) {
        case (.undefined, .undefined), (.none, .none): return true
        case let (.bool(a), .bool(b)): return a == b
        case let (.int(a), .int(b)): return a == b
        case let (.int(a), .double(b)), let (.double(b), .int(a)): return Double(a) == b
        case let (.double(a), .double(b)): return a == b
        case let (.string(a), .string(b)): return a == b
        case let (.array(a), .array(b)): return a.count == b.count && zip(a, b).allSatisfy { $0.equals($1) }
        case let (.dict(a), .dict(b)):
            return a.keys.count == b.keys.count && a.keys.allSatisfy { k in b.values[k].map { a.values[k]!.equals($0) } ?? false }
        case let (.namespace(a), .namespace(b)): return a === b
        default: return false
        }
    }

    /// JSON text, as `json.dumps(x, ensure_ascii=False)` writes it (`indent` pretty-prints).
    func json(indent: Int?, level: Int = 0) -> String {
        let pad = indent.map { "\n" + String(repeating: " ", count: $0 * (level + 1)) } ?? ""
        let close = indent.map { "\n" + String(repeating: " ", count: $0 * level) } ?? ""
        let sep = indent == nil ? ", " : ","
        switch self {
        case .undefined, .none: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .int, .double: return repr
        case .string(let s): return JinjaValue.jsonString(s)
        case .array(let a):
            if a.isEmpty { return "[]" }
            return "[" + a.map { pad + $0.json(indent: indent, level: level + 1) }.joined(separator: sep) + close + "]"
        case .dict(let d):
            if d.keys.isEmpty { return "{}" }
            return "{" + d.keys.map { pad + JinjaValue.jsonString($0) + ": " + d.values[$0]!.json(indent: indent, level: level + 1) }
                .joined(separator: sep) + close + "}"
        case .namespace(let n): return JinjaValue.dict(n.dict).json(indent: indent, level: level)
        }
    }

    public static func jsonString(_ s: String) -> String {
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
