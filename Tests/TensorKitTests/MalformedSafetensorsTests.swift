import Foundation
import XCTest
@testable import TensorKit

final class MalformedSafetensorsTests: XCTestCase {
    /// A file with header `json` (as given, unpadded) and `dataBytes` zero bytes of data.
    func file(_ json: String, dataBytes: Int = 0, declaredLength: UInt64? = nil) -> [UInt8] {
        let header = Array(json.utf8)
        var out: [UInt8] = []
        withUnsafeBytes(of: (declaredLength ?? UInt64(header.count)).littleEndian) { out += $0 }
        return out + header + [UInt8](repeating: 0, count: dataBytes)
    }

    func assertMalformed(_ bytes: [UInt8], key: String, reason: String, line: UInt = #line) throws {
        try TensorKitTests.assertMalformed(bytes, fileName: "bad.safetensors", key: key, reason: reason, line: line) {
            _ = try SafetensorsFile(path: $0)
        }
    }

    func testTooShortAndHeaderLengthPastTheEnd() throws {
        try assertMalformed([], key: "header", reason: "too short")
        try assertMalformed([1, 2, 3], key: "header", reason: "too short")
        try assertMalformed(file("{}", declaredLength: 1000), key: "header", reason: "header length 1000 runs past the end of the file (10 bytes)")
        try assertMalformed(file("{}", declaredLength: UInt64.max), key: "header", reason: "exceeds the 100000000-byte limit")
    }

    /// Safetensors has no magic; another format's bytes fail on the header length or the JSON.
    func testWrongFormat() throws {
        let gguf = try GGUFWriter.encode(metadata: [("general.architecture", .string("toy"))], tensors: [])
        try assertMalformed(gguf, key: "header", reason: "exceeds the 100000000-byte limit")
        try assertMalformed(file("[1, 2]"), key: "header", reason: "does not start with a JSON object")
        try assertMalformed(file("\u{0}\u{0}\u{0}\u{0}"), key: "header", reason: "does not start with a JSON object")
    }

    func testInvalidJSON() throws {
        // Cut inside tensor "a": the error names it.
        try assertMalformed(file(#"{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]"#, dataBytes: 4),
                            key: "a", reason: "invalid JSON")
        try assertMalformed(file(#"{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}} x"#, dataBytes: 4),
                            key: "header", reason: "unexpected data after the JSON value")
        var bad = file(#"{"__metadata__": {"k": "é"}}"#)
        bad[bad.count - 5] = 0xFF  // break the UTF-8 of "é"
        try assertMalformed(bad, key: "k", reason: "not valid UTF-8")
        try assertMalformed(file("{\"a\":" + String(repeating: "[", count: 100) + String(repeating: "]", count: 100) + "}"),
                            key: "a", reason: "nested deeper than 64")
    }

    func testDuplicateTensorNames() throws {
        let json = #"{"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}"#
        try assertMalformed(file(json, dataBytes: 8), key: "w", reason: "duplicate key")
    }

    func testUnknownDType() throws {
        let path = temporaryPath("fp8.safetensors")
        defer { unlink(path) }
        try AtomicFile.write(file(#"{"w": {"dtype": "F8_E4M3", "shape": [4], "data_offsets": [0, 4]}}"#, dataBytes: 4), to: path)
        XCTAssertThrowsError(try SafetensorsFile(path: path)) { error in
            XCTAssertEqual(error as? TensorKitError, .unsupportedType(file: path, tensor: "w", type: "F8_E4M3"))
            XCTAssertTrue("\(error)".contains(path) && "\(error)".contains("'w'"))
        }
    }

    func testShapeAndOffsetFields() throws {
        try assertMalformed(file(#"{"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}"#, dataBytes: 4),
                            key: "tensor 'w'", reason: "shape entry -1 is not a non-negative integer")
        try assertMalformed(file(#"{"w": {"dtype": "F32", "shape": [1.5], "data_offsets": [0, 4]}}"#, dataBytes: 4),
                            key: "tensor 'w'", reason: "not a non-negative integer")
        try assertMalformed(file(#"{"w": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 4]}}"#, dataBytes: 4),
                            key: "tensor 'w'", reason: "overflows")
        try assertMalformed(file(#"{"w": {"dtype": "F32", "shape": [99999999999999999999], "data_offsets": [0, 4]}}"#, dataBytes: 4),
                            key: "tensor 'w'", reason: "not a non-negative integer")
        try assertMalformed(file(#"{"w": {"dtype": "F32", "shape": [1], "data_offsets": [0]}}"#, dataBytes: 4),
                            key: "tensor 'w'", reason: "must be [begin, end]")
        try assertMalformed(file(#"{"w": {"shape": [1], "data_offsets": [0, 4]}}"#, dataBytes: 4),
                            key: "tensor 'w'", reason: "'dtype'")
        try assertMalformed(file(#"{"w": [1, 2]}"#), key: "tensor 'w'", reason: "is an array, not an object")
        try assertMalformed(file(#"{"w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 0]}}"#, dataBytes: 4),
                            key: "tensor 'w'", reason: "end before they begin")
    }

    func testShapeTimesDTypeMustEqualTheByteLength() throws {
        try assertMalformed(file(#"{"w": {"dtype": "BF16", "shape": [2, 3], "data_offsets": [0, 24]}}"#, dataBytes: 24),
                            key: "tensor 'w'", reason: "hold 24 bytes but shape [2, 3] of BF16 needs 12")
    }

    func testOffsetsPastTheEndAndTruncatedData() throws {
        try assertMalformed(file(#"{"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}"#, dataBytes: 15),
                            key: "tensor 'w'", reason: "run past the end of the data section (15 bytes)")
        try assertMalformed(file(#"{"w": {"dtype": "U8", "shape": [4], "data_offsets": [9223372036854775800, 9223372036854775804]}}"#, dataBytes: 8),
                            key: "tensor 'w'", reason: "run past the end")
    }

    func testOverlappingOffsets() throws {
        let json = #"{"b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}, "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}"#
        try assertMalformed(file(json, dataBytes: 12), key: "tensor 'b'", reason: "overlap tensor 'a' [0, 8]")
        // Out of order in the header but disjoint: legal, listed in data order.
        let path = temporaryPath("reordered.safetensors")
        defer { unlink(path) }
        try AtomicFile.write(file(#"{"b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}, "a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}"#, dataBytes: 8), to: path)
        XCTAssertEqual(try SafetensorsFile(path: path).tensorNames, ["a", "b"])
    }

    func testMetadataMustBeAStringMap() throws {
        try assertMalformed(file(#"{"__metadata__": {"n": 3}}"#), key: "__metadata__.n", reason: "is a number, not a string")
        try assertMalformed(file(#"{"__metadata__": ["x"]}"#), key: "__metadata__", reason: "not an object")
    }

    func testTruncatedAnywhereFailsWithATypedError() throws {
        let path = temporaryPath("whole.safetensors")
        defer { unlink(path) }
        try SafetensorsWriter.write(tensors: [("a", .f32, [2], bytesOf([Float(1), 2])), ("b", .u8, [3], [1, 2, 3])],
                                    metadata: ["format": "pt"], to: path)
        let bytes = try Array(Data(contentsOf: URL(fileURLWithPath: path)))
        for length in 0..<bytes.count {
            try AtomicFile.write(Array(bytes[0..<length]), to: path)
            XCTAssertThrowsError(try SafetensorsFile(path: path), "length \(length)") { error in
                guard case .malformed(let file, _, _)? = error as? TensorKitError else { return XCTFail("\(error)") }
                XCTAssertEqual(file, path)
            }
        }
    }
}
