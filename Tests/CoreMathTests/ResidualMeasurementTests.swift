import XCTest
import TestSupport
@testable import AbliterationCore

/// The generic measurement loop over a `ResidualSource` that is not this package's runtime.
final class ResidualMeasurementTests: XCTestCase {
    /// Residual at layer L of a sequence: a function of its tokens and L, so any batching gives the same rows.
    struct Table: ResidualSource {
        var hiddenSize = 3
        var layerCount = 2
        var poison: (sequence: [Int], layer: Int)?

        func vector(_ tokens: [Int], layer: Int) -> [Float] {
            let s = Float(tokens.reduce(0, +))
            return (0..<hiddenSize).map { i in s + Float(10 * layer + i) }
        }

        func lastTokenResiduals(of batch: [[Int]], layers: [Int]) throws -> [[Float]] {
            layers.map { layer in
                batch.flatMap { tokens -> [Float] in
                    if let p = poison, p.sequence == tokens, p.layer == layer { return vector(tokens, layer: layer).map { _ in .nan } }
                    return vector(tokens, layer: layer)
                }
            }
        }
    }

    func testMeansMatchDirectComputationWhateverTheBatching() throws {
        let source = Table()
        let harmful = [[1, 2], [3], [4, 5, 6]], harmless = [[7], [8, 9]]
        for batchSize in [1, 2, 32] {
            let (h, a) = try ResidualMeasurement.accumulate(
                source, harmful: harmful, harmless: harmless, winsorizeQuantile: 1, batchSize: batchSize)
            XCTAssertEqual(h.count, 3)
            XCTAssertEqual(a.count, 3)
            for layer in 0...2 {
                let expected = (0..<3).map { i in harmful.map { Double(source.vector($0, layer: layer)[i]) }.reduce(0, +) / 3 }
                XCTAssertEqual(h[layer].count, 3)
                for (x, y) in zip(h[layer].mean, expected) { XCTAssertEqual(x, y, accuracy: 1e-9) }
                XCTAssertEqual(a[layer].count, 2)
            }
        }
    }

    func testMeasureFillsMetadataFromTheSource() throws {
        var progress = [Int]()
        let m = try ResidualMeasurement.measure(
            Table(), harmful: [[1], [2]], harmless: [[3]],
            metadata: MeasurementMetadata(
                model: "elsewhere", adapter: nil, architecture: "any", hiddenSize: 0, layerCount: 0, harmfulCount: 0,
                harmlessCount: 0, winsorizeQuantile: 0.99, quantization: "none", chatTemplate: false, systemPrompt: nil),
            batchSize: 1, progress: { done, _ in progress.append(done) })
        XCTAssertEqual(m.metadata.hiddenSize, 3)
        XCTAssertEqual(m.metadata.layerCount, 2)
        XCTAssertEqual(m.metadata.harmfulCount, 2)
        XCTAssertEqual(m.metadata.harmlessCount, 1)
        XCTAssertEqual(m.metadata.model, "elsewhere")
        XCTAssertEqual(progress, [1, 2, 3])
    }

    func testErrorsNameTheProblem() {
        XCTAssertThrowsError(try ResidualMeasurement.accumulate(Table(), harmful: [], harmless: [[1]])) {
            XCTAssertEqual($0 as? AbliterationError, .invalidInput("measure: need at least one harmful and one harmless prompt (got 0, 1)"))
        }
        let poisoned = Table(poison: ([5], 1))
        XCTAssertThrowsError(try ResidualMeasurement.accumulate(
            poisoned, harmful: [[1]], harmless: [[2], [5]], describe: { label, i in "\(label) #\(i)" })) {
            XCTAssertEqual($0 as? AbliterationError,
                           .degenerate("measure: NaN or infinite activation at layer 1 for harmless prompt 1: harmless #1"))
        }
        struct Short: ResidualSource {
            let hiddenSize = 4, layerCount = 1
            func lastTokenResiduals(of batch: [[Int]], layers: [Int]) throws -> [[Float]] { layers.map { _ in [0] } }
        }
        XCTAssertThrowsError(try ResidualMeasurement.accumulate(Short(), harmful: [[1]], harmless: [[2]])) {
            guard case AbliterationError.dimensionMismatch(let m) = $0 else { return XCTFail("\($0)") }
            XCTAssertTrue(m.contains("expected 1 × 4"), m)
        }
    }
}
