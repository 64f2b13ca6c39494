import Foundation
import XCTest
@testable import TensorKit

final class GGUFStreamWriterTests: XCTestCase {
    func temporaryPath(_ name: String) -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gguf-stream-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir.appendingPathComponent(name).path
    }

    /// The streamed file is byte for byte what the in-memory writer assembles, for two alignments, and
    /// `GGUFFile` reads back every entry and tensor; metadata entry ranges cover exactly the stored entries.
    func testStreamedFileEqualsInMemoryEncoding() throws {
        for alignment in [32, 64] {
            let metadata: [(key: String, value: GGUFValue)] = [
                ("general.architecture", .string("llama")), ("general.alignment", .uint32(UInt32(alignment))),
                ("tokenizer.ggml.tokens", .array([.string("a"), .string("bc")])), ("x.f", .float32(0.5)),
            ]
            let tensors = [
                GGUFWriter.TensorEntry(name: "a", type: .f32, shape: [3], bytes: (0..<12).map { UInt8($0) }),
                GGUFWriter.TensorEntry(name: "b", type: .q8_0, shape: [2, 32], bytes: (0..<68).map { UInt8($0 & 0x7f) }),
                GGUFWriter.TensorEntry(name: "c", type: .f16, shape: [5, 1], bytes: [UInt8](repeating: 0x3c, count: 10)),
            ]
            let expected = try GGUFWriter.encode(metadata: metadata, tensors: tensors)
            let path = temporaryPath("out-\(alignment).gguf")
            let specs = try tensors.map { try GGUFStreamWriter.TensorSpec(name: $0.name, type: $0.type, dims: $0.shape.reversed()) }
            let writer = try GGUFStreamWriter(
                path: path, metadata: try metadata.map { ($0.key, try GGUFWriter.encodeEntry(key: $0.key, value: $0.value)) },
                tensors: specs, alignment: alignment)
            for t in tensors { try writer.append(t.name, t.bytes) }
            XCTAssertNil(writer.nextTensor)
            try writer.finish()
            let written = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
            XCTAssertEqual(written, expected, "alignment \(alignment)")
            XCTAssertEqual(written.count, writer.totalBytes)

            let file = try GGUFFile(path: path)
            XCTAssertEqual(file.metadataKeys, metadata.map(\.key))
            for (i, (key, value)) in metadata.enumerated() {
                XCTAssertEqual(Array(written[file.metadataEntryRanges[i]]), try GGUFWriter.encodeEntry(key: key, value: value))
            }
            for t in tensors { XCTAssertEqual(Array(try file.tensor(t.name).bytes), t.bytes) }
        }
    }

    /// Misuse is refused naming the tensor, and a writer that does not finish leaves neither the target
    /// nor its staging file.
    func testMisuseIsRefusedAndNothingIsLeftBehind() throws {
        let path = temporaryPath("bad.gguf")
        let dir = (path as NSString).deletingLastPathComponent
        let specs = [try GGUFStreamWriter.TensorSpec(name: "a", type: .f32, dims: [4]),
                     try GGUFStreamWriter.TensorSpec(name: "b", type: .f32, dims: [2])]
        XCTAssertThrowsError(try GGUFStreamWriter.TensorSpec(name: "q", type: .q4_K, dims: [640, 2])) {
            XCTAssertTrue("\($0)".contains("tensor 'q'") && "\($0)".contains("multiple of the Q4_K block size 256"), "\($0)")
        }
        XCTAssertThrowsError(try GGUFStreamWriter(path: path, metadata: [("k", [1]), ("k", [2])], tensors: specs))
        XCTAssertThrowsError(try GGUFStreamWriter(path: path, metadata: [], tensors: specs + specs.prefix(1)))
        var writer: GGUFStreamWriter? = try GGUFStreamWriter(path: path, metadata: [], tensors: specs)
        XCTAssertThrowsError(try writer!.append("b", [UInt8](repeating: 0, count: 8))) {
            XCTAssertTrue("\($0)".contains("out of order") && "\($0)".contains("'a' comes next"), "\($0)")
        }
        XCTAssertThrowsError(try writer!.append("a", [UInt8](repeating: 0, count: 15))) {
            XCTAssertTrue("\($0)".contains("tensor 'a'") && "\($0)".contains("16 bytes"), "\($0)")
        }
        try writer!.append("a", [UInt8](repeating: 0, count: 16))
        XCTAssertThrowsError(try writer!.finish()) { XCTAssertTrue("\($0)".contains("tensor 'b'"), "\($0)") }
        XCTAssertFalse(FileManager.default.fileExists(atPath: path))
        writer = try GGUFStreamWriter(path: path, metadata: [], tensors: specs)
        try writer!.append("a", [UInt8](repeating: 0, count: 16))
        writer = nil  // released unfinished
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), [])
    }

    func testSHA256KnownAnswers() {
        XCTAssertEqual(SHA256.hex([UInt8]()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(SHA256.hex(Array("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(SHA256.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        XCTAssertEqual(SHA256.hex([UInt8](repeating: 0x61, count: 1_000)),
                       "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3")
    }
}
