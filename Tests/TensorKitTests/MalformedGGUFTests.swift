import Foundation
import XCTest
@testable import TensorKit

/// Hand-assembled GGUF bytes, so tests can write what no correct writer would.
struct RawGGUF {
    var bytes: [UInt8] = []

    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    mutating func string(_ s: String) { u64(UInt64(s.utf8.count)); bytes += Array(s.utf8) }
    mutating func header(version: UInt32 = 3, tensors: UInt64, kvs: UInt64) {
        bytes += Array("GGUF".utf8)
        u32(version)
        u64(tensors)
        u64(kvs)
    }

    /// A file with an optional UINT32 `general.alignment`, the given tensor entries, and `dataBytes`
    /// zero bytes of data after the aligned directory.
    static func file(tensors: [(name: String, dims: [UInt64], type: UInt32, offset: UInt64)],
                     dataBytes: Int, alignment: UInt32? = nil) -> [UInt8] {
        var g = RawGGUF()
        g.header(tensors: UInt64(tensors.count), kvs: alignment == nil ? 0 : 1)
        if let alignment {
            g.string("general.alignment")
            g.u32(4)
            g.u32(alignment)
        }
        for t in tensors {
            g.string(t.name)
            g.u32(UInt32(t.dims.count))
            for d in t.dims { g.u64(d) }
            g.u32(t.type)
            g.u64(t.offset)
        }
        let a = max(Int(alignment ?? 32), 1)
        while g.bytes.count % a != 0 { g.bytes.append(0) }
        g.bytes += [UInt8](repeating: 0, count: dataBytes)
        return g.bytes
    }
}

final class MalformedGGUFTests: XCTestCase {
    func assertMalformed(_ bytes: [UInt8], key: String, reason: String, line: UInt = #line) throws {
        try TensorKitTests.assertMalformed(bytes, fileName: "bad.gguf", key: key, reason: reason, line: line) {
            _ = try GGUFFile(path: $0)
        }
    }

    func validFile() throws -> [UInt8] {
        try GGUFWriter.encode(
            metadata: [("general.architecture", .string("toy")), ("list", .array([.string("a"), .string("b")]))],
            tensors: [GGUFWriter.TensorEntry(name: "w", type: .f32, shape: [2, 2], bytes: [UInt8](repeating: 0, count: 16))])
    }

    func testEmptyAndShortFiles() throws {
        try assertMalformed([], key: "header", reason: "too short")
        try assertMalformed(Array("GGUF".utf8) + [3, 0, 0, 0], key: "header", reason: "too short")
    }

    func testWrongMagic() throws {
        var bytes = try validFile()
        bytes[0...3] = [0x50, 0x4B, 0x03, 0x04]  // a zip file
        try assertMalformed(bytes, key: "magic", reason: "not a GGUF file (magic 'PK\\x3\\x4'")
    }

    func testUnsupportedVersions() throws {
        var bytes = try validFile()
        bytes[4...7] = [1, 0, 0, 0]
        try assertMalformed(bytes, key: "version", reason: "unsupported GGUF version 1")
        bytes[4...7] = [0, 0, 0, 3]
        try assertMalformed(bytes, key: "version", reason: "big-endian")
    }

    func testTruncatedAnywhereFailsWithATypedError() throws {
        let bytes = try validFile()
        let path = temporaryPath("truncated.gguf")
        defer { unlink(path) }
        // The writer pads the file to the alignment after the last tensor's 16 bytes; that padding is optional.
        let end = bytes.count - 16
        try AtomicFile.write(Array(bytes[0..<end]), to: path)
        XCTAssertEqual(try GGUFFile(path: path).tensorNames, ["w"])
        for length in 0..<end {
            try AtomicFile.write(Array(bytes[0..<length]), to: path)
            XCTAssertThrowsError(try GGUFFile(path: path), "length \(length)") { error in
                guard case .malformed(let file, _, _)? = error as? TensorKitError else { return XCTFail("\(error)") }
                XCTAssertEqual(file, path)
            }
        }
        // Cut after the length of the array's last string, "b".
        let lastString: [UInt8] = [1, 0, 0, 0, 0, 0, 0, 0, 0x62]
        let index = try XCTUnwrap((0..<bytes.count).first { Array(bytes[$0..<($0 + 9)]) == lastString })
        try assertMalformed(Array(bytes[0..<(index + 8)]), key: "list", reason: "string length 1 runs past the end")
    }

    func testHugeCountsFailFast() throws {
        var g = RawGGUF()
        g.header(tensors: 0, kvs: UInt64.max)
        try assertMalformed(g.bytes + [UInt8](repeating: 0, count: 64), key: "kv_count", reason: "cannot fit")
        g = RawGGUF()
        g.header(tensors: 1 << 40, kvs: 0)
        try assertMalformed(g.bytes + [UInt8](repeating: 0, count: 64), key: "tensor_count", reason: "cannot fit")
    }

    func testStringLengthPastTheEnd() throws {
        var g = RawGGUF()
        g.header(tensors: 0, kvs: 1)
        g.string("general.name")
        g.u32(8)
        g.u64(1 << 62)  // string length
        g.bytes += Array("short".utf8)
        try assertMalformed(g.bytes, key: "general.name", reason: "string length 4611686018427387904 runs past the end")
        // A key whose own length runs past the end.
        g = RawGGUF()
        g.header(tensors: 0, kvs: 1)
        g.u64(1000)
        g.bytes += Array("abcdefghijklmnop".utf8)
        try assertMalformed(g.bytes, key: "metadata #0", reason: "key length 1000 runs past the end")
    }

    func testHugeArrayCount() throws {
        var g = RawGGUF()
        g.header(tensors: 0, kvs: 1)
        g.string("tokenizer.ggml.tokens")
        g.u32(9)   // ARRAY
        g.u32(8)   // of STRING
        g.u64(UInt64.max / 2)
        g.bytes += [UInt8](repeating: 0, count: 32)
        try assertMalformed(g.bytes, key: "tokenizer.ggml.tokens", reason: "array count 9223372036854775807")
    }

    func testUnknownValueTypesAndDeepNesting() throws {
        var g = RawGGUF()
        g.header(tensors: 0, kvs: 1)
        g.string("k")
        g.u32(13)
        g.bytes += [UInt8](repeating: 0, count: 16)
        try assertMalformed(g.bytes, key: "k", reason: "unknown value type 13")

        g = RawGGUF()
        g.header(tensors: 0, kvs: 1)
        g.string("deep")
        g.u32(9)
        for _ in 0..<20 { g.u32(9); g.u64(1) }
        g.bytes += [UInt8](repeating: 0, count: 16)
        try assertMalformed(g.bytes, key: "deep", reason: "nested deeper")
    }

    func testDuplicateKeysAndTensorNames() throws {
        var g = RawGGUF()
        g.header(tensors: 0, kvs: 2)
        for _ in 0..<2 { g.string("general.name"); g.u32(8); g.string("x") }
        try assertMalformed(g.bytes, key: "general.name", reason: "duplicate metadata key")

        let bytes = RawGGUF.file(tensors: [("w", [4], 0, 0), ("w", [4], 0, 32)], dataBytes: 64)
        try assertMalformed(bytes, key: "tensor 'w'", reason: "duplicate tensor name")
    }

    func testBadAlignmentValues() throws {
        for bad: UInt32 in [0, 3, 48] {
            let bytes = RawGGUF.file(tensors: [("w", [4], 0, 0)], dataBytes: 64, alignment: bad == 0 ? 0 : bad)
            try assertMalformed(bytes, key: "general.alignment", reason: "power of two")
        }
        var g = RawGGUF()
        g.header(tensors: 0, kvs: 1)
        g.string("general.alignment")
        g.u32(8)
        g.string("32")
        try assertMalformed(g.bytes, key: "general.alignment", reason: "power of two")
    }

    func testTensorDataPastTheEndOfTheFile() throws {
        // 4 f32 = 16 bytes of data declared, 8 present.
        try assertMalformed(RawGGUF.file(tensors: [("w", [4], 0, 0)], dataBytes: 8),
                            key: "tensor 'w'", reason: "runs past the end of the file")
        // An offset so large that offset + size overflows.
        try assertMalformed(RawGGUF.file(tensors: [("w", [4], 0, UInt64(Int64.max) / 32 * 32)], dataBytes: 16),
                            key: "tensor 'w'", reason: "runs past the end of the file")
    }

    func testOverlappingAndUnalignedOffsets() throws {
        // a: 64 f32 = 256 bytes at 0; b at 128 overlaps it (listed first: out of order).
        let overlapping = RawGGUF.file(tensors: [("b", [8], 0, 128), ("a", [64], 0, 0)], dataBytes: 512)
        try assertMalformed(overlapping, key: "tensor 'b'", reason: "overlaps tensor 'a'")
        // Out of order but disjoint is legal.
        let reordered = RawGGUF.file(tensors: [("b", [8], 0, 256), ("a", [64], 0, 0)], dataBytes: 512)
        let path = temporaryPath("reordered.gguf")
        defer { unlink(path) }
        try AtomicFile.write(reordered, to: path)
        XCTAssertEqual(try GGUFFile(path: path).tensor("b").bytes.count, 32)

        try assertMalformed(RawGGUF.file(tensors: [("w", [4], 0, 8)], dataBytes: 64),
                            key: "tensor 'w'", reason: "not a multiple of the alignment 32")
    }

    func testDimensionChecks() throws {
        try assertMalformed(RawGGUF.file(tensors: [("w", [1 << 32, 1 << 32], 0, 0)], dataBytes: 64),
                            key: "tensor 'w'", reason: "overflow")
        // Elements fit an Int but their byte size does not.
        try assertMalformed(RawGGUF.file(tensors: [("w", [1 << 31, 1 << 31], 0, 0)], dataBytes: 64),
                            key: "tensor 'w'", reason: "overflows")
        try assertMalformed(RawGGUF.file(tensors: [("w", [UInt64.max], 0, 0)], dataBytes: 64),
                            key: "tensor 'w'", reason: "too large")
        // No elements (a zero dimension), yet the other dimensions' product, which the row length and
        // the reversed shape multiply out, overflows (found by the fuzzer: it trapped in toFloat32).
        try assertMalformed(RawGGUF.file(tensors: [("w", [0, 1 << 62, 4], 0, 0)], dataBytes: 64),
                            key: "tensor 'w'", reason: "dimensions overflow")
        try assertMalformed(RawGGUF.file(tensors: [("w", [1, 1, 1, 1, 1], 0, 0)], dataBytes: 64),
                            key: "tensor 'w'", reason: "5 dimensions")
        // Q8_0 rows must be whole 32-value blocks.
        try assertMalformed(RawGGUF.file(tensors: [("w", [16, 2], 8, 0)], dataBytes: 128),
                            key: "tensor 'w'", reason: "not a multiple of the Q8_0 block size 32")
    }

    func testUnknownTensorType() throws {
        let path = temporaryPath("type.gguf")
        defer { unlink(path) }
        try AtomicFile.write(RawGGUF.file(tensors: [("w", [32], 99, 0)], dataBytes: 64), to: path)
        XCTAssertThrowsError(try GGUFFile(path: path)) { error in
            XCTAssertEqual(error as? TensorKitError, .unsupportedType(file: path, tensor: "w", type: "ggml type 99"))
        }
    }

    func testMissingFileIsAnIOError() {
        XCTAssertThrowsError(try GGUFFile(path: "/nonexistent/model.gguf")) { error in
            guard case .io(let file, _)? = error as? TensorKitError else { return XCTFail("\(error)") }
            XCTAssertEqual(file, "/nonexistent/model.gguf")
        }
    }
}
