/// A small strict JSON reader and writer for safetensors headers and index files.
///
/// Kept in TensorKit (rather than using Foundation's `JSONSerialization`) because a header must be
/// validated precisely: duplicate keys are an error (not "last one wins"), integers are read exactly
/// (no trip through `Double`), nesting depth is bounded, and object keys keep their file order.
enum SafetensorsJSON: Equatable {
    case object([(key: String, value: SafetensorsJSON)])
    case array([SafetensorsJSON])
    case string(String)
    /// The number's text as written, e.g. `"1024"` or `"-1.5e3"`.
    case number(String)
    case bool(Bool)
    case null

    static func == (a: SafetensorsJSON, b: SafetensorsJSON) -> Bool {
        switch (a, b) {
        case let (.object(x), .object(y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        case let (.array(x), .array(y)): return x == y
        case let (.string(x), .string(y)): return x == y
        case let (.number(x), .number(y)): return x == y
        case let (.bool(x), .bool(y)): return x == y
        case (.null, .null): return true
        default: return false
        }
    }

    /// A non-negative integer that fits an `Int` (digits only, no sign, fraction or exponent).
    var nonNegativeInt: Int? {
        guard case .number(let text) = self, !text.isEmpty, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        return Int(text)
    }

    var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    var kind: String {
        switch self {
        case .object: return "an object"
        case .array: return "an array"
        case .string: return "a string"
        case .number: return "a number"
        case .bool: return "a boolean"
        case .null: return "null"
        }
    }

    // MARK: Parsing

    struct ParseError: Error {
        let offset: Int
        let reason: String
        /// The object key being read when the error happened, if any (e.g. a duplicate key).
        let key: String?
    }

    static let maxDepth = 64

    /// Parses one JSON value from `bytes`, allowing only whitespace after it.
    static func parse(_ bytes: UnsafeRawBufferPointer) throws -> SafetensorsJSON {
        var p = Parser(bytes: bytes)
        p.skipWhitespace()
        let value = try p.value(depth: 0)
        p.skipWhitespace()
        guard p.position == bytes.count else { throw p.error("unexpected data after the JSON value") }
        return value
    }

    static func parse(_ bytes: [UInt8]) throws -> SafetensorsJSON {
        try bytes.withUnsafeBytes { try parse($0) }
    }

    private struct Parser {
        let bytes: UnsafeRawBufferPointer
        var position = 0

        init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

        func error(_ reason: String, key: String? = nil) -> ParseError {
            ParseError(offset: position, reason: reason, key: key)
        }

        var peek: UInt8? { position < bytes.count ? bytes[position] : nil }

        mutating func skipWhitespace() {
            while let c = peek, c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { position += 1 }
        }

        mutating func expect(_ literal: String) throws {
            for c in literal.utf8 {
                guard peek == c else { throw error("expected '\(literal)'") }
                position += 1
            }
        }

        mutating func value(depth: Int) throws -> SafetensorsJSON {
            guard depth < SafetensorsJSON.maxDepth else { throw error("nested deeper than \(SafetensorsJSON.maxDepth) levels") }
            guard let c = peek else { throw error("unexpected end of JSON") }
            switch c {
            case UInt8(ascii: "{"): return try object(depth: depth)
            case UInt8(ascii: "["): return try array(depth: depth)
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): try expect("true"); return .bool(true)
            case UInt8(ascii: "f"): try expect("false"); return .bool(false)
            case UInt8(ascii: "n"): try expect("null"); return .null
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
            default: throw error("unexpected character '\(Character(UnicodeScalar(c)))'")
            }
        }

        mutating func object(depth: Int) throws -> SafetensorsJSON {
            position += 1  // {
            var members: [(key: String, value: SafetensorsJSON)] = []
            var seen = Set<String>()
            skipWhitespace()
            if peek == UInt8(ascii: "}") { position += 1; return .object(members) }
            while true {
                skipWhitespace()
                guard peek == UInt8(ascii: "\"") else { throw error("expected an object key") }
                let key = try string()
                guard seen.insert(key).inserted else { throw error("duplicate key", key: key) }
                skipWhitespace()
                try expect(":")
                skipWhitespace()
                let v: SafetensorsJSON
                do { v = try value(depth: depth + 1) } catch let e as ParseError where e.key == nil {
                    throw ParseError(offset: e.offset, reason: e.reason, key: key)
                }
                members.append((key, v))
                skipWhitespace()
                if peek == UInt8(ascii: ",") { position += 1; continue }
                try expect("}")
                return .object(members)
            }
        }

        mutating func array(depth: Int) throws -> SafetensorsJSON {
            position += 1  // [
            var elements: [SafetensorsJSON] = []
            skipWhitespace()
            if peek == UInt8(ascii: "]") { position += 1; return .array(elements) }
            while true {
                skipWhitespace()
                elements.append(try value(depth: depth + 1))
                skipWhitespace()
                if peek == UInt8(ascii: ",") { position += 1; continue }
                try expect("]")
                return .array(elements)
            }
        }

        mutating func number() throws -> String {
            let start = position
            if peek == UInt8(ascii: "-") { position += 1 }
            func digits(_ p: inout Parser) -> Int {
                var n = 0
                while let c = p.peek, c >= 0x30 && c <= 0x39 { p.position += 1; n += 1 }
                return n
            }
            guard digits(&self) > 0 else { throw error("malformed number") }
            if peek == UInt8(ascii: ".") {
                position += 1
                guard digits(&self) > 0 else { throw error("malformed number") }
            }
            if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
                position += 1
                if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { position += 1 }
                guard digits(&self) > 0 else { throw error("malformed number") }
            }
            return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
        }

        mutating func hex4() throws -> UInt32 {
            guard position + 4 <= bytes.count else { throw error("truncated \\u escape") }
            var v: UInt32 = 0
            for _ in 0..<4 {
                let c = bytes[position]
                let d: UInt8
                switch c {
                case 0x30...0x39: d = c - 0x30
                case 0x41...0x46: d = c - 0x41 + 10
                case 0x61...0x66: d = c - 0x61 + 10
                default: throw error("bad \\u escape")
                }
                v = v << 4 | UInt32(d)
                position += 1
            }
            return v
        }

        mutating func string() throws -> String {
            position += 1  // "
            var utf8: [UInt8] = []
            while true {
                guard let c = peek else { throw error("unterminated string") }
                position += 1
                switch c {
                case UInt8(ascii: "\""):
                    guard let s = String(validating: utf8, as: UTF8.self) else { throw error("string is not valid UTF-8") }
                    return s
                case UInt8(ascii: "\\"):
                    guard let e = peek else { throw error("unterminated string") }
                    position += 1
                    switch e {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): utf8.append(e)
                    case UInt8(ascii: "b"): utf8.append(0x08)
                    case UInt8(ascii: "f"): utf8.append(0x0C)
                    case UInt8(ascii: "n"): utf8.append(0x0A)
                    case UInt8(ascii: "r"): utf8.append(0x0D)
                    case UInt8(ascii: "t"): utf8.append(0x09)
                    case UInt8(ascii: "u"):
                        var scalar = try hex4()
                        if (0xD800..<0xDC00).contains(scalar) {
                            try expect("\\u")
                            let low = try hex4()
                            guard (0xDC00..<0xE000).contains(low) else { throw error("unpaired surrogate in \\u escape") }
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        }
                        guard let u = Unicode.Scalar(scalar) else { throw error("invalid \\u escape") }
                        utf8.append(contentsOf: Array(String(Character(u)).utf8))
                    default: throw error("bad escape '\\\(Character(UnicodeScalar(e)))'")
                    }
                case 0x00..<0x20:
                    throw error("control character in string")
                default:
                    utf8.append(c)
                }
            }
        }
    }

    // MARK: Writing

    /// Compact JSON text (object keys in the order given).
    var serialized: String {
        var out = ""
        write(to: &out)
        return out
    }

    func write(to out: inout String) {
        switch self {
        case .object(let members):
            out += "{"
            for (i, m) in members.enumerated() {
                if i > 0 { out += "," }
                SafetensorsJSON.writeString(m.key, to: &out)
                out += ":"
                m.value.write(to: &out)
            }
            out += "}"
        case .array(let elements):
            out += "["
            for (i, e) in elements.enumerated() {
                if i > 0 { out += "," }
                e.write(to: &out)
            }
            out += "]"
        case .string(let s): SafetensorsJSON.writeString(s, to: &out)
        case .number(let n): out += n
        case .bool(let b): out += b ? "true" : "false"
        case .null: out += "null"
        }
    }

    static func writeString(_ s: String, to out: inout String) {
        out += "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where u.value < 0x20:
                let hex = String(u.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(u)
            }
        }
        out += "\""
    }
}
