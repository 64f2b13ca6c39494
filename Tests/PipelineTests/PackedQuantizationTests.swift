import Foundation
import XCTest
import TestSupport
@testable import AbliterationPipeline
@testable import LanguageModels
import TensorKit

/// `--quantize` keeps the linear weights packed (`ModelWeights.quantize(_:as:)`). The forward pass must see
/// exactly what the dense round trip it replaced gave: dequantize(quantize(W)) of the flattened weight.
final class PackedQuantizationTests: XCTestCase {
    /// The former path: every block linear weight replaced by its round trip, dense f32.
    static func roundTripped(_ path: String, _ q: MeasurementQuantization) throws -> LanguageModel {
        let model = try LanguageModel.load(path: path)
        for name in model.weights.names where name.hasSuffix("_proj.weight") {
            let w = try model.weights.float32(name)  // (out, in)
            let values: [Float]
            switch q {
            case .none: continue
            case .q8_0: values = try Quantizer.q8_0RoundTrip(w.scalars)
            case .nf4: values = try Quantizer.fourBitRoundTrip(w.scalars, quantType: .nf4, blockSize: 64, doubleQuant: false)
            case .nf4DoubleQuant: values = try Quantizer.fourBitRoundTrip(w.scalars, quantType: .nf4, blockSize: 64, doubleQuant: true)
            case .fp4: values = try Quantizer.fourBitRoundTrip(w.scalars, quantType: .fp4, blockSize: 64, doubleQuant: false)
            case .fp4DoubleQuant: values = try Quantizer.fourBitRoundTrip(w.scalars, quantType: .fp4, blockSize: 64, doubleQuant: true)
            }
            try model.weights.replace(name, with: try Tensor(shape: w.shape, scalars: values))
        }
        return model
    }

    static func bits(_ values: [Float]) -> [UInt32] { values.map(\.bitPattern) }

    /// SmolLM2 for each quantization (plain FP4 differs from FP4-DQ only in its table, as NF4 from
    /// NF4-DQ, and is covered by `PackedWeightTests`): every packed weight widens to the round trip's values bit for bit,
    /// and the residuals of every layer and the logits are identical, for a prompt batch (sgemm path) and
    /// a 3-token one (the streamed decode path). Memory: the packed weights take a fraction of the dense.
    func testPackedWeightsGiveTheDenseRoundTripBitForBit() throws {
        let path = try TestModels.smolLM2()
        let batches: [[[Int]]] = [[Array(100..<121), [5, 6, 7, 8, 9, 10]], [[5, 6, 7]]]
        for q in [MeasurementQuantization.nf4, .nf4DoubleQuant, .fp4DoubleQuant, .q8_0] {
            let packed = try LanguageModel.load(path: path, prepareBase: { try q.apply(to: $0) })
            let dense = try Self.roundTripped(path, q)
            let c = packed.configuration
            var checked = 0
            for name in packed.weights.names where name.hasSuffix("_proj.weight") {
                if q == .q8_0 {
                    XCTAssertEqual(try packed.weights.storageType(of: name), .ggml(.q8_0), name)
                } else {
                    XCTAssertTrue(try packed.weights.isBitsAndBytes4Bit(name), name)
                }
                XCTAssertTrue(packed.weights.modifiedNames.contains(name))
                XCTAssertEqual(Self.bits(try packed.weights.float32(name).scalars), Self.bits(try dense.weights.float32(name).scalars),
                               "\(q.rawValue) \(name)")
                checked += 1
            }
            XCTAssertEqual(checked, c.layerCount * 7)
            XCTAssertEqual(try packed.weights.storageType(of: "model.embed_tokens.weight"),
                           try dense.weights.storageType(of: "model.embed_tokens.weight"))
            // 4-bit: ½ byte + 4/64 per value; Q8_0: 34/32 bytes; dense: 4.
            XCTAssertLessThan(Double(packed.weights.residentByteCount), 0.45 * Double(dense.weights.residentByteCount), q.rawValue)

            for batch in batches {
                let capture = ResidualCapture(points: (0...c.layerCount).map { .hiddenState($0) })
                let a = try packed.forward(batch: batch, capture: capture, logits: .lastToken)
                let b = try dense.forward(batch: batch, capture: capture, logits: .lastToken)
                XCTAssertEqual(Self.bits(try XCTUnwrap(a.logits).scalars), Self.bits(try XCTUnwrap(b.logits).scalars), q.rawValue)
                for l in 0...c.layerCount {
                    XCTAssertEqual(Self.bits(try XCTUnwrap(a.residuals[.hiddenState(l)]).scalars),
                                   Self.bits(try XCTUnwrap(b.residuals[.hiddenState(l)]).scalars), "\(q.rawValue) layer \(l)")
                }
            }
        }
    }
}
