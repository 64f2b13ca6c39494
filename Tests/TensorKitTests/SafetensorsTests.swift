import Foundation
import XCTest
import TestSupport
@testable import TensorKit

/// A fresh empty directory in the temporary directory.
func temporaryDirectory(_ name: String) -> String {
    let path = temporaryPath(name)
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

func bytesOf<T>(_ values: [T]) -> [UInt8] { values.withUnsafeBytes { Array($0) } }

func values<T>(_ tensor: StoredTensor, as: T.Type) -> [T] {
    Array(tensor.bytes.bindMemory(to: T.self))
}

final class SafetensorsTests: XCTestCase {
    // MARK: Files written by others

    /// A file written by the reference implementation (Scripts/make-safetensors-fixture.py).
    func testReadsTheReferenceImplementationsFile() throws {
        let path = Fixtures.repositoryRoot.appendingPathComponent("Tests/TensorKitTests/Fixtures/reference.safetensors").path
        let file = try SafetensorsFile(path: path)
        XCTAssertEqual(file.metadata, ["format": "np", "note": "made by the reference"])
        XCTAssertEqual(file.tensorNames, ["ids_i64", "scalar_f64", "weight_f32", "empty_i32", "bias_f16", "bytes_u8", "mask_bool"])
        XCTAssertEqual(file.dataOffset % 8, 0)

        let w = try file.tensor("weight_f32")
        XCTAssertEqual(w.type, .dense(.f32))
        XCTAssertEqual(w.shape, [3, 4])
        XCTAssertEqual(try w.toFloat32().scalars, (0..<12).map { Float($0) / 4 - 1 })
        let b = try file.tensor("bias_f16")
        XCTAssertEqual(values(b, as: UInt16.self), [0x3800, 0xC000, 0x7BFF])
        XCTAssertEqual(try b.toFloat32().scalars, [0.5, -2, 65504])
        XCTAssertEqual(values(try file.tensor("ids_i64"), as: Int64.self), [1, -2, 3, 4])
        XCTAssertEqual(Array(try file.tensor("mask_bool").bytes), [1, 0, 1])
        let s = try file.tensor("scalar_f64")
        XCTAssertEqual(s.shape, [])
        XCTAssertEqual(values(s, as: Double.self), [3.25])
        XCTAssertEqual(Array(try file.tensor("bytes_u8").bytes), [0, 1, 2, 3, 4])
        let e = try file.tensor("empty_i32")
        XCTAssertEqual(e.shape, [0, 3])
        XCTAssertEqual(e.bytes.count, 0)
        XCTAssertThrowsError(try file.tensor("nope")) { error in
            XCTAssertEqual(error as? TensorKitError, .missingTensor(file: path, name: "nope"))
        }
    }

    /// The refusal organism's PEFT adapter: F32 lora_A [16, in] and lora_B [out, 16] for 7 projections × 30 layers.
    func testReadsTheRefusalAdapter() throws {
        let path = Fixtures.refusalAdapter.appendingPathComponent("adapter_model.safetensors").path
        let file = try SafetensorsFile(path: path)
        XCTAssertEqual(file.metadata, ["format": "pt"])
        XCTAssertEqual(file.tensorInfos.count, 420)
        XCTAssertTrue(file.tensorInfos.allSatisfy { $0.dtype == .f32 })
        for info in file.tensorInfos {
            if info.name.hasSuffix("lora_A.weight") { XCTAssertEqual(info.shape.first, 16, info.name) }
            else { XCTAssertTrue(info.name.hasSuffix("lora_B.weight")); XCTAssertEqual(info.shape.last, 16, info.name) }
        }
        let a = try file.tensor("base_model.model.model.layers.0.mlp.down_proj.lora_A.weight")
        XCTAssertEqual(a.shape, [16, 1536])
        XCTAssertEqual(Array(values(a, as: Float.self).prefix(3)), [0.0034102429635822773, -0.015572981908917427, -0.003573603928089142])
        let b = try file.tensor("base_model.model.model.layers.0.mlp.down_proj.lora_B.weight")
        XCTAssertEqual(b.shape, [576, 16])
        XCTAssertEqual(Array(values(b, as: Float.self).prefix(3)), [-0.0025422070175409317, -0.0034015418495982885, 0.0023738157469779253])
        // The directory is a checkpoint of one file (no model.safetensors: the lone .safetensors file).
        let checkpoint = try SafetensorsCheckpoint(directory: Fixtures.refusalAdapter.path)
        XCTAssertEqual(checkpoint.tensorNames.count, 420)
        XCTAssertEqual(checkpoint.file(for: a.name), path)
    }

    // MARK: Writing

    func testRoundTripWithMetadataAndLayout() throws {
        let path = temporaryPath("model.safetensors")
        defer { unlink(path) }
        let f32: [Float] = [1, -2, 3.5, 0, 1e-3, 7]
        let bf16: [UInt16] = [0x3F80, 0xC000, 0x4060]
        let i64: [Int64] = [Int64.min, 0, Int64.max]
        try SafetensorsWriter.write(tensors: [
            ("zeta.weight", .f32, [2, 3], bytesOf(f32)),
            ("alpha.bias", .bf16, [3], bytesOf(bf16)),
            ("mid.ids", .i64, [3], bytesOf(i64)),
            ("odd \"name\"\n✓", .u8, [1], [42]),
            ("empty", .f32, [0], []),
        ], metadata: ["format": "pt", "quote": "a \"b\" \\ c"], to: path)

        let file = try SafetensorsFile(path: path)
        XCTAssertEqual(file.metadata, ["format": "pt", "quote": "a \"b\" \\ c"])
        // Data order: dtype size descending, then name; no gaps.
        XCTAssertEqual(file.tensorNames, ["mid.ids", "empty", "zeta.weight", "alpha.bias", "odd \"name\"\n✓"])
        XCTAssertEqual(file.tensorInfos.map(\.dataOffsets), [0..<24, 24..<24, 24..<48, 48..<54, 54..<55])
        XCTAssertEqual(file.dataOffset % 8, 0)
        let headerText = String(decoding: file.mappedFile.bytes[8..<file.dataOffset], as: UTF8.self)
        XCTAssertTrue(headerText.hasPrefix("{\"__metadata__\":{\"format\":\"pt\""), headerText)
        XCTAssertEqual(headerText.trimmingCharacters(in: .whitespaces).last, "}")
        XCTAssertEqual(file.mappedFile.bytes.count, file.dataOffset + 55)

        XCTAssertEqual(values(try file.tensor("zeta.weight"), as: Float.self), f32)
        XCTAssertEqual(try file.tensor("alpha.bias").toFloat32().scalars, [1, -2, 3.5])
        XCTAssertEqual(values(try file.tensor("mid.ids"), as: Int64.self), i64)
        XCTAssertEqual(Array(try file.tensor("odd \"name\"\n✓").bytes), [42])
        XCTAssertEqual(try file.tensor("empty").shape, [0])
    }

    func testStreamingWriterTakesTensorsInAnyOrderAndChecksThem() throws {
        let path = temporaryPath("stream.safetensors")
        defer { unlink(path) }
        let specs = (0..<4).map { SafetensorsWriter.TensorSpec(name: "t\($0)", dtype: .f32, shape: [$0 + 1, 2]) }
        let writer = try SafetensorsWriter(path: path, tensors: specs)
        for i in (0..<4).reversed() {
            try writer.write("t\(i)", bytes: bytesOf((0..<(2 * (i + 1))).map { Float(i * 100 + $0) }))
        }
        XCTAssertThrowsError(try writer.write("t0", bytes: bytesOf([Float](repeating: 0, count: 2)))) { error in
            XCTAssertEqual(error as? TensorKitError, .malformed(file: path, key: "tensor 't0'", reason: "written twice"))
        }
        XCTAssertThrowsError(try writer.write("t9", bytes: [])) { error in
            XCTAssertEqual(error as? TensorKitError, .malformed(file: path, key: "tensor 't9'", reason: "not declared to the writer"))
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: path), "nothing appears before finish()")
        try writer.finish()
        let file = try SafetensorsFile(path: path)
        XCTAssertEqual(file.tensorNames, ["t0", "t1", "t2", "t3"])
        for i in 0..<4 {
            XCTAssertEqual(values(try file.tensor("t\(i)"), as: Float.self), (0..<(2 * (i + 1))).map { Float(i * 100 + $0) })
        }
        // A copy through StoredTensor views.
        let copyPath = temporaryPath("copy.safetensors")
        defer { unlink(copyPath) }
        let copy = try SafetensorsWriter(path: copyPath, tensors: file.tensorInfos.map { .init(name: $0.name, dtype: $0.dtype, shape: $0.shape) })
        for name in file.tensorNames { try copy.write(file.tensor(name)) }
        try copy.finish()
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: copyPath)), try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    /// `keepingOrder` lays the data out as declared (names out of order, a 2-byte tensor before a 4-byte
    /// one), so a file written by another tool can be rewritten with the same layout, byte for byte.
    func testStreamingWriterKeepingOrderReproducesAnotherLayout() throws {
        let path = temporaryPath("declared.safetensors")
        defer { unlink(path) }
        let specs: [SafetensorsWriter.TensorSpec] = [
            .init(name: "z.half", dtype: .f16, shape: [3]), .init(name: "a.float", dtype: .f32, shape: [2]),
            .init(name: "m.half", dtype: .bf16, shape: [1]),
        ]
        let data: [String: [UInt8]] = ["z.half": [1, 2, 3, 4, 5, 6], "a.float": [7, 8, 9, 10, 11, 12, 13, 14], "m.half": [15, 16]]
        let writer = try SafetensorsWriter(path: path, tensors: specs, metadata: ["format": "pt"], keepingOrder: true)
        for spec in specs.reversed() { try writer.write(spec.name, bytes: data[spec.name]!) }
        try writer.finish()
        let file = try SafetensorsFile(path: path)
        XCTAssertEqual(file.tensorNames, ["z.half", "a.float", "m.half"])
        XCTAssertEqual(file.tensorInfos.map(\.dataOffsets), [0..<6, 6..<14, 14..<16])
        XCTAssertEqual(Array(file.mappedFile.bytes[file.dataOffset...]), Array(1...16))
        // Rewriting it keeping its order gives the same bytes; the default order would not.
        let copyPath = temporaryPath("declared-copy.safetensors")
        defer { unlink(copyPath) }
        for keepingOrder in [true, false] {
            let copy = try SafetensorsWriter(
                path: copyPath, tensors: file.tensorInfos.map { .init(name: $0.name, dtype: $0.dtype, shape: $0.shape) },
                metadata: file.metadata, keepingOrder: keepingOrder)
            for name in file.tensorNames { try copy.write(file.tensor(name)) }
            try copy.finish()
            let same = try Data(contentsOf: URL(fileURLWithPath: copyPath)) == Data(contentsOf: URL(fileURLWithPath: path))
            XCTAssertEqual(same, keepingOrder)
        }
    }

    func testStreamingWriterRefusesWrongSizesAndIncompleteFiles() throws {
        let path = temporaryPath("incomplete.safetensors")
        let writer = try SafetensorsWriter(path: path, tensors: [.init(name: "a", dtype: .f16, shape: [4]), .init(name: "b", dtype: .f16, shape: [1])])
        XCTAssertThrowsError(try writer.write("a", bytes: [UInt8](repeating: 0, count: 6))) { error in
            guard case .malformed(let file, let key, let reason)? = error as? TensorKitError else { return XCTFail("\(error)") }
            XCTAssertEqual(file, path)
            XCTAssertEqual(key, "tensor 'a'")
            XCTAssertTrue(reason.contains("6 bytes given, 8 declared"), reason)
        }
        try writer.write("a", bytes: [UInt8](repeating: 0, count: 8))
        XCTAssertThrowsError(try writer.finish()) { error in
            XCTAssertEqual(error as? TensorKitError, .missingTensor(file: path, name: "b"))
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: path))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: (path as NSString).deletingLastPathComponent)
            .filter { $0.hasPrefix((path as NSString).lastPathComponent) }
        XCTAssertEqual(leftovers, [], "the temporary file is removed")

        XCTAssertThrowsError(try SafetensorsWriter(path: path, tensors: [.init(name: "a", dtype: .f32, shape: [1]), .init(name: "a", dtype: .f32, shape: [1])])) { error in
            XCTAssertEqual(error as? TensorKitError, .malformed(file: path, key: "tensor 'a'", reason: "duplicate tensor name"))
        }
        XCTAssertThrowsError(try SafetensorsWriter(path: path, tensors: [.init(name: "a", dtype: .f32, shape: [-1])]))
        XCTAssertThrowsError(try SafetensorsWriter(path: path, tensors: [.init(name: "a", dtype: .f32, shape: [1 << 40, 1 << 40])]))
    }

    // MARK: Checkpoints

    func testShardedCheckpointRoundTrip() throws {
        let dir = temporaryDirectory("sharded")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // 6 tensors of 40 bytes; shards of at most 100 bytes hold 2 each.
        let tensors = (0..<6).map { i in
            (name: "layers.\(i).weight", dtype: DType.f32, shape: [2, 5], bytes: bytesOf((0..<10).map { Float(i * 10 + $0) }))
        }
        try SafetensorsCheckpointWriter.write(tensors: tensors, metadata: ["format": "pt"], to: dir, maxShardBytes: 100)
        let files = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
        XCTAssertEqual(files, ["model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors",
                               "model-00003-of-00003.safetensors", "model.safetensors.index.json"])
        let index = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/model.safetensors.index.json"))) as! [String: Any]
        XCTAssertEqual((index["metadata"] as! [String: Any])["total_size"] as? Int, 240)
        let weightMap = index["weight_map"] as! [String: String]
        XCTAssertEqual(weightMap["layers.0.weight"], "model-00001-of-00003.safetensors")
        XCTAssertEqual(weightMap["layers.3.weight"], "model-00002-of-00003.safetensors")
        XCTAssertEqual(weightMap["layers.5.weight"], "model-00003-of-00003.safetensors")

        let checkpoint = try SafetensorsCheckpoint(directory: dir)
        XCTAssertEqual(checkpoint.shards.count, 3)
        XCTAssertEqual(checkpoint.indexMetadata["total_size"], "240")
        XCTAssertEqual(checkpoint.metadata, ["format": "pt"])
        XCTAssertEqual(checkpoint.tensorNames, tensors.map(\.name))
        for t in tensors {
            XCTAssertEqual(Array(try checkpoint.tensor(t.name).bytes), t.bytes)
            XCTAssertEqual(checkpoint.file(for: t.name), dir + "/" + weightMap[t.name]!)
        }
        XCTAssertThrowsError(try checkpoint.tensor("lm_head.weight")) { error in
            XCTAssertEqual(error as? TensorKitError, .missingTensor(file: dir, name: "lm_head.weight"))
        }

        // Rewritten as one file: the stale index and shards' index entry no longer shadow it.
        try SafetensorsCheckpointWriter.write(tensors: Array(tensors.prefix(2)), to: dir)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/model.safetensors.index.json"))
        let single = try SafetensorsCheckpoint(directory: dir)
        XCTAssertEqual(single.tensorNames, ["layers.0.weight", "layers.1.weight"])
        XCTAssertEqual(single.file(for: "layers.0.weight"), dir + "/model.safetensors")
    }

    func testOversizedTensorGetsAShardOfItsOwn() throws {
        let dir = temporaryDirectory("oversized")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let specs: [SafetensorsWriter.TensorSpec] = [
            .init(name: "small.a", dtype: .u8, shape: [10]), .init(name: "big", dtype: .u8, shape: [500]),
            .init(name: "small.b", dtype: .u8, shape: [10]), .init(name: "small.c", dtype: .u8, shape: [10]),
        ]
        let writer = try SafetensorsCheckpointWriter(directory: dir, tensors: specs, maxShardBytes: 20)
        XCTAssertEqual(writer.shardFileNames.count, 3)
        XCTAssertEqual(specs.map { writer.file(for: $0.name)! }, [
            "model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors",
            "model-00003-of-00003.safetensors", "model-00003-of-00003.safetensors"])
        writer.cancel()
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), [], "cancel leaves nothing behind")
    }

    func testCheckpointIndexErrors() throws {
        let dir = temporaryDirectory("badindex")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try SafetensorsWriter.write(tensors: [("a", .u8, [1], [1])], to: dir + "/model-00001-of-00001.safetensors")
        let indexPath = dir + "/model.safetensors.index.json"
        try AtomicFile.write(Array(#"{"metadata": {}, "weight_map": {"a": "model-00001-of-00001.safetensors", "b": "model-00001-of-00001.safetensors"}}"#.utf8), to: indexPath)
        XCTAssertThrowsError(try SafetensorsCheckpoint(directory: dir)) { error in
            XCTAssertEqual(error as? TensorKitError, .missingTensor(file: dir + "/model-00001-of-00001.safetensors", name: "b"))
        }
        try AtomicFile.write(Array(#"{"weight_map": {"a": "../elsewhere.safetensors"}}"#.utf8), to: indexPath)
        XCTAssertThrowsError(try SafetensorsCheckpoint(directory: dir)) { error in
            guard case .malformed(let file, let key, _)? = error as? TensorKitError else { return XCTFail("\(error)") }
            XCTAssertEqual(file, indexPath)
            XCTAssertEqual(key, "weight_map.a")
        }
        try AtomicFile.write(Array(#"{"weight_map": {"a": "missing.safetensors"}}"#.utf8), to: indexPath)
        XCTAssertThrowsError(try SafetensorsCheckpoint(directory: dir)) { error in
            guard case .io(let file, _)? = error as? TensorKitError else { return XCTFail("\(error)") }
            XCTAssertEqual(file, dir + "/missing.safetensors")
        }
        try AtomicFile.write(Array(#"{"weight_map": {"a": "x", "a": "y"}}"#.utf8), to: indexPath)
        XCTAssertThrowsError(try SafetensorsCheckpoint(directory: dir)) { error in
            guard case .malformed(let file, let key, let reason)? = error as? TensorKitError else { return XCTFail("\(error)") }
            XCTAssertEqual(file, indexPath)
            XCTAssertEqual(key, "a")
            XCTAssertTrue(reason.contains("duplicate key"), reason)
        }
        let empty = temporaryDirectory("empty")
        defer { try? FileManager.default.removeItem(atPath: empty) }
        XCTAssertThrowsError(try SafetensorsCheckpoint(directory: empty)) { error in
            guard case .io(let file, _)? = error as? TensorKitError else { return XCTFail("\(error)") }
            XCTAssertEqual(file, empty)
        }
    }
}
