/// A JSON value with objects kept as ordered (key, value) pairs, compared byte for byte.
///
/// `tokenizer.json` vocabularies hold keys that Swift's `String` equality (canonical equivalence)
/// would merge, e.g. a precomposed and a decomposed `é`; Foundation's parser loses one of them.
enum TokenizerJSON {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([TokenizerJSON])
    case object([(String, TokenizerJSON)])

    subscript(key: String) -> TokenizerJSON? {
        guard case .object(let pairs) = self else { return nil }
        let k = Array(key.utf8)
        return pairs.first { $0.0.utf8.elementsEqual(k) }?.1
    }
    var string: String? { if case .string(let s) = self { return s }; return nil }
    var bool: Bool? { if case .bool(let b) = self { return b }; return nil }
    var int: Int? {
        if case .number(let d) = self, d.rounded() == d, abs(d) < 1e15 { return Int(d) }
        return nil
    }
    var array: [TokenizerJSON]? { if case .array(let a) = self { return a }; return nil }
    var pairs: [(String, TokenizerJSON)]? { if case .object(let p) = self { return p }; return nil }
    var isNull: Bool { if case .null = self { return true }; return false }

    /// Parses UTF-8 JSON text; `name` (the file) goes into error messages.
    static func parse(_ bytes: [UInt8], name: String) throws -> TokenizerJSON {
        var p = Parser(b: bytes, name: name)
        p.skip()
        let v = try p.value(depth: 0)
        p.skip()
        guard p.i == bytes.count else { throw p.fail("trailing characters") }
        return v
    }

    private struct Parser {
        let b: [UInt8]
        let name: String
        var i = 0

        init(b: [UInt8], name: String) { self.b = b; self.name = name }

        func fail(_ m: String) -> ModelError { .invalidInput("\(name): invalid JSON at byte \(i): \(m)") }

        mutating func skip() { while i < b.count, b[i] == 0x20 || b[i] == 0x0A || b[i] == 0x0D || b[i] == 0x09 { i += 1 } }

        mutating func literal(_ word: String, _ v: TokenizerJSON) throws -> TokenizerJSON {
            let w = Array(word.utf8)
            guard i + w.count <= b.count, Array(b[i..<(i + w.count)]) == w else { throw fail("expected \(word)") }
            i += w.count
            return v
        }

        mutating func value(depth: Int) throws -> TokenizerJSON {
            guard depth < 64 else { throw fail("nested too deeply") }
            guard i < b.count else { throw fail("unexpected end") }
            switch b[i] {
            case UInt8(ascii: "{"):
                i += 1; skip()
                var pairs: [(String, TokenizerJSON)] = []
                if i < b.count, b[i] == UInt8(ascii: "}") { i += 1; return .object(pairs) }
                while true {
                    skip()
                    guard i < b.count, b[i] == UInt8(ascii: "\"") else { throw fail("expected a key") }
                    let k = try string()
                    skip()
                    guard i < b.count, b[i] == UInt8(ascii: ":") else { throw fail("expected ':'") }
                    i += 1; skip()
                    pairs.append((k, try value(depth: depth + 1)))
                    skip()
                    guard i < b.count else { throw fail("unterminated object") }
                    if b[i] == UInt8(ascii: ",") { i += 1; continue }
                    if b[i] == UInt8(ascii: "}") { i += 1; return .object(pairs) }
                    throw fail("expected ',' or '}'")
                }
            case UInt8(ascii: "["):
                i += 1; skip()
                var items: [TokenizerJSON] = []
                if i < b.count, b[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
                while true {
                    skip()
                    items.append(try value(depth: depth + 1))
                    skip()
                    guard i < b.count else { throw fail("unterminated array") }
                    if b[i] == UInt8(ascii: ",") { i += 1; continue }
                    if b[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
                    throw fail("expected ',' or ']'")
                }
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): return try literal("true", .bool(true))
            case UInt8(ascii: "f"): return try literal("false", .bool(false))
            case UInt8(ascii: "n"): return try literal("null", .null)
            default:
                let start = i
                while i < b.count, "+-.eE0123456789".utf8.contains(b[i]) { i += 1 }
                guard i > start, let d = Double(String(decoding: b[start..<i], as: UTF8.self)) else { throw fail("bad value") }
                return .number(d)
            }
        }

        mutating func hex4() throws -> UInt32 {
            guard i + 4 <= b.count, let v = UInt32(String(decoding: b[i..<(i + 4)], as: UTF8.self), radix: 16) else {
                throw fail("bad \\u escape")
            }
            i += 4
            return v
        }

        mutating func string() throws -> String {
            i += 1
            var bytes: [UInt8] = []
            while true {
                guard i < b.count else { throw fail("unterminated string") }
                let c = b[i]
                if c == UInt8(ascii: "\"") { i += 1; break }
                if c != UInt8(ascii: "\\") { bytes.append(c); i += 1; continue }
                i += 1
                guard i < b.count else { throw fail("unterminated escape") }
                let e = b[i]; i += 1
                switch e {
                case UInt8(ascii: "n"): bytes.append(0x0A)
                case UInt8(ascii: "t"): bytes.append(0x09)
                case UInt8(ascii: "r"): bytes.append(0x0D)
                case UInt8(ascii: "b"): bytes.append(0x08)
                case UInt8(ascii: "f"): bytes.append(0x0C)
                case UInt8(ascii: "u"):
                    var v = try hex4()
                    if (0xD800..<0xDC00).contains(v), i + 1 < b.count, b[i] == UInt8(ascii: "\\"), b[i + 1] == UInt8(ascii: "u") {
                        let next = i
                        i += 2
                        let low = try hex4()
                        if (0xDC00..<0xE000).contains(low) {
                            v = 0x10000 + ((v - 0xD800) << 10) + (low - 0xDC00)
                        } else {
                            i = next  // a lone high surrogate (U+FFFD below); the next escape stands on its own
                        }
                    }
                    bytes.append(contentsOf: String(Unicode.Scalar(v) ?? "\u{FFFD}").utf8)
                default: bytes.append(e)
                }
            }
            return String(decoding: bytes, as: UTF8.self)
        }
    }
}
