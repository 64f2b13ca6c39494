import Foundation
import XCTest
import TestSupport
@testable import TensorKit

/// Writes `bytes` to a temporary `fileName`, opens it with `open`, and asserts it fails with `.malformed`
/// naming the file and `key`, with a reason containing `reason`.
func assertMalformed(
    _ bytes: [UInt8], fileName: String, key: String, reason: String, line: UInt = #line,
    open: (String) throws -> Void
) throws {
    let path = temporaryPath(fileName)
    defer { unlink(path) }
    try AtomicFile.write(bytes, to: path)
    XCTAssertThrowsError(try open(path), line: line) { error in
        guard case let .malformed(file, k, r)? = error as? TensorKitError else {
            return XCTFail("expected .malformed, got \(error)", line: line)
        }
        XCTAssertEqual(file, path, line: line)
        XCTAssertEqual(k, key, line: line)
        XCTAssertTrue(r.contains(reason), "reason '\(r)' lacks '\(reason)'", line: line)
        let message = "\(error)"
        XCTAssertTrue(message.contains(path) && message.contains(key), message, line: line)
    }
}

/// A fresh path in the temporary directory, removed by the caller's `defer`.
func temporaryPath(_ name: String) -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("tensorkit-\(UUID().uuidString)-\(name)").path
}

final class GGUFReaderTests: XCTestCase {
    // MARK: Real models (facts checked against the `gguf` Python package's GGUFReader)

    func testSmolLM2Directory() throws {
        let gguf = try GGUFFile(path: try TestModels.smolLM2())
        XCTAssertEqual(gguf.version, 3)
        XCTAssertEqual(gguf.metadataKeys.count, 33)
        XCTAssertEqual(gguf.metadataKeys.first, "general.architecture")
        XCTAssertEqual(gguf.alignment, 32)
        XCTAssertEqual(gguf.dataOffset, 1_785_664)
        XCTAssertEqual(gguf.tensorInfos.count, 272)
        XCTAssertEqual(gguf.string("general.architecture"), "llama")
        XCTAssertEqual(gguf.int("llama.block_count"), 30)
        XCTAssertEqual(gguf.int("llama.embedding_length"), 576)
        XCTAssertEqual(gguf.int("llama.feed_forward_length"), 1536)
        XCTAssertEqual(gguf.int("llama.attention.head_count"), 9)
        XCTAssertEqual(gguf.int("llama.attention.head_count_kv"), 3)
        XCTAssertEqual(gguf.float("llama.rope.freq_base"), 100_000)
        XCTAssertEqual(gguf.float("llama.attention.layer_norm_rms_epsilon")!, 1e-5, accuracy: 1e-12)
        XCTAssertEqual(gguf.string("tokenizer.ggml.model"), "gpt2")
        XCTAssertEqual(gguf.strings("general.languages"), ["en"])
        let tokens = try XCTUnwrap(gguf.strings("tokenizer.ggml.tokens"))
        XCTAssertEqual(tokens.count, 49152)
        XCTAssertEqual(Array(tokens.prefix(3)), ["<|endoftext|>", "<|im_start|>", "<|im_end|>"])
        XCTAssertEqual(gguf.strings("tokenizer.ggml.merges")?.count, 48900)
        XCTAssertEqual(gguf.ints("tokenizer.ggml.token_type")?.prefix(3).map { $0 }, [3, 3, 3])
        XCTAssertEqual(gguf.metadata["tokenizer.ggml.token_type"]?.typeName, "ARRAY[INT32]")
        XCTAssertNotNil(gguf.string("tokenizer.chat_template"))
        XCTAssertNotNil(gguf.bool("tokenizer.ggml.add_bos_token"))
        XCTAssertNil(gguf.int("general.architecture"), "a string is not an int")
        XCTAssertNil(gguf.string("no.such.key"))

        let counts = Dictionary(grouping: gguf.tensorInfos, by: \.type).mapValues(\.count)
        XCTAssertEqual(counts, [.q4_1: 210, .f32: 61, .q8_0: 1])
        XCTAssertNil(gguf.info("output.weight"), "tied embeddings")
        XCTAssertEqual(gguf.tensorNames.filter { $0.hasSuffix("attn_q.weight") }.count, 30)

        let embedding = try gguf.tensor("token_embd.weight")
        XCTAssertEqual(embedding.type, .ggml(.q8_0))
        XCTAssertEqual(embedding.shape, [49152, 576])
        XCTAssertEqual(gguf.info("token_embd.weight")?.dims, [576, 49152])
        XCTAssertEqual(embedding.bytes.count, 30_081_024)
        XCTAssertEqual(embedding.rowByteCount, 576 / 32 * 34)
        XCTAssertEqual(hex(embedding.bytes.prefix(8)), "3219d60d13f7e5ee")
        // A view, not a copy: the bytes lie inside the mapping.
        XCTAssertEqual(embedding.bytes.baseAddress, gguf.mappedFile.bytes.baseAddress! + 1_785_664)

        let down = try gguf.tensor("blk.0.ffn_down.weight")
        XCTAssertEqual(down.shape, [576, 1536])
        XCTAssertEqual(down.type, .ggml(.q4_1))
        let norm = try gguf.tensor("output_norm.weight").toFloat32()
        XCTAssertEqual(Array(norm.scalars.prefix(4)), [1.7578125, 1.8203125, 1.78125, 1.6015625])

        XCTAssertThrowsError(try gguf.tensor("output.weight")) { error in
            XCTAssertEqual(error as? TensorKitError, .missingTensor(file: gguf.path, name: "output.weight"))
        }
    }

    func testGemma3Directory() throws {
        let path = try TestModels.gemma3()
        let gguf = try GGUFFile(path: path)
        XCTAssertEqual(gguf.version, 3)
        XCTAssertEqual(gguf.string("general.architecture"), "gemma3")
        XCTAssertEqual(gguf.int("gemma3.block_count"), 18)
        XCTAssertEqual(gguf.int("gemma3.embedding_length"), 640)
        XCTAssertEqual(gguf.int("gemma3.attention.sliding_window"), 512)
        XCTAssertEqual(gguf.int("gemma3.attention.head_count_kv"), 1)
        XCTAssertEqual(gguf.float("gemma3.rope.freq_base"), 1_000_000)
        XCTAssertEqual(gguf.string("tokenizer.ggml.model"), "llama")
        XCTAssertEqual(gguf.floats("tokenizer.ggml.scores")?.count, 262_144)
        XCTAssertEqual(gguf.floats("tokenizer.ggml.scores")?.prefix(3).map { $0 }, [-1000, -1000, -1000])
        XCTAssertNil(gguf.string("tokenizer.chat_template"))
        XCTAssertEqual(gguf.tensorInfos.count, 236)
        XCTAssertEqual(gguf.dataOffset, 6_525_120)
        let counts = Dictionary(grouping: gguf.tensorInfos, by: \.type).mapValues(\.count)
        XCTAssertEqual(counts, [.f32: 109, .q5_0: 81, .q4_K: 27, .q8_0: 10, .q6_K: 9])
        XCTAssertEqual(try gguf.tensor("token_embd.weight").shape, [262_144, 640])
        XCTAssertEqual(try gguf.tensor("blk.0.attn_k.weight").shape, [256, 640])
        // The last tensor ends exactly at the end of the file.
        let last = try XCTUnwrap(gguf.tensorInfos.last)
        XCTAssertEqual(last.name, "blk.17.post_ffw_norm.weight")
        XCTAssertEqual(gguf.dataOffset + last.offset + last.byteCount, gguf.mappedFile.bytes.count)
        let norm = try gguf.tensor("output_norm.weight").toFloat32()
        XCTAssertEqual(Array(norm.scalars.prefix(4)), [7.125, 9.5625, 47, 145])
    }

    // MARK: Synthetic files

    func testRoundTripOfEveryValueTypeAndTensorLayout() throws {
        let metadata: [(key: String, value: GGUFValue)] = [
            ("general.architecture", .string("toy")),
            ("u8", .uint8(200)), ("i8", .int8(-100)), ("u16", .uint16(60000)), ("i16", .int16(-30000)),
            ("u32", .uint32(4_000_000_000)), ("i32", .int32(-2_000_000_000)), ("f32", .float32(1.5)),
            ("bool", .bool(true)), ("string", .string("héllo ✓")), ("u64", .uint64(UInt64.max)),
            ("i64", .int64(Int64.min)), ("f64", .float64(-2.25)),
            ("strings", .array([.string("a"), .string(""), .string("ccc")])),
            ("floats", .array([.float32(0.5), .float32(-1)])),
            ("nested", .array([.array([.int32(1), .int32(2)]), .array([.int32(3)])])),
            ("empty", .array([])),
            ("general.alignment", .uint32(64)),
        ]
        let f32: [Float] = [1, 2, 3, 4, 5, 6]
        let f32Bytes = f32.withUnsafeBytes { Array($0) }
        let q8Bytes = (0..<(2 * 34)).map { UInt8(truncatingIfNeeded: $0 * 7) }
        let tensors = [
            GGUFWriter.TensorEntry(name: "a", type: .f32, shape: [2, 3], bytes: f32Bytes),
            GGUFWriter.TensorEntry(name: "q", type: .q8_0, shape: [2, 32], bytes: q8Bytes),
            GGUFWriter.TensorEntry(name: "v", type: .f16, shape: [5], bytes: [UInt8](repeating: 0x3c, count: 10)),
        ]
        let path = temporaryPath("roundtrip.gguf")
        defer { unlink(path) }
        try GGUFWriter.write(metadata: metadata, tensors: tensors, to: path)

        let gguf = try GGUFFile(path: path)
        XCTAssertEqual(gguf.metadataKeys, metadata.map(\.key))
        for (key, value) in metadata { XCTAssertEqual(gguf.metadata[key], value, key) }
        XCTAssertEqual(gguf.alignment, 64)
        XCTAssertEqual(gguf.dataOffset % 64, 0)
        XCTAssertEqual(gguf.int("u64"), nil, "UInt64.max does not fit an Int")
        XCTAssertEqual(gguf.int("u32"), 4_000_000_000)
        XCTAssertEqual(gguf.int("i64"), Int(Int64.min))
        XCTAssertEqual(gguf.float("f64"), -2.25)
        XCTAssertEqual(gguf.float("u8"), 200)
        XCTAssertEqual(gguf.bool("bool"), true)
        XCTAssertEqual(gguf.strings("strings"), ["a", "", "ccc"])
        XCTAssertEqual(gguf.floats("floats"), [0.5, -1])
        XCTAssertNil(gguf.strings("floats"))
        XCTAssertEqual(gguf.tensorNames, ["a", "q", "v"])
        XCTAssertEqual(gguf.tensorInfos.map(\.offset), [0, 64, 192])
        XCTAssertEqual(gguf.info("a")?.dims, [3, 2])
        let a = try gguf.tensor("a")
        XCTAssertEqual(a.shape, [2, 3])
        XCTAssertEqual(try a.toFloat32().scalars, f32)
        let q = try gguf.tensor("q")
        XCTAssertEqual(q.shape, [2, 32])
        XCTAssertEqual(Array(q.bytes), q8Bytes)
        XCTAssertEqual(try gguf.tensor("v").toFloat32().scalars, [Float](repeating: 1.05859375, count: 5), "f16 0x3c3c")
    }

    func testVersion2AndNoTensors() throws {
        var bytes = try GGUFWriter.encode(metadata: [("k", .string("v"))], tensors: [])
        bytes[4] = 2  // version 2 has the same layout as version 3
        let path = temporaryPath("v2.gguf")
        defer { unlink(path) }
        try AtomicFile.write(bytes, to: path)
        let gguf = try GGUFFile(path: path)
        XCTAssertEqual(gguf.version, 2)
        XCTAssertEqual(gguf.string("k"), "v")
        XCTAssertEqual(gguf.tensorInfos, [])
    }

    private func hex<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        bytes.map { String(format: "%02x", $0) }.joined()
    }
}
