/// Writes GGUF v3 files (the layout `GGUFFile` reads), for small models, test fixtures and tools.
///
/// The whole file is assembled in memory and written atomically (temporary file + rename).
public enum GGUFWriter {
    /// One tensor to write: `shape` is row-major (outermost first); it is stored reversed, innermost first.
    public struct TensorEntry: Sendable {
        public var name: String
        public var type: GGMLType
        public var shape: [Int]
        public var bytes: [UInt8]

        public init(name: String, type: GGMLType, shape: [Int], bytes: [UInt8]) {
            self.name = name
            self.type = type
            self.shape = shape
            self.bytes = bytes
        }
    }

    /// Writes `metadata` (in the given order) and `tensors` (in the given order, each aligned) to `path`.
    /// The alignment is `general.alignment` when `metadata` has it, else 32.
    public static func write(metadata: [(key: String, value: GGUFValue)], tensors: [TensorEntry], to path: String) throws {
        let bytes = try encode(metadata: metadata, tensors: tensors, file: path)
        try AtomicFile.write(bytes, to: path)
    }

    /// The bytes of the GGUF file `write` would write; `file` names the target in errors.
    public static func encode(metadata: [(key: String, value: GGUFValue)], tensors: [TensorEntry], file: String = "GGUF") throws -> [UInt8] {
        var alignment = GGUFFile.defaultAlignment
        var seenKeys = Set<String>()
        for (key, value) in metadata {
            guard seenKeys.insert(key).inserted else { throw TensorKitError.malformed(file: file, key: key, reason: "duplicate metadata key") }
            if key == "general.alignment" {
                guard let a = value.intValue, a > 0, a & (a - 1) == 0, a <= 1 << 30 else {
                    throw TensorKitError.malformed(file: file, key: key, reason: "must be a power of two between 1 and 2^30, got \(value)")
                }
                alignment = a
            }
        }

        var out: [UInt8] = []
        out.append(contentsOf: Array("GGUF".utf8))
        append(UInt32(3), to: &out)
        append(UInt64(tensors.count), to: &out)
        append(UInt64(metadata.count), to: &out)
        for (key, value) in metadata {
            appendString(key, to: &out)
            append(value.typeID, to: &out)
            try appendValue(value, to: &out, file: file, key: key)
        }

        // Directory: offsets relative to the data section, each aligned.
        var offsets: [Int] = []
        var next = 0
        var names = Set<String>()
        for t in tensors {
            let key = "tensor '\(t.name)'"
            guard names.insert(t.name).inserted else { throw TensorKitError.malformed(file: file, key: key, reason: "duplicate tensor name") }
            guard t.shape.count <= GGUFFile.maxDimensions, t.shape.allSatisfy({ $0 >= 0 }) else {
                throw TensorKitError.malformed(file: file, key: key, reason: "shape \(t.shape) is not 0-\(GGUFFile.maxDimensions) non-negative dimensions")
            }
            let elements = t.shape.reduce(1, *)
            guard StorageType.ggml(t.type).byteCount(elements: elements) == t.bytes.count else {
                throw TensorKitError.malformed(file: file, key: key,
                    reason: "\(t.bytes.count) bytes do not hold \(elements) \(t.type.name) values")
            }
            appendString(t.name, to: &out)
            append(UInt32(t.shape.count), to: &out)
            for d in t.shape.reversed() { append(UInt64(d), to: &out) }
            append(t.type.rawValue, to: &out)
            append(UInt64(next), to: &out)
            offsets.append(next)
            next = (next + t.bytes.count + alignment - 1) / alignment * alignment
        }

        // Data section.
        pad(&out, to: alignment)
        let dataStart = out.count
        for (t, offset) in zip(tensors, offsets) {
            out.append(contentsOf: repeatElement(0, count: dataStart + offset - out.count))
            out.append(contentsOf: t.bytes)
        }
        pad(&out, to: alignment)
        return out
    }

    /// One metadata entry as a GGUF file stores it: `string key`, `uint32 type`, value.
    public static func encodeEntry(key: String, value: GGUFValue, file: String = "GGUF") throws -> [UInt8] {
        var out: [UInt8] = []
        appendString(key, to: &out)
        append(value.typeID, to: &out)
        try appendValue(value, to: &out, file: file, key: key)
        return out
    }

    private static func pad(_ out: inout [UInt8], to alignment: Int) {
        let padded = (out.count + alignment - 1) / alignment * alignment
        out.append(contentsOf: repeatElement(0, count: padded - out.count))
    }

    private static func append<T: FixedWidthInteger>(_ v: T, to out: inout [UInt8]) {
        withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) }
    }

    private static func appendString(_ s: String, to out: inout [UInt8]) {
        let utf8 = Array(s.utf8)
        append(UInt64(utf8.count), to: &out)
        out.append(contentsOf: utf8)
    }

    private static func appendValue(_ value: GGUFValue, to out: inout [UInt8], file: String, key: String) throws {
        switch value {
        case .uint8(let v): append(v, to: &out)
        case .int8(let v): append(v, to: &out)
        case .uint16(let v): append(v, to: &out)
        case .int16(let v): append(v, to: &out)
        case .uint32(let v): append(v, to: &out)
        case .int32(let v): append(v, to: &out)
        case .float32(let v): append(v.bitPattern, to: &out)
        case .bool(let v): append(UInt8(v ? 1 : 0), to: &out)
        case .string(let v): appendString(v, to: &out)
        case .uint64(let v): append(v, to: &out)
        case .int64(let v): append(v, to: &out)
        case .float64(let v): append(v.bitPattern, to: &out)
        case .array(let elements):
            // An empty array is written as an empty UINT8 array: its element type is unknowable.
            let elementType = elements.first?.typeID ?? 0
            guard elements.allSatisfy({ $0.typeID == elementType }) else {
                throw TensorKitError.malformed(file: file, key: key, reason: "array elements of different types")
            }
            append(elementType, to: &out)
            append(UInt64(elements.count), to: &out)
            for e in elements { try appendValue(e, to: &out, file: file, key: key) }
        }
    }
}
