/// One tensor's entry in the GGUF header.
public struct GGUFTensorInfo: Equatable, Sendable {
    public let name: String
    /// Dimensions as stored in the file: innermost (contiguous) first, e.g. `[in, out]` for a matrix.
    public let dims: [Int]
    public let type: GGMLType
    /// Byte offset of the data relative to the start of the data section (a multiple of the alignment).
    public let offset: Int
    /// Bytes of data: `elementCount / type.blockSize * type.typeSize`.
    public let byteCount: Int

    /// Row-major shape, outermost first: `dims` reversed (`[out, in]` for a matrix).
    public var shape: [Int] { dims.reversed() }
    public var elementCount: Int { dims.reduce(1, *) }
}

/// A GGUF (v2 or v3) file: its metadata and tensor directory, with tensors as views into a memory
/// mapping of the file.
///
/// Layout (little-endian): `"GGUF"`, `uint32 version`, `uint64 tensor_count`, `uint64 kv_count`, then
/// kv_count × (`string key`, `uint32 type`, value), then tensor_count × (`string name`, `uint32 n_dims`,
/// n_dims × `uint64 dim`, `uint32 ggml_type`, `uint64 offset`), then padding to `general.alignment`
/// (default 32), then the data section. A string is `uint64 length` + UTF-8 bytes; an array is
/// `uint32 element_type`, `uint64 count`, elements.
///
/// Everything is validated when the file is opened: counts and lengths against the bytes left, the
/// alignment, tensor dimensions (no overflow, rows of whole blocks), data in bounds, aligned and not
/// overlapping, no duplicate keys or tensor names. A broken file throws `TensorKitError` naming the file
/// and the key or tensor.
public final class GGUFFile: @unchecked Sendable {
    public let path: String
    public let version: UInt32
    public let metadata: [String: GGUFValue]
    /// Metadata keys in file order.
    public let metadataKeys: [String]
    /// Where each metadata entry (key, type and value, exactly as stored) lies in the file, parallel to
    /// `metadataKeys`: a writer copies entries byte for byte from these ranges.
    public let metadataEntryRanges: [Range<Int>]
    /// `general.alignment`, or 32.
    public let alignment: Int
    /// Tensor entries in file order.
    public let tensorInfos: [GGUFTensorInfo]
    /// Absolute file offset of the data section.
    public let dataOffset: Int
    /// The mapping the tensors point into.
    public let mappedFile: MappedFile

    private let tensorIndex: [String: Int]

    public static let defaultAlignment = 32
    /// `GGML_MAX_DIMS`: the most dimensions a GGUF tensor may have.
    public static let maxDimensions = 4

    public var tensorNames: [String] { tensorInfos.map(\.name) }

    public convenience init(path: String) throws {
        try self.init(mappedFile: MappedFile(path: path))
    }

    public init(mappedFile: MappedFile) throws {
        let path = mappedFile.path
        self.path = path
        self.mappedFile = mappedFile
        var c = GGUFCursor(bytes: mappedFile.bytes, file: path)

        // Header.
        guard c.remaining >= 4 + 4 + 8 + 8 else {
            throw c.malformed("header", "file is \(c.remaining) bytes, too short for a GGUF header (24 bytes)")
        }
        let magic = try c.read(UInt32.self, "magic", "magic")
        guard magic == 0x4655_4747 else {  // "GGUF" read little-endian
            throw c.malformed("magic", "not a GGUF file (magic '\(describeMagic(magic))', expected 'GGUF')")
        }
        let version = try c.read(UInt32.self, "version", "version")
        guard version == 2 || version == 3 else {
            if (version.byteSwapped == 2 || version.byteSwapped == 3) {
                throw c.malformed("version", "big-endian GGUF files are not supported")
            }
            throw c.malformed("version", "unsupported GGUF version \(version) (2 and 3 are supported)")
        }
        self.version = version
        let tensorCount = try c.read(UInt64.self, "tensor_count", "tensor count")
        let kvCount = try c.read(UInt64.self, "kv_count", "metadata count")
        // Each entry occupies at least 13 (kv: key length, type, 1-byte value) or 24 (tensor info: name
        // length, n_dims, type, offset) bytes; a count that cannot fit in the file is corrupt.
        guard kvCount <= UInt64(c.remaining / 13) else {
            throw c.malformed("kv_count", "\(kvCount) metadata entries cannot fit in the \(c.remaining) bytes left")
        }
        guard tensorCount <= UInt64(c.remaining / 24) else {
            throw c.malformed("tensor_count", "\(tensorCount) tensor entries cannot fit in the \(c.remaining) bytes left")
        }

        // Metadata.
        var metadata: [String: GGUFValue] = [:]
        var keys: [String] = []
        var ranges: [Range<Int>] = []
        metadata.reserveCapacity(Int(kvCount))
        keys.reserveCapacity(Int(kvCount))
        ranges.reserveCapacity(Int(kvCount))
        for i in 0..<Int(kvCount) {
            let start = c.position
            let key = try c.readString("metadata #\(i)", "key")
            guard metadata[key] == nil else { throw c.malformed(key, "duplicate metadata key") }
            let type = try c.read(UInt32.self, key, "value type")
            metadata[key] = try c.readValue(type: type, key: key)
            keys.append(key)
            ranges.append(start..<c.position)
        }
        self.metadata = metadata
        self.metadataKeys = keys
        self.metadataEntryRanges = ranges

        var alignment = GGUFFile.defaultAlignment
        if let value = metadata["general.alignment"] {
            guard let a = value.intValue, a > 0, a & (a - 1) == 0, a <= 1 << 30 else {
                throw c.malformed("general.alignment", "must be a power of two between 1 and 2^30, got \(value)")
            }
            alignment = a
        }
        self.alignment = alignment

        // Tensor directory.
        var infos: [GGUFTensorInfo] = []
        var index: [String: Int] = [:]
        infos.reserveCapacity(Int(tensorCount))
        index.reserveCapacity(Int(tensorCount))
        for i in 0..<Int(tensorCount) {
            let name = try c.readString("tensor #\(i)", "tensor name")
            let key = "tensor \(UserText.quoted(name))"
            guard index[name] == nil else { throw c.malformed(key, "duplicate tensor name") }
            let nDims = try c.read(UInt32.self, key, "n_dims")
            guard nDims <= GGUFFile.maxDimensions else {
                throw c.malformed(key, "\(nDims) dimensions (at most \(GGUFFile.maxDimensions) allowed)")
            }
            var dims: [Int] = []
            for _ in 0..<Int(nDims) {
                let d = try c.readCount(key, "dimension")
                dims.append(d)
                guard Tensor<Float>.elementCount(dims) != nil else { throw c.malformed(key, "dimensions overflow: \(dims) ...") }
            }
            let elements = Tensor<Float>.elementCount(dims)!
            let rawType = try c.read(UInt32.self, key, "ggml type")
            guard let type = GGMLType(rawValue: rawType) else {
                throw TensorKitError.unsupportedType(file: path, tensor: name, type: "ggml type \(rawType)")
            }
            let rowLength = dims.first ?? 1
            guard rowLength % type.blockSize == 0 else {
                throw c.malformed(key, "row length \(rowLength) is not a multiple of the \(type.name) block size \(type.blockSize)")
            }
            guard let byteCount = StorageType.ggml(type).byteCount(elements: elements) else {
                throw c.malformed(key, "byte size of \(elements) \(type.name) values overflows")
            }
            let offset = try c.readCount(key, "data offset")
            guard offset % alignment == 0 else {
                throw c.malformed(key, "data offset \(offset) is not a multiple of the alignment \(alignment)")
            }
            index[name] = infos.count
            infos.append(GGUFTensorInfo(name: name, dims: dims, type: type, offset: offset, byteCount: byteCount))
        }

        // Data section: aligned after the directory; every tensor inside the file, none overlapping.
        let dataOffset = (c.position + alignment - 1) / alignment * alignment
        self.dataOffset = dataOffset
        let fileSize = mappedFile.bytes.count
        for info in infos {
            let (start, overflow1) = dataOffset.addingReportingOverflow(info.offset)
            let (end, overflow2) = start.addingReportingOverflow(info.byteCount)
            guard !overflow1, !overflow2, end <= fileSize else {
                throw c.malformed("tensor \(UserText.quoted(info.name))",
                    "data [\(info.offset), \(info.offset) + \(info.byteCount)) of the data section at \(dataOffset) runs past the end of the file (\(fileSize) bytes)")
            }
        }
        let byOffset = infos.filter { $0.byteCount > 0 }.sorted { $0.offset < $1.offset }
        for (previous, next) in zip(byOffset, byOffset.dropFirst()) where previous.offset + previous.byteCount > next.offset {
            throw c.malformed("tensor \(UserText.quoted(next.name))",
                "data at offset \(next.offset) overlaps tensor \(UserText.quoted(previous.name)) at [\(previous.offset), \(previous.offset + previous.byteCount))")
        }
        self.tensorInfos = infos
        self.tensorIndex = index
    }

    /// The entry of tensor `name`, nil when absent.
    public func info(_ name: String) -> GGUFTensorInfo? {
        tensorIndex[name].map { tensorInfos[$0] }
    }

    /// Tensor `name` as a view into the mapped file, shape row-major (`dims` reversed).
    public func tensor(_ name: String) throws -> StoredTensor {
        guard let info = info(name) else { throw TensorKitError.missingTensor(file: path, name: name) }
        let start = dataOffset + info.offset
        let bytes = UnsafeRawBufferPointer(rebasing: mappedFile.bytes[start..<(start + info.byteCount)])
        return StoredTensor(name: name, type: .ggml(info.type), shape: info.shape, bytes: bytes, owner: mappedFile)
    }

    // MARK: Typed metadata access (nil when absent or of another type)

    public func string(_ key: String) -> String? { metadata[key]?.stringValue }
    /// Any integer type that fits an `Int`.
    public func int(_ key: String) -> Int? { metadata[key]?.intValue }
    /// FLOAT32 or FLOAT64 (or an integer, converted).
    public func float(_ key: String) -> Float? { metadata[key]?.floatValue }
    public func bool(_ key: String) -> Bool? { metadata[key]?.boolValue }

    public func strings(_ key: String) -> [String]? {
        guard let a = metadata[key]?.arrayValue else { return nil }
        var out: [String] = []
        out.reserveCapacity(a.count)
        for v in a {
            guard let s = v.stringValue else { return nil }
            out.append(s)
        }
        return out
    }

    public func floats(_ key: String) -> [Float]? {
        guard let a = metadata[key]?.arrayValue else { return nil }
        var out: [Float] = []
        out.reserveCapacity(a.count)
        for v in a {
            guard let f = v.floatValue else { return nil }
            out.append(f)
        }
        return out
    }

    public func ints(_ key: String) -> [Int]? {
        guard let a = metadata[key]?.arrayValue else { return nil }
        var out: [Int] = []
        out.reserveCapacity(a.count)
        for v in a {
            guard let i = v.intValue else { return nil }
            out.append(i)
        }
        return out
    }
}

/// The four bytes of a little-endian magic, printable ones as characters.
private func describeMagic(_ magic: UInt32) -> String {
    (0..<4).map { i -> String in
        let b = UInt8(truncatingIfNeeded: magic >> (8 * i))
        return (32...126).contains(b) ? String(UnicodeScalar(b)) : "\\x" + String(b, radix: 16)
    }.joined()
}
