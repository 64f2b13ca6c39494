#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes one safetensors file, one tensor at a time, so a whole model never has to be in memory.
///
/// The tensors are declared up front (name, dtype, shape), which fixes the header and every tensor's
/// place in the file; then each tensor's bytes are given once, in any order, and written at their
/// place; `finish()` checks that all were written and renames the temporary file over `path`.
///
/// Layout as the reference implementation writes it: the header JSON (`__metadata__` first, then the
/// tensors in data order) padded with spaces to a multiple of 8 bytes, then the data, tensors ordered by
/// dtype size (largest first, which keeps every tensor aligned to its element size) then by name, with
/// no gaps. With `keepingOrder`, the data lies in the order declared instead (to reproduce the layout of
/// another file, e.g. when rewriting a checkpoint's shard with some tensors edited); tensors of different
/// element sizes may then be unaligned, as they were in that file.
public final class SafetensorsWriter {
    /// A tensor to be written: its name, dtype and row-major shape.
    public struct TensorSpec: Equatable, Sendable {
        public var name: String
        public var dtype: DType
        public var shape: [Int]

        public init(name: String, dtype: DType, shape: [Int]) {
            self.name = name
            self.dtype = dtype
            self.shape = shape
        }

        /// Bytes of data, nil when a dimension is negative or the size overflows.
        public var byteCount: Int? {
            guard let elements = Tensor<Float>.elementCount(shape) else { return nil }
            return StorageType.dense(dtype).byteCount(elements: elements)
        }
    }

    public let path: String
    /// The tensors in the order their data lies in the file, with their offsets in the data section.
    public let layout: [SafetensorsTensorInfo]
    /// Absolute file offset of the data section (8 + padded header length).
    public let dataOffset: Int
    /// Total file size.
    public let fileSize: Int

    private let file: AtomicFileWriter
    private let index: [String: Int]
    private var written: [Bool]

    /// Validates the declarations, creates the temporary file and writes the header.
    public init(path: String, tensors: [TensorSpec], metadata: [String: String] = [:], keepingOrder: Bool = false) throws {
        self.path = path
        var seen = Set<String>()
        for t in tensors {
            let key = "tensor '\(t.name)'"
            guard t.name != "__metadata__" else { throw TensorKitError.malformed(file: path, key: key, reason: "reserved name") }
            guard seen.insert(t.name).inserted else { throw TensorKitError.malformed(file: path, key: key, reason: "duplicate tensor name") }
            guard t.byteCount != nil else {
                throw TensorKitError.malformed(file: path, key: key, reason: "shape \(t.shape) is negative or too large")
            }
        }
        let ordered = keepingOrder ? tensors : tensors.sorted { ($0.dtype.byteSize, $1.name) > ($1.dtype.byteSize, $0.name) }
        var layout: [SafetensorsTensorInfo] = []
        var offset = 0
        for t in ordered {
            let (end, overflow) = offset.addingReportingOverflow(t.byteCount!)
            guard !overflow else { throw TensorKitError.malformed(file: path, key: "tensor '\(t.name)'", reason: "total size overflows") }
            layout.append(SafetensorsTensorInfo(name: t.name, dtype: t.dtype, shape: t.shape, dataOffsets: offset..<end))
            offset = end
        }
        let header = SafetensorsWriter.header(layout: layout, metadata: metadata)
        self.layout = layout
        self.dataOffset = 8 + header.count
        self.fileSize = dataOffset + offset
        self.index = Dictionary(uniqueKeysWithValues: layout.enumerated().map { ($1.name, $0) })
        self.written = [Bool](repeating: false, count: layout.count)

        file = try AtomicFileWriter(path: path)
        var prefix: [UInt8] = []
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { prefix += $0 }
        prefix += header
        try prefix.withUnsafeBytes { try file.write($0, at: 0) }
    }

    /// The header JSON, padded with spaces to a multiple of 8 bytes.
    static func header(layout: [SafetensorsTensorInfo], metadata: [String: String]) -> [UInt8] {
        var members: [(key: String, value: SafetensorsJSON)] = []
        if !metadata.isEmpty {
            members.append(("__metadata__", .object(metadata.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })))
        }
        for t in layout {
            members.append((t.name, .object([
                ("dtype", .string(t.dtype.rawValue)),
                ("shape", .array(t.shape.map { .number(String($0)) })),
                ("data_offsets", .array([.number(String(t.dataOffsets.lowerBound)), .number(String(t.dataOffsets.upperBound))])),
            ])))
        }
        var bytes = Array(SafetensorsJSON.object(members).serialized.utf8)
        while bytes.count % 8 != 0 { bytes.append(UInt8(ascii: " ")) }
        return bytes
    }

    /// Writes the data of tensor `name`: exactly its declared byte count, once.
    public func write(_ name: String, bytes: UnsafeRawBufferPointer) throws {
        guard let i = index[name] else {
            throw TensorKitError.malformed(file: path, key: "tensor '\(name)'", reason: "not declared to the writer")
        }
        let info = layout[i]
        guard !written[i] else { throw TensorKitError.malformed(file: path, key: "tensor '\(name)'", reason: "written twice") }
        guard bytes.count == info.byteCount else {
            throw TensorKitError.malformed(file: path, key: "tensor '\(name)'",
                reason: "\(bytes.count) bytes given, \(info.byteCount) declared (shape \(info.shape), \(info.dtype.rawValue))")
        }
        if bytes.count > 0 { try file.write(bytes, at: dataOffset + info.dataOffsets.lowerBound) }
        written[i] = true
    }

    public func write(_ name: String, bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write(name, bytes: $0) }
    }

    /// Writes a stored tensor's bytes under its name; its dtype and shape must match the declaration.
    public func write(_ tensor: StoredTensor) throws {
        guard let i = index[tensor.name], tensor.type == .dense(layout[i].dtype), tensor.shape == layout[i].shape else {
            throw TensorKitError.malformed(file: path, key: "tensor '\(tensor.name)'",
                reason: "\(tensor.type) \(tensor.shape) does not match its declaration")
        }
        try write(tensor.name, bytes: tensor.bytes)
    }

    /// Checks every declared tensor was written, then moves the file into place.
    public func finish() throws {
        if let missing = written.firstIndex(of: false) {
            file.abort()
            throw TensorKitError.missingTensor(file: path, name: layout[missing].name)
        }
        try file.commit()
    }

    /// Abandons the file: the temporary file is removed, the target untouched.
    public func cancel() { file.abort() }

    /// Writes whole tensors in one call.
    public static func write(tensors: [(name: String, dtype: DType, shape: [Int], bytes: [UInt8])],
                             metadata: [String: String] = [:], to path: String) throws {
        let writer = try SafetensorsWriter(
            path: path, tensors: tensors.map { TensorSpec(name: $0.name, dtype: $0.dtype, shape: $0.shape) }, metadata: metadata)
        for t in tensors { try writer.write(t.name, bytes: t.bytes) }
        try writer.finish()
    }
}
