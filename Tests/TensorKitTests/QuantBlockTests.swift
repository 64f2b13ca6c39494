import XCTest
import TestSupport
@testable import TensorKit

final class QuantBlockTests: XCTestCase {
    /// `sizeof(block_*)` in ggml-common.h (its static_asserts): each layout must match it and GGMLType.typeSize.
    func testBlockLayoutsMatchGGMLSizes() throws {
        let ggmlSizeof: [GGMLType: Int] = [
            .q4_0: 18, .q4_1: 20, .q5_0: 22, .q5_1: 24, .q8_0: 34, .q4_K: 144, .q5_K: 176, .q6_K: 210,
        ]
        XCTAssertEqual(Set(GGMLBlocks.supportedTypes), Set(ggmlSizeof.keys))
        for type in GGMLBlocks.supportedTypes {
            let layout = try XCTUnwrap(GGMLBlockLayout.of(type), "\(type.name)")
            XCTAssertEqual(layout.byteSize, ggmlSizeof[type], type.name)
            XCTAssertEqual(layout.byteSize, type.typeSize, type.name)
            XCTAssertEqual(layout.valueCount, type.blockSize, type.name)
            XCTAssertNotNil(GGMLBlocks.kernel(for: type), type.name)
            var end = 0
            for f in layout.fields {
                XCTAssertEqual(f.offset, end, "\(type.name).\(f.name) is not packed")
                end = f.offset + f.byteCount
            }
        }
        XCTAssertEqual(GGMLBlockLayout.q6_K.field("d")?.offset, 208)
        XCTAssertEqual(GGMLBlockLayout.q5_K.field("qs")?.offset, 48)
        XCTAssertNil(GGMLBlocks.kernel(for: .iq2_xxs))
    }

    /// get_scale_min_k4 on a hand-packed scales array: scales 0…7 = 1, 2, …, 8 + 50·(j ≥ 4), mins = 63 − j.
    func testScaleMinK4Unpacking() {
        let sc: [UInt8] = [1, 2, 3, 4, 55, 56, 57, 58]
        let mn: [UInt8] = [63, 62, 61, 60, 59, 58, 57, 56]
        var q = [UInt8](repeating: 0, count: 12)
        for j in 0..<4 {
            q[j] = sc[j] | ((sc[j + 4] >> 4) << 6)
            q[j + 4] = mn[j] | ((mn[j + 4] >> 4) << 6)
            q[j + 8] = (sc[j + 4] & 0xF) | ((mn[j + 4] & 0xF) << 4)
        }
        q.withUnsafeBufferPointer { p in
            for j in 0..<8 {
                let (s, m) = GGMLBlocks.scaleMinK4(j, p.baseAddress!)
                XCTAssertEqual(s, sc[j], "scale \(j)")
                XCTAssertEqual(m, mn[j], "min \(j)")
            }
        }
    }

    /// Random blocks of every type decode to gguf-py's values (bit-exact is expected; 1 ulp allowed).
    func testRandomBlocksMatchGGUFPy() throws {
        let fixture = try QuantFixtures.json("quant_blocks.json")
        let cases = try XCTUnwrap(fixture["blocks"] as? [[String: Any]])
        XCTAssertEqual(cases.count, GGMLBlocks.supportedTypes.count)
        for c in cases {
            let type = try XCTUnwrap(GGMLType(rawValue: UInt32(c["typeId"] as! Int)))
            let raw = QuantFixtures.bytes(c["bytes"])
            let expected = QuantFixtures.floats(c["values"])
            let blocks = c["blocks"] as! Int
            XCTAssertEqual(raw.count, blocks * type.typeSize, type.name)
            XCTAssertEqual(expected.count, blocks * type.blockSize, type.name)
            var out = [Float](repeating: .nan, count: expected.count)
            try raw.withUnsafeBytes { src in
                try out.withUnsafeMutableBufferPointer { dst in
                    try Dequantization.dequantize(
                        .ggml(type), source: src.baseAddress!, count: expected.count, into: dst.baseAddress!, tensor: type.name)
                }
            }
            assertWithinUlps(out, expected, type.name)
            XCTAssertEqual(zip(out, expected).filter { $0.0.bitPattern != $0.1.bitPattern }.count, 0, "\(type.name) not bit-exact")
        }
    }

    func testPartialBlockAndUnsupportedTypeAreErrors() {
        let raw = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 16)
        let out = UnsafeMutablePointer<Float>.allocate(capacity: 256)
        defer { raw.deallocate(); out.deallocate() }
        XCTAssertThrowsError(try Dequantization.dequantize(.ggml(.q4_0), source: raw, count: 31, into: out, tensor: "t")) {
            XCTAssertTrue("\($0)".contains("'t'"), "\($0)")
        }
        XCTAssertThrowsError(try Dequantization.dequantize(.ggml(.iq2_xxs), source: raw, count: 256, into: out, tensor: "t"))
    }

    /// Tensors of every quantized type in the two real GGUF models, read at the absolute offsets gguf-py's
    /// GGUFReader reported: the first values match exactly and the whole-tensor sums to 1e-6 relative.
    func testRealModelTensorsMatchGGUFPy() throws {
        let tensors = try QuantFixtures.jsonArray("quant_real_tensors.json")
        let paths = ["SmolLM2-135M-Instruct.Q4_1.gguf": try TestModels.smolLM2(),
                     "gemma-3-270m-q4_k_m.gguf": try TestModels.gemma3()]
        var typesSeen = Set<String>()
        for (fileName, path) in paths {
            let file = try MappedFile(path: path)
            for t in tensors where t["file"] as? String == fileName {
                let name = "\(fileName):\(t["name"]!)"
                let type = try XCTUnwrap(GGMLType(rawValue: UInt32(t["typeId"] as! Int)))
                let offset = t["offset"] as! Int
                let count = t["elements"] as! Int
                let byteCount = try XCTUnwrap(StorageType.ggml(type).byteCount(elements: count))
                XCTAssertLessThanOrEqual(offset + byteCount, file.bytes.count, name)
                var out = [Float](repeating: .nan, count: count)
                try out.withUnsafeMutableBufferPointer { dst in
                    try Dequantization.dequantize(
                        .ggml(type), source: file.bytes.baseAddress! + offset, count: count,
                        into: dst.baseAddress!, tensor: name)
                }
                let head = QuantFixtures.floats(t["head"])
                assertWithinUlps(Array(out.prefix(head.count)), head, name)
                var sum = 0.0, sumOfSquares = 0.0
                for v in out {
                    sum += Double(v)
                    sumOfSquares += Double(v) * Double(v)
                }
                let expectedSum = t["sum"] as! Double, expectedSquares = t["sumOfSquares"] as! Double
                XCTAssertEqual(sum, expectedSum, accuracy: 1e-6 * max(abs(expectedSum), 1e-30), "\(name) sum")
                XCTAssertEqual(sumOfSquares, expectedSquares, accuracy: 1e-6 * expectedSquares, "\(name) sum of squares")
                typesSeen.insert(type.name)
            }
        }
        XCTAssertEqual(typesSeen, ["Q4_1", "Q8_0", "Q5_0", "Q4_K", "Q6_K"])
    }
}
