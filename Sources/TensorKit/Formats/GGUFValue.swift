/// One metadata value of a GGUF file (`gguf_type` in ggml). Arrays may nest.
///
/// The enum is not declared `indirect`: arrays hold their elements in `Array` storage already, and
/// boxing every scalar would cost one allocation per token of a 262k-entry vocabulary.
public enum GGUFValue: Equatable, Sendable {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16), uint32(UInt32), int32(Int32)
    case float32(Float), bool(Bool), string(String), array([GGUFValue])
    case uint64(UInt64), int64(Int64), float64(Double)

    /// The value's type id in the file (`GGUF_TYPE_*`).
    public var typeID: UInt32 {
        switch self {
        case .uint8: return 0
        case .int8: return 1
        case .uint16: return 2
        case .int16: return 3
        case .uint32: return 4
        case .int32: return 5
        case .float32: return 6
        case .bool: return 7
        case .string: return 8
        case .array: return 9
        case .uint64: return 10
        case .int64: return 11
        case .float64: return 12
        }
    }

    /// The type's name as the `gguf` tools print it, e.g. `UINT32`, `ARRAY[STRING]`.
    public var typeName: String {
        switch self {
        case .array(let a): return "ARRAY[\(a.first.map { $0.typeName } ?? "")]"
        default: return GGUFValue.typeName(id: typeID)
        }
    }

    static func typeName(id: UInt32) -> String {
        let names = ["UINT8", "INT8", "UINT16", "INT16", "UINT32", "INT32", "FLOAT32", "BOOL", "STRING", "ARRAY",
                     "UINT64", "INT64", "FLOAT64"]
        return id < names.count ? names[Int(id)] : "type \(id)"
    }

    /// Any integer value that fits an `Int`; nil for other types.
    public var intValue: Int? {
        switch self {
        case .uint8(let v): return Int(v)
        case .int8(let v): return Int(v)
        case .uint16(let v): return Int(v)
        case .int16(let v): return Int(v)
        case .uint32(let v): return Int(v)
        case .int32(let v): return Int(v)
        case .uint64(let v): return Int(exactly: v)
        case .int64(let v): return Int(v)
        default: return nil
        }
    }

    /// A floating-point value, or an integer value converted to `Float`; nil for other types.
    public var floatValue: Float? {
        switch self {
        case .float32(let v): return v
        case .float64(let v): return Float(v)
        default: return intValue.map { Float($0) }
        }
    }

    public var boolValue: Bool? {
        if case .bool(let v) = self { return v }
        return nil
    }

    public var stringValue: String? {
        if case .string(let v) = self { return v }
        return nil
    }

    public var arrayValue: [GGUFValue]? {
        if case .array(let v) = self { return v }
        return nil
    }
}
