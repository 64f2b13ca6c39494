/// A JSON value, for the loosely typed parts of config.json (rope settings, token ids).
enum JSONValue: Codable, Equatable, Sendable {
    case number(Double), string(String), bool(Bool), array([JSONValue]), object([String: JSONValue]), null

    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let d = try? c.decode(Double.self) { self = .number(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }

    func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .number(let d):
            if d == d.rounded(), abs(d) < 1e15 { try c.encode(Int(d)) } else { try c.encode(d) }
        case .string(let s): try c.encode(s)
        case .bool(let b): try c.encode(b)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        case .null: try c.encodeNil()
        }
    }

    var double: Double? { if case .number(let d) = self { return d } else { return nil } }
    var string: String? { if case .string(let s) = self { return s } else { return nil } }
    var object: [String: JSONValue]? { if case .object(let o) = self { return o } else { return nil } }
    /// Token ids the way config.json writes eos_token_id: one id as a number, several as an array.
    static func tokenIDs(_ ids: [Int]) -> JSONValue {
        ids.count == 1 ? .number(Double(ids[0])) : .array(ids.map { .number(Double($0)) })
    }

    /// An int, or the ints of an array (eos_token_id may be either); the inverse of `tokenIDs`.
    /// Numbers that are not integers an `Int` holds are left out.
    var ints: [Int] {
        switch self {
        case .number(let d): return Int(exactly: d).map { [$0] } ?? []
        case .array(let a): return a.compactMap { $0.double.flatMap { Int(exactly: $0) } }
        default: return []
        }
    }
}
