import Foundation

/// Writes a GGUF v3 file in one pass, tensor data streamed: for models too large to assemble in memory.
///
/// Everything before the data is known up front (metadata entries, and each tensor's name, dimensions
/// and type, hence its byte size), so the header and the tensor directory — offsets included — are
/// written first; then the caller `append`s each tensor's bytes in directory order, and the writer
/// pads each to `alignment` with zeros. Layout (as `GGUFFile` reads it): `"GGUF"`, `uint32 3`,
/// `uint64 tensor_count`, `uint64 kv_count`, the metadata entries, the tensor infos (`string name`,
/// `uint32 n_dims`, dims innermost first as `uint64`, `uint32 type`, `uint64 offset` relative to the data
/// section), zero padding to `alignment`, the data section.
///
/// The file is written under `<path>.tmp-<pid>-<n>` and renamed onto `path` by `finish()`; `cancel()`
/// (or an error in `finish`, or releasing an unfinished writer) removes it, so `path` only ever holds a
/// complete file. Errors are `TensorKitError`s naming `path` and the tensor or key.
public final class GGUFStreamWriter {
    /// One tensor of the directory.
    public struct TensorSpec: Sendable, Equatable {
        public var name: String
        public var type: GGMLType
        /// Dimensions as stored: innermost (contiguous) first, `[in, out]` for a matrix.
        public var dims: [Int]
        /// Bytes of data: elements / blockSize · typeSize.
        public let byteCount: Int

        public init(name: String, type: GGMLType, dims: [Int], file: String = "GGUF") throws {
            let key = "tensor '\(name)'"
            guard dims.count <= GGUFFile.maxDimensions, dims.allSatisfy({ $0 >= 0 }) else {
                throw TensorKitError.malformed(file: file, key: key, reason: "dimensions \(dims) are not 0-\(GGUFFile.maxDimensions) non-negative sizes")
            }
            guard let elements = Tensor<Float>.elementCount(dims) else {
                throw TensorKitError.malformed(file: file, key: key, reason: "dimensions \(dims) overflow")
            }
            guard (dims.first ?? 1) % type.blockSize == 0 else {
                throw TensorKitError.malformed(file: file, key: key,
                    reason: "row length \(dims.first ?? 1) is not a multiple of the \(type.name) block size \(type.blockSize)")
            }
            guard let bytes = StorageType.ggml(type).byteCount(elements: elements) else {
                throw TensorKitError.malformed(file: file, key: key, reason: "byte size of \(elements) \(type.name) values overflows")
            }
            self.name = name
            self.type = type
            self.dims = dims
            self.byteCount = bytes
        }
    }

    public let path: String
    public let alignment: Int
    public let tensors: [TensorSpec]
    /// Offsets of the tensors relative to the data section.
    public let offsets: [Int]
    /// Bytes of the header and directory, padded: where the data section starts.
    public let dataOffset: Int
    /// The size the finished file will have.
    public let totalBytes: Int

    private let temporary: String
    private var fd: Int32
    private var next = 0
    private var written = 0
    private var finished = false

    /// Opens the staging file and writes header, metadata and directory. `metadata` holds complete
    /// entries (`GGUFWriter.encodeEntry`, or entries copied from another file's
    /// `GGUFFile.metadataEntryRanges`); their keys must be distinct, and a `general.alignment` among them
    /// must equal `alignment`.
    public init(path: String, metadata: [(key: String, entry: [UInt8])], tensors: [TensorSpec], alignment: Int = GGUFFile.defaultAlignment) throws {
        guard alignment > 0, alignment & (alignment - 1) == 0, alignment <= 1 << 30 else {
            throw TensorKitError.malformed(file: path, key: "general.alignment", reason: "must be a power of two between 1 and 2^30, got \(alignment)")
        }
        var keys = Set<String>()
        for (key, _) in metadata where !keys.insert(key).inserted {
            throw TensorKitError.malformed(file: path, key: key, reason: "duplicate metadata key")
        }
        var names = Set<String>()
        for t in tensors where !names.insert(t.name).inserted {
            throw TensorKitError.malformed(file: path, key: "tensor '\(t.name)'", reason: "duplicate tensor name")
        }

        var header: [UInt8] = Array("GGUF".utf8)
        Self.append(UInt32(3), to: &header)
        Self.append(UInt64(tensors.count), to: &header)
        Self.append(UInt64(metadata.count), to: &header)
        for (_, entry) in metadata { header.append(contentsOf: entry) }
        var offsets: [Int] = []
        var offset = 0
        for t in tensors {
            Self.append(UInt64(t.name.utf8.count), to: &header)
            header.append(contentsOf: Array(t.name.utf8))
            Self.append(UInt32(t.dims.count), to: &header)
            for d in t.dims { Self.append(UInt64(d), to: &header) }
            Self.append(t.type.rawValue, to: &header)
            Self.append(UInt64(offset), to: &header)
            offsets.append(offset)
            offset = Self.aligned(offset + t.byteCount, alignment)
        }
        let dataOffset = Self.aligned(header.count, alignment)
        header.append(contentsOf: repeatElement(0, count: dataOffset - header.count))

        self.path = path
        self.alignment = alignment
        self.tensors = tensors
        self.offsets = offsets
        self.dataOffset = dataOffset
        self.totalBytes = dataOffset + offset
        self.temporary = path + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        self.fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        guard fd >= 0 else {
            throw TensorKitError.io(file: path, reason: "cannot create \(temporary): \(String(cString: strerror(errno)))")
        }
        do {
            try header.withUnsafeBytes { try write($0) }
        } catch {
            cancel()
            throw error
        }
    }

    deinit { if !finished { cancel() } }

    /// The name of the tensor `append` expects next, nil when all are written.
    public var nextTensor: String? { next < tensors.count ? tensors[next].name : nil }

    /// Writes the data of the next tensor, which must be `name`, with exactly its byte size.
    public func append(_ name: String, _ bytes: UnsafeRawBufferPointer) throws {
        guard !finished, fd >= 0 else { throw TensorKitError.io(file: path, reason: "tensor '\(name)': the writer is closed") }
        guard next < tensors.count else {
            throw TensorKitError.malformed(file: path, key: "tensor '\(name)'", reason: "all \(tensors.count) tensors are already written")
        }
        let spec = tensors[next]
        guard spec.name == name else {
            throw TensorKitError.malformed(file: path, key: "tensor '\(name)'", reason: "written out of order: tensor '\(spec.name)' comes next")
        }
        guard bytes.count == spec.byteCount else {
            throw TensorKitError.malformed(file: path, key: "tensor '\(name)'",
                reason: "\(bytes.count) bytes do not hold \(spec.dims) \(spec.type.name) values (\(spec.byteCount) bytes)")
        }
        try pad(to: dataOffset + offsets[next])
        try write(bytes)
        next += 1
    }

    /// `append` of an array.
    public func append(_ name: String, _ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try append(name, $0) }
    }

    /// Pads the last tensor, flushes the file to disk and renames it onto `path`.
    public func finish() throws {
        guard !finished, fd >= 0 else { throw TensorKitError.io(file: path, reason: "the writer is closed") }
        do {
            guard next == tensors.count else {
                throw TensorKitError.malformed(file: path, key: "tensor '\(tensors[next].name)'",
                    reason: "not written: \(tensors.count - next) of \(tensors.count) tensors missing")
            }
            try pad(to: totalBytes)
            guard fsync(fd) == 0 else { throw TensorKitError.io(file: path, reason: "fsync failed: \(String(cString: strerror(errno)))") }
            close(fd)
            fd = -1
            guard rename(temporary, path) == 0 else {
                throw TensorKitError.io(file: path, reason: "cannot rename \(temporary) into place: \(String(cString: strerror(errno)))")
            }
            finished = true
        } catch {
            cancel()
            throw error
        }
    }

    /// Abandons the file: closes and removes the staging file. `path` is left as it was.
    public func cancel() {
        if fd >= 0 { close(fd) }
        fd = -1
        unlink(temporary)
        finished = true
    }

    // MARK: -

    private func write(_ bytes: UnsafeRawBufferPointer) throws {
        try AtomicFile.writeAll(fd, bytes, path: path)
        written += bytes.count
    }

    private func pad(to position: Int) throws {
        guard position > written else { return }
        let zeros = [UInt8](repeating: 0, count: position - written)
        try zeros.withUnsafeBytes { try write($0) }
    }

    static func aligned(_ n: Int, _ alignment: Int) -> Int { (n + alignment - 1) / alignment * alignment }

    private static func append<T: FixedWidthInteger>(_ v: T, to out: inout [UInt8]) {
        withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) }
    }
}
