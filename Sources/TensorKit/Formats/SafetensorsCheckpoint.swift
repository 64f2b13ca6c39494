import Foundation

/// The safetensors weights of a Hugging Face model directory: either sharded, through
/// `model.safetensors.index.json` (`{"metadata": {...}, "weight_map": {tensor: shard file}}`), or a
/// single `model.safetensors` (or, failing that, the directory's only `*.safetensors` file).
///
/// Every shard is opened (and so validated) at once; every tensor of the weight map must be in the
/// shard the map names. Tensors a shard holds but the map does not name are not part of the checkpoint.
public final class SafetensorsCheckpoint: @unchecked Sendable {
    public static let indexFileName = "model.safetensors.index.json"
    public static let singleFileName = "model.safetensors"

    public let directory: String
    /// The files, sorted by name.
    public let shards: [SafetensorsFile]
    /// The index's `metadata` object as written (values are JSON text, e.g. `total_size` → `"538090408"`);
    /// empty for a single file.
    public let indexMetadata: [String: String]
    /// Tensor names, shard by shard, each shard's in data order.
    public let tensorNames: [String]

    private let shardOfTensor: [String: Int]

    public init(directory: String) throws {
        self.directory = directory
        let indexPath = (directory as NSString).appendingPathComponent(SafetensorsCheckpoint.indexFileName)
        let fm = FileManager.default
        if fm.fileExists(atPath: indexPath) {
            let index = try MappedFile(path: indexPath)
            let json: SafetensorsJSON
            do { json = try SafetensorsJSON.parse(index.bytes) } catch let e as SafetensorsJSON.ParseError {
                throw TensorKitError.malformed(file: indexPath, key: e.key ?? "index", reason: "invalid JSON at byte \(e.offset): \(e.reason)")
            }
            guard case .object(let members) = json,
                  case .object(let map)? = members.first(where: { $0.key == "weight_map" })?.value else {
                throw TensorKitError.malformed(file: indexPath, key: "weight_map", reason: "missing or not an object")
            }
            var metadata: [String: String] = [:]
            if case .object(let m)? = members.first(where: { $0.key == "metadata" })?.value {
                for (k, v) in m { metadata[k] = v.stringValue ?? v.serialized }
            }
            var fileOfTensor: [String: String] = [:]
            for (name, value) in map {
                guard let file = value.stringValue, !file.isEmpty, !file.contains("/"), file != "..", file != "." else {
                    throw TensorKitError.malformed(file: indexPath, key: "weight_map.\(name)", reason: "\(value.serialized) is not a file name in the directory")
                }
                fileOfTensor[name] = file
            }
            let fileNames = Set(fileOfTensor.values).sorted()
            let shards = try fileNames.map { try SafetensorsFile(path: (directory as NSString).appendingPathComponent($0)) }
            var shardOfTensor: [String: Int] = [:]
            var names: [String] = []
            for (i, shard) in shards.enumerated() {
                let file = fileNames[i]
                for name in shard.tensorNames where fileOfTensor[name] == file {
                    shardOfTensor[name] = i
                    names.append(name)
                }
            }
            for (name, file) in fileOfTensor.sorted(by: { $0.key < $1.key }) where shardOfTensor[name] == nil {
                throw TensorKitError.missingTensor(file: (directory as NSString).appendingPathComponent(file), name: name)
            }
            self.shards = shards
            self.indexMetadata = metadata
            self.tensorNames = names
            self.shardOfTensor = shardOfTensor
        } else {
            var single = (directory as NSString).appendingPathComponent(SafetensorsCheckpoint.singleFileName)
            if !fm.fileExists(atPath: single) {
                let candidates = ((try? fm.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".safetensors") }
                guard candidates.count == 1 else {
                    throw TensorKitError.io(file: directory, reason: candidates.isEmpty
                        ? "no \(SafetensorsCheckpoint.indexFileName), \(SafetensorsCheckpoint.singleFileName) or other .safetensors file"
                        : "no \(SafetensorsCheckpoint.indexFileName) and several .safetensors files: \(candidates.sorted().joined(separator: ", "))")
                }
                single = (directory as NSString).appendingPathComponent(candidates[0])
            }
            let file = try SafetensorsFile(path: single)
            self.shards = [file]
            self.indexMetadata = [:]
            self.tensorNames = file.tensorNames
            self.shardOfTensor = Dictionary(uniqueKeysWithValues: file.tensorNames.map { ($0, 0) })
        }
    }

    /// The `__metadata__` of the first shard (writers put the same in every shard).
    public var metadata: [String: String] { shards.first?.metadata ?? [:] }

    /// The path of the file holding tensor `name`, nil when absent.
    public func file(for name: String) -> String? {
        shardOfTensor[name].map { shards[$0].path }
    }

    public func info(_ name: String) -> SafetensorsTensorInfo? {
        shardOfTensor[name].flatMap { shards[$0].info(name) }
    }

    public func tensor(_ name: String) throws -> StoredTensor {
        guard let i = shardOfTensor[name] else { throw TensorKitError.missingTensor(file: directory, name: name) }
        return try shards[i].tensor(name)
    }
}

/// Writes a Hugging Face checkpoint directory: `model.safetensors` when everything fits in one shard,
/// else `model-0000N-of-0000M.safetensors` shards plus `model.safetensors.index.json`
/// (`{"metadata": {"total_size": bytes}, "weight_map": {tensor: file}}`, keys sorted).
///
/// Tensors are assigned to shards in the order declared, as Hugging Face's `split_torch_state_dict_into_shards`
/// does: a shard is closed when the next tensor would take it past `maxShardBytes` (a tensor larger than
/// that gets a shard of its own). Like `SafetensorsWriter`, the data is then given one tensor at a time,
/// in any order. On `finish()`, a stale index (when writing one file) or a stale `model.safetensors`
/// (when writing shards) in the directory is removed so it cannot shadow the new files.
public final class SafetensorsCheckpointWriter {
    /// Hugging Face's default `max_shard_size` ("5GB").
    public static let defaultMaxShardBytes = 5_000_000_000

    public let directory: String
    /// File names of the shards, in order.
    public let shardFileNames: [String]
    /// Sum of the tensors' byte counts.
    public let totalSize: Int

    private let writers: [SafetensorsWriter]
    private let shardOfTensor: [String: Int]

    public init(directory: String, tensors: [SafetensorsWriter.TensorSpec], metadata: [String: String] = [:],
                maxShardBytes: Int = SafetensorsCheckpointWriter.defaultMaxShardBytes) throws {
        self.directory = directory
        guard maxShardBytes > 0 else {
            throw TensorKitError.malformed(file: directory, key: "maxShardBytes", reason: "must be positive, got \(maxShardBytes)")
        }
        var groups: [[SafetensorsWriter.TensorSpec]] = [[]]
        var current = 0
        var total = 0
        for t in tensors {
            guard let size = t.byteCount else {
                throw TensorKitError.malformed(file: directory, key: "tensor '\(t.name)'", reason: "shape \(t.shape) is negative or too large")
            }
            if !groups[groups.count - 1].isEmpty && current > maxShardBytes - size {
                groups.append([])
                current = 0
            }
            groups[groups.count - 1].append(t)
            current += size
            total += size
        }
        self.totalSize = total
        let names = groups.count == 1
            ? [SafetensorsCheckpoint.singleFileName]
            : (1...groups.count).map { "model-\(SafetensorsCheckpointWriter.fiveDigits($0))-of-\(SafetensorsCheckpointWriter.fiveDigits(groups.count)).safetensors" }
        self.shardFileNames = names

        var seen = [String: Int]()
        for (i, group) in groups.enumerated() {
            for t in group {
                guard seen.updateValue(i, forKey: t.name) == nil else {
                    throw TensorKitError.malformed(file: directory, key: "tensor '\(t.name)'", reason: "duplicate tensor name")
                }
            }
        }
        self.shardOfTensor = seen
        if !FileManager.default.fileExists(atPath: directory) {
            do { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
                throw TensorKitError.io(file: directory, reason: "cannot create directory: \(error.localizedDescription)")
            }
        }
        self.writers = try zip(groups, names).map { group, name in
            try SafetensorsWriter(path: (directory as NSString).appendingPathComponent(name), tensors: group, metadata: metadata)
        }
    }

    private static func fiveDigits(_ n: Int) -> String {
        let s = String(n)
        return String(repeating: "0", count: max(0, 5 - s.count)) + s
    }

    /// The file name tensor `name` goes to, nil when not declared.
    public func file(for name: String) -> String? {
        shardOfTensor[name].map { shardFileNames[$0] }
    }

    public func write(_ name: String, bytes: UnsafeRawBufferPointer) throws {
        guard let i = shardOfTensor[name] else {
            throw TensorKitError.malformed(file: directory, key: "tensor '\(name)'", reason: "not declared to the writer")
        }
        try writers[i].write(name, bytes: bytes)
    }

    public func write(_ name: String, bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write(name, bytes: $0) }
    }

    public func write(_ tensor: StoredTensor) throws {
        guard let i = shardOfTensor[tensor.name] else {
            throw TensorKitError.malformed(file: directory, key: "tensor '\(tensor.name)'", reason: "not declared to the writer")
        }
        try writers[i].write(tensor)
    }

    /// Finishes every shard, then writes the index (sharded) or removes a stale one (single file).
    public func finish() throws {
        for w in writers { try w.finish() }
        let indexPath = (directory as NSString).appendingPathComponent(SafetensorsCheckpoint.indexFileName)
        if writers.count == 1 {
            unlink(indexPath)
            return
        }
        let weightMap = shardOfTensor.sorted { $0.key < $1.key }.map { (key: $0.key, value: SafetensorsJSON.string(shardFileNames[$0.value])) }
        let index = SafetensorsJSON.object([
            ("metadata", .object([("total_size", .number(String(totalSize)))])),
            ("weight_map", .object(weightMap)),
        ])
        try AtomicFile.write(Array((index.serialized + "\n").utf8), to: indexPath)
        unlink((directory as NSString).appendingPathComponent(SafetensorsCheckpoint.singleFileName))
    }

    /// Abandons every shard; nothing in the directory changes.
    public func cancel() { writers.forEach { $0.cancel() } }

    /// Writes whole tensors in one call.
    public static func write(tensors: [(name: String, dtype: DType, shape: [Int], bytes: [UInt8])], metadata: [String: String] = [:],
                             to directory: String, maxShardBytes: Int = defaultMaxShardBytes) throws {
        let writer = try SafetensorsCheckpointWriter(
            directory: directory, tensors: tensors.map { .init(name: $0.name, dtype: $0.dtype, shape: $0.shape) },
            metadata: metadata, maxShardBytes: maxShardBytes)
        for t in tensors { try writer.write(t.name, bytes: t.bytes) }
        try writer.finish()
    }
}
