import XCTest
import TestSupport
@testable import TensorKit

/// The GGUF encoders against reference bytes (Fixtures/quant_encode.json, Scripts/make-gguf-quantize-fixtures.py):
/// Q4_0…Q8_0 from gguf-py's `gguf.quants.quantize`, Q4_K/Q5_K/Q6_K from ggml's `quantize_row_*_ref`
/// compiled with `gcc -O2 -ffp-contract=off`.
final class GGMLQuantizerTests: XCTestCase {
    static let legacyTypes: [GGMLType] = [.q4_0, .q4_1, .q5_0, .q5_1, .q8_0]
    static let kTypes: [GGMLType] = [.q4_K, .q5_K, .q6_K]

    func cases() throws -> [(name: String, input: [Float], bytes: [String: [UInt8]])] {
        let fixture = try QuantFixtures.json("quant_encode.json")
        let cases = try XCTUnwrap(fixture["cases"] as? [[String: Any]])
        XCTAssertGreaterThanOrEqual(cases.count, 5)
        return try cases.map { c in
            let bytes = try XCTUnwrap(c["bytes"] as? [String: Any]).mapValues { QuantFixtures.bytes($0) }
            let input = QuantFixtures.floats(c["input"])
            XCTAssertEqual(input.count, 512)
            return (try XCTUnwrap(c["name"] as? String), input, bytes)
        }
    }

    func testLegacyEncodersMatchGGUFPy() throws {
        for c in try cases() {
            for type in Self.legacyTypes {
                let expected = try XCTUnwrap(c.bytes[type.name], "\(c.name) \(type.name)")
                XCTAssertEqual(try GGMLQuantizer.encode(c.input, as: type), expected, "\(c.name) \(type.name)")
            }
            // The older Q8_0 entry point is the same encoder.
            XCTAssertEqual(try Quantizer.q8_0(c.input), c.bytes["Q8_0"])
        }
    }

    func testKQuantEncodersMatchGGMLReference() throws {
        for c in try cases() {
            for type in Self.kTypes {
                let expected = try XCTUnwrap(c.bytes[type.name], "\(c.name) \(type.name): fixture lacks ggml reference bytes")
                let actual = try GGMLQuantizer.encode(c.input, as: type)
                XCTAssertEqual(actual.count, expected.count)
                let differing = zip(actual, expected).enumerated().filter { $0.element.0 != $0.element.1 }.map(\.offset)
                XCTAssertTrue(differing.isEmpty, "\(c.name) \(type.name): \(differing.count) bytes differ, first at \(differing.prefix(8))")
            }
        }
    }

    /// dequantize(encode(x)) stays within each type's error: RMS error / RMS(x) on Gaussian data below
    /// the bound for its bit width, and every value within half a step of its sub-block's scale
    /// (legacy types; for K-quants the fit trades the bound for a lower weighted error, so only the RMS is pinned).
    func testRoundTripError() throws {
        var rng = SeededGenerator(seed: 7)
        let n = 256 * 64
        let x = (0..<n).map { _ in Float(rng.normal() * 0.02) }
        let bounds: [GGMLType: Double] = [.q4_0: 0.13, .q4_1: 0.11, .q5_0: 0.065, .q5_1: 0.055, .q8_0: 0.006,
                                         .q4_K: 0.10, .q5_K: 0.05, .q6_K: 0.025, .f16: 1e-3, .bf16: 4e-3, .f32: 0]
        let rms = (x.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(n)).squareRoot()
        for (type, bound) in bounds.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            let encoded = try GGMLQuantizer.encode(x, as: type)
            XCTAssertEqual(encoded.count, StorageType.ggml(type).byteCount(elements: n))
            let y = try decode(encoded, type, n)
            let err = (zip(x, y).reduce(0.0) { $0 + pow(Double($1.0) - Double($1.1), 2) } / Double(n)).squareRoot()
            XCTAssertLessThanOrEqual(err / rms, bound, "\(type.name): relative RMS error \(err / rms)")
            if type == .f32 { XCTAssertEqual(x, y) }
        }
    }

    func testEncodeRefusesWhatItCannotWrite() {
        XCTAssertThrowsError(try GGMLQuantizer.encode([Float](repeating: 1, count: 33), as: .q4_0)) {
            XCTAssertTrue("\($0)".contains("multiple of the block size 32"), "\($0)")
        }
        var x = [Float](repeating: 1, count: 256)
        x[17] = .nan
        XCTAssertThrowsError(try GGMLQuantizer.encode(x, as: .q4_K, tensor: "blk.0.ffn_down.weight")) {
            XCTAssertTrue("\($0)".contains("blk.0.ffn_down.weight") && "\($0)".contains("value 17"), "\($0)")
        }
        XCTAssertThrowsError(try GGMLQuantizer.encode(x, as: .iq2_xs))
        XCTAssertEqual(try GGMLQuantizer.encode([Float](repeating: 0, count: 256), as: .q6_K), [UInt8](repeating: 0, count: 210))
    }

    func decode(_ bytes: [UInt8], _ type: GGMLType, _ n: Int) throws -> [Float] {
        var y = [Float](repeating: 0, count: n)
        try bytes.withUnsafeBytes { s in
            try y.withUnsafeMutableBufferPointer {
                try Dequantization.dequantize(.ggml(type), source: s.baseAddress!, count: n, into: $0.baseAddress!)
            }
        }
        return y
    }
}

