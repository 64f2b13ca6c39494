/// One tensor's entry in a safetensors header.
public struct SafetensorsTensorInfo: Equatable, Sendable {
    public let name: String
    public let dtype: DType
    /// Row-major shape, outermost first.
    public let shape: [Int]
    /// `[begin, end)` relative to the start of the data section (just after the header).
    public let dataOffsets: Range<Int>

    public var elementCount: Int { shape.reduce(1, *) }
    public var byteCount: Int { dataOffsets.count }
}

/// A safetensors file, memory-mapped, with its tensors as views into the mapping.
///
/// Layout: `uint64` little-endian header length N, N bytes of UTF-8 JSON
/// `{"__metadata__": {string: string}, NAME: {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...}`
/// (padded with spaces), then the data section. Offsets are relative to the data section.
///
/// Validated when opened: the header length against the file (and a 100 MB cap, as in the reference
/// implementation), a well-formed JSON object without duplicate keys, known dtypes, non-negative shapes
/// whose element count and byte size do not overflow, `end - begin == elements × dtype size`, every
/// range inside the data section, no two ranges overlapping. Gaps between tensors are tolerated.
public final class SafetensorsFile: @unchecked Sendable {
    public let path: String
    /// The `__metadata__` map (empty when absent).
    public let metadata: [String: String]
    /// Tensor entries in data order (by `dataOffsets`, the order a conforming writer uses).
    public let tensorInfos: [SafetensorsTensorInfo]
    /// Absolute file offset of the data section: 8 + header length.
    public let dataOffset: Int
    public let mappedFile: MappedFile

    private let tensorIndex: [String: Int]

    /// The reference implementation's limit on the header size.
    public static let maxHeaderLength = 100_000_000

    public var tensorNames: [String] { tensorInfos.map(\.name) }

    public convenience init(path: String) throws {
        try self.init(mappedFile: MappedFile(path: path))
    }

    public init(mappedFile: MappedFile) throws {
        let path = mappedFile.path
        self.path = path
        self.mappedFile = mappedFile
        let bytes = mappedFile.bytes
        // Keys are read from the file: quoted through `UserText`.
        func malformed(_ key: String, _ reason: String) -> TensorKitError {
            .malformed(file: path, key: UserText.sanitized(key, limit: UserText.defaultLimit + 16), reason: reason)
        }

        guard bytes.count >= 8 else {
            throw malformed("header", "file is \(bytes.count) bytes, too short for a safetensors header length (8 bytes)")
        }
        let declared = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
        guard declared <= UInt64(SafetensorsFile.maxHeaderLength) else {
            throw malformed("header", "header length \(declared) exceeds the \(SafetensorsFile.maxHeaderLength)-byte limit (not a safetensors file?)")
        }
        let headerLength = Int(declared)
        guard 8 + headerLength <= bytes.count else {
            throw malformed("header", "header length \(headerLength) runs past the end of the file (\(bytes.count) bytes)")
        }
        guard headerLength >= 2, bytes[8] == UInt8(ascii: "{") else {
            throw malformed("header", "header does not start with a JSON object")
        }
        let json: SafetensorsJSON
        do {
            json = try SafetensorsJSON.parse(UnsafeRawBufferPointer(rebasing: bytes[8..<(8 + headerLength)]))
        } catch let e as SafetensorsJSON.ParseError {
            throw malformed(e.key ?? "header", "invalid JSON at header byte \(e.offset): \(UserText.sanitized(e.reason))")
        }
        guard case .object(let members) = json else { throw malformed("header", "header is not a JSON object") }

        let dataOffset = 8 + headerLength
        let dataLength = bytes.count - dataOffset
        self.dataOffset = dataOffset

        var metadata: [String: String] = [:]
        var infos: [SafetensorsTensorInfo] = []
        infos.reserveCapacity(members.count)
        for (name, entry) in members {
            if name == "__metadata__" {
                guard case .object(let pairs) = entry else { throw malformed("__metadata__", "is \(entry.kind), not an object") }
                for (k, v) in pairs {
                    guard let s = v.stringValue else { throw malformed("__metadata__.\(UserText.sanitized(k))", "is \(v.kind), not a string") }
                    metadata[k] = s
                }
                continue
            }
            let key = "tensor \(UserText.quoted(name))"
            guard case .object(let fields) = entry else { throw malformed(key, "is \(entry.kind), not an object") }
            var dtypeField: SafetensorsJSON?, shapeField: SafetensorsJSON?, offsetsField: SafetensorsJSON?
            for (k, v) in fields {
                switch k {
                case "dtype": dtypeField = v
                case "shape": shapeField = v
                case "data_offsets": offsetsField = v
                default: continue  // ignored, as the reference implementation does
                }
            }
            guard let dtypeName = dtypeField?.stringValue else { throw malformed(key, "missing or non-string 'dtype'") }
            guard let dtype = DType(rawValue: dtypeName) else {
                throw TensorKitError.unsupportedType(file: path, tensor: UserText.sanitized(name), type: UserText.sanitized(dtypeName))
            }
            guard case .array(let dimValues)? = shapeField else { throw malformed(key, "missing or non-array 'shape'") }
            var shape: [Int] = []
            for d in dimValues {
                guard let n = d.nonNegativeInt else { throw malformed(key, "shape entry \(d.serialized) is not a non-negative integer") }
                shape.append(n)
                guard Tensor<Float>.elementCount(shape) != nil else { throw malformed(key, "shape \(dimValues.map(\.serialized)) overflows") }
            }
            let elements = Tensor<Float>.elementCount(shape)!
            guard case .array(let offsetValues)? = offsetsField, offsetValues.count == 2,
                  let begin = offsetValues[0].nonNegativeInt, let end = offsetValues[1].nonNegativeInt else {
                throw malformed(key, "'data_offsets' must be [begin, end], two non-negative integers")
            }
            guard begin <= end else { throw malformed(key, "data_offsets [\(begin), \(end)] end before they begin") }
            guard let byteCount = StorageType.dense(dtype).byteCount(elements: elements) else {
                throw malformed(key, "byte size of shape \(shape) in \(dtype.rawValue) overflows")
            }
            guard end - begin == byteCount else {
                throw malformed(key, "data_offsets [\(begin), \(end)] hold \(end - begin) bytes but shape \(shape) of \(dtype.rawValue) needs \(byteCount)")
            }
            guard end <= dataLength else {
                throw malformed(key, "data_offsets [\(begin), \(end)] run past the end of the data section (\(dataLength) bytes)")
            }
            infos.append(SafetensorsTensorInfo(name: name, dtype: dtype, shape: shape, dataOffsets: begin..<end))
        }
        infos.sort { ($0.dataOffsets.lowerBound, $0.dataOffsets.upperBound, $0.name) < ($1.dataOffsets.lowerBound, $1.dataOffsets.upperBound, $1.name) }
        let nonEmpty = infos.filter { !$0.dataOffsets.isEmpty }
        for (previous, next) in zip(nonEmpty, nonEmpty.dropFirst()) where previous.dataOffsets.overlaps(next.dataOffsets) {
            throw malformed("tensor \(UserText.quoted(next.name))",
                "data_offsets [\(next.dataOffsets.lowerBound), \(next.dataOffsets.upperBound)] overlap tensor \(UserText.quoted(previous.name)) [\(previous.dataOffsets.lowerBound), \(previous.dataOffsets.upperBound)]")
        }
        self.metadata = metadata
        self.tensorInfos = infos
        self.tensorIndex = Dictionary(uniqueKeysWithValues: infos.enumerated().map { ($1.name, $0) })
    }

    /// The entry of tensor `name`, nil when absent.
    public func info(_ name: String) -> SafetensorsTensorInfo? {
        tensorIndex[name].map { tensorInfos[$0] }
    }

    /// Tensor `name` as a view into the mapped file.
    public func tensor(_ name: String) throws -> StoredTensor {
        guard let info = info(name) else { throw TensorKitError.missingTensor(file: path, name: name) }
        let range = (dataOffset + info.dataOffsets.lowerBound)..<(dataOffset + info.dataOffsets.upperBound)
        return StoredTensor(name: name, type: .dense(info.dtype), shape: info.shape,
                            bytes: UnsafeRawBufferPointer(rebasing: mappedFile.bytes[range]), owner: mappedFile)
    }
}
