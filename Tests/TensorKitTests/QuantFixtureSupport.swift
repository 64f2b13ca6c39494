import Foundation
import XCTest
import TestSupport

/// Reading the quantization fixtures written by Scripts/make-quant-fixtures.py.
enum QuantFixtures {
    static func url(_ name: String) -> URL {
        Fixtures.repositoryRoot.appendingPathComponent("Tests/TensorKitTests/Fixtures").appendingPathComponent(name)
    }

    /// The parsed JSON object of fixture `name`.
    static func json(_ name: String) throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: url(name)))
        guard let dict = object as? [String: Any] else { throw XCTSkip("fixture \(name) is not a JSON object") }
        return dict
    }

    /// The parsed JSON array of fixture `name`.
    static func jsonArray(_ name: String) throws -> [[String: Any]] {
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: url(name)))
        guard let array = object as? [[String: Any]] else { throw XCTSkip("fixture \(name) is not a JSON array") }
        return array
    }

    static func bytes(_ base64: Any?) -> [UInt8] {
        guard let s = base64 as? String, let data = Data(base64Encoded: s) else { return [] }
        return [UInt8](data)
    }

    /// Little-endian f32 values from base64.
    static func floats(_ base64: Any?) -> [Float] {
        let b = bytes(base64)
        return stride(from: 0, to: b.count - 3, by: 4).map { i in
            Float(bitPattern: UInt32(b[i]) | UInt32(b[i + 1]) << 8 | UInt32(b[i + 2]) << 16 | UInt32(b[i + 3]) << 24)
        }
    }
}

/// Distance in units in the last place between two finite floats (0 when bit-identical or ±0).
func ulpDistance(_ a: Float, _ b: Float) -> UInt32 {
    func ordered(_ x: Float) -> Int64 {
        let bits = Int64(x.bitPattern & 0x7FFF_FFFF)
        return x.sign == .minus ? -bits : bits
    }
    return UInt32(clamping: abs(ordered(a) - ordered(b)))
}

/// Asserts every value is within `maxUlps` of the expected one; reports the first mismatches.
func assertWithinUlps(
    _ actual: [Float], _ expected: [Float], maxUlps: UInt32 = 1, _ what: String,
    file: StaticString = #filePath, line: UInt = #line
) {
    XCTAssertEqual(actual.count, expected.count, "\(what): count", file: file, line: line)
    var failures = 0
    for i in 0..<min(actual.count, expected.count) where ulpDistance(actual[i], expected[i]) > maxUlps {
        failures += 1
        if failures <= 5 {
            XCTFail("\(what)[\(i)]: \(actual[i]) != expected \(expected[i])", file: file, line: line)
        }
    }
    if failures > 5 { XCTFail("\(what): \(failures) values off by more than \(maxUlps) ulp", file: file, line: line) }
}
