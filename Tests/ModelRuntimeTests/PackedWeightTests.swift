import Foundation
import XCTest
import TestSupport
import TensorKit
@testable import LanguageModels

/// `ModelWeights.quantize(_:as:)`: a weight encoded by pieces of rows on several threads holds the
/// values of the whole-tensor round trip, whatever the rows' alignment to the blocks.
final class PackedWeightTests: XCTestCase {
    static func bits(_ values: [Float]) -> [UInt32] { values.map(\.bitPattern) }

    static let formats: [WeightQuantization] = [
        .fourBit(.nf4, blockSize: 64, doubleQuant: false), .fourBit(.nf4, blockSize: 64, doubleQuant: true),
        .fourBit(.fp4, blockSize: 64, doubleQuant: false), .fourBit(.fp4, blockSize: 64, doubleQuant: true), .q8_0,
    ]

    /// gate_proj (48, 32): a 64-value block spans two rows; down_proj (32, 48): blocks straddle rows
    /// and Q8_0 cannot be stored by rows (it keeps the dense round trip). Pieces of 4 rows make several per
    /// weight, on every worker.
    func testPiecesGiveTheWholeTensorRoundTrip() throws {
        let dir = try temporaryDirectory("packed")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try TinyModel.make(.llama).writeGGUF(to: dir + "/m.gguf")
        for name in ["model.layers.1.mlp.gate_proj.weight", "model.layers.1.mlp.down_proj.weight"] {
            for format in Self.formats {
                for pieceValues in [64, 1 << 20] {
                    let model = try LanguageModel.load(path: dir + "/m.gguf")
                    let w = try model.weights.float32(name)
                    let rowLength = w.shape[1]
                    try model.weights.quantize(name, as: format, pieceValues: pieceValues)
                    let expected: [Float]
                    switch format {
                    case let .fourBit(type, blockSize, doubleQuant):
                        expected = try Quantizer.fourBitRoundTrip(w.scalars, quantType: type, blockSize: blockSize, doubleQuant: doubleQuant)
                        XCTAssertTrue(try model.weights.isBitsAndBytes4Bit(name))
                    case .q8_0:
                        expected = try Quantizer.q8_0RoundTrip(w.scalars)
                        XCTAssertEqual(try model.weights.storageType(of: name), rowLength % 32 == 0 ? .ggml(.q8_0) : .dense(.f32))
                    }
                    let label = "\(format) \(name) pieces of \(pieceValues)"
                    XCTAssertTrue(model.weights.modifiedNames.contains(name), label)
                    XCTAssertEqual(Self.bits(try model.weights.float32(name).scalars), Self.bits(expected), label)
                    for rows in [1..<3, 5..<6] {
                        XCTAssertEqual(Self.bits(try model.weights.rowsFloat32(name, rows: rows).scalars),
                                       Self.bits(Array(expected[(rows.lowerBound * rowLength)..<(rows.upperBound * rowLength)])), label)
                    }
                }
            }
        }
    }

    /// Norms and vectors are refused, as is an odd 4-bit block size.
    func testOnlyLinearWeightsAreQuantized() throws {
        let dir = try temporaryDirectory("packed-refused")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try TinyModel.make(.llama).writeGGUF(to: dir + "/m.gguf")
        let model = try LanguageModel.load(path: dir + "/m.gguf")
        XCTAssertThrowsError(try model.weights.quantize("model.layers.0.input_layernorm.weight", as: .q8_0))
        XCTAssertThrowsError(try model.weights.quantize(
            "model.layers.0.mlp.up_proj.weight", as: .fourBit(.nf4, blockSize: 33, doubleQuant: false)))
    }
}
