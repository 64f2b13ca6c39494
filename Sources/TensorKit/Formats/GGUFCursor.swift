/// A bounds-checked little-endian reader over the bytes of a GGUF file.
///
/// Every read checks the bytes left first, and every count read from the file is checked against the
/// bytes left before anything is allocated for it, so a corrupt count fails fast with a typed error
/// instead of allocating gigabytes or looping for hours.
struct GGUFCursor {
    let bytes: UnsafeRawBufferPointer
    let file: String
    var position: Int = 0

    /// Deepest nesting of arrays accepted (real files use 1); bounds the recursion.
    static let maxArrayDepth = 8

    init(bytes: UnsafeRawBufferPointer, file: String) {
        self.bytes = bytes
        self.file = file
    }

    var remaining: Int { bytes.count - position }

    /// `key` may be a key name read from the file: it is quoted through `UserText`.
    func malformed(_ key: String, _ reason: String) -> TensorKitError {
        .malformed(file: file, key: UserText.sanitized(key, limit: UserText.defaultLimit + 16), reason: reason)
    }

    /// Throws unless `count` more bytes are left; `what` says what was being read.
    func need(_ count: Int, _ key: String, _ what: String) throws {
        guard count <= remaining else {
            throw malformed(key, "\(what) needs \(count) bytes at offset \(position) but only \(remaining) are left (truncated file?)")
        }
    }

    mutating func read<T: FixedWidthInteger>(_: T.Type, _ key: String, _ what: String) throws -> T {
        try need(MemoryLayout<T>.size, key, what)
        let v = T(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: T.self))
        position += MemoryLayout<T>.size
        return v
    }

    /// A `uint64` count or size that must fit an `Int`.
    mutating func readCount(_ key: String, _ what: String) throws -> Int {
        let v = try read(UInt64.self, key, what)
        guard let n = Int(exactly: v), n <= Int(Int64.max) else { throw malformed(key, "\(what) \(v) is too large") }
        return n
    }

    /// A GGUF string: `uint64` byte length, then that many UTF-8 bytes (invalid sequences are repaired).
    mutating func readString(_ key: String, _ what: String) throws -> String {
        let length = try read(UInt64.self, key, "\(what) length")
        guard length <= UInt64(remaining) else {
            throw malformed(key, "\(what) length \(length) runs past the end of the file (\(remaining) bytes left at offset \(position))")
        }
        let n = Int(length)
        let s = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[position..<(position + n)]), as: UTF8.self)
        position += n
        return s
    }

    /// The fewest bytes one value of type `type` can occupy in the file (for count validation).
    static func minimumSize(of type: UInt32) -> Int? {
        switch type {
        case 0, 1, 7: return 1
        case 2, 3: return 2
        case 4, 5, 6: return 4
        case 10, 11, 12: return 8
        case 8: return 8      // length prefix of an empty string
        case 9: return 4 + 8  // element type + count of an empty array
        default: return nil
        }
    }

    /// One value of type id `type` for metadata key `key`.
    mutating func readValue(type: UInt32, key: String, depth: Int = 0) throws -> GGUFValue {
        switch type {
        case 0: return .uint8(try read(UInt8.self, key, "UINT8 value"))
        case 1: return .int8(try read(Int8.self, key, "INT8 value"))
        case 2: return .uint16(try read(UInt16.self, key, "UINT16 value"))
        case 3: return .int16(try read(Int16.self, key, "INT16 value"))
        case 4: return .uint32(try read(UInt32.self, key, "UINT32 value"))
        case 5: return .int32(try read(Int32.self, key, "INT32 value"))
        case 6: return .float32(Float(bitPattern: try read(UInt32.self, key, "FLOAT32 value")))
        case 7: return .bool(try read(UInt8.self, key, "BOOL value") != 0)
        case 8: return .string(try readString(key, "string"))
        case 10: return .uint64(try read(UInt64.self, key, "UINT64 value"))
        case 11: return .int64(try read(Int64.self, key, "INT64 value"))
        case 12: return .float64(Double(bitPattern: try read(UInt64.self, key, "FLOAT64 value")))
        case 9:
            guard depth < GGUFCursor.maxArrayDepth else {
                throw malformed(key, "arrays nested deeper than \(GGUFCursor.maxArrayDepth) levels")
            }
            let elementType = try read(UInt32.self, key, "array element type")
            guard let minSize = GGUFCursor.minimumSize(of: elementType) else {
                throw malformed(key, "unknown array element type \(elementType)")
            }
            let count = try read(UInt64.self, key, "array count")
            guard count <= UInt64(remaining / minSize) else {
                throw malformed(key, "array count \(count) of \(GGUFValue.typeName(id: elementType)) needs at least \(count) × \(minSize) bytes but only \(remaining) are left")
            }
            var elements: [GGUFValue] = []
            elements.reserveCapacity(Int(count))
            for _ in 0..<Int(count) {
                elements.append(try readValue(type: elementType, key: key, depth: depth + 1))
            }
            return .array(elements)
        default:
            throw malformed(key, "unknown value type \(type)")
        }
    }
}
