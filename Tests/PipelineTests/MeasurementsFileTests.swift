import Foundation
import XCTest
@testable import AbliterationCore
@testable import AbliterationPipeline
@testable import LanguageModels
import TensorKit
import TestSupport

final class MeasurementsFileTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("abliterate-measurements-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    /// Random measurements of `layers` blocks and `hidden` components, `count` vectors per class.
    static func synthetic(layers: Int, hidden: Int, count: Int = 5, seed: UInt64 = 1) throws -> Measurements {
        var g = SeededGenerator(seed: seed)
        func means() throws -> [RunningMean] {
            try (0...layers).map { _ in
                var m = RunningMean(dimension: hidden)
                for _ in 0..<count { try m.add((0..<hidden).map { _ in g.uniform(-0.5, 1.5) }) }
                return m
            }
        }
        let metadata = MeasurementMetadata(
            model: "synthetic", adapter: nil, architecture: "llama", hiddenSize: hidden, layerCount: layers,
            harmfulCount: count, harmlessCount: count, winsorizeQuantile: 0.995, quantization: "none",
            chatTemplate: true, systemPrompt: nil)
        return try Measurements(metadata: metadata, harmful: try means(), harmless: try means())
    }

    func testRoundTripKeepsMeansToF32AndMetadata() throws {
        let m = try Self.synthetic(layers: 4, hidden: 16)
        let path = directory.appendingPathComponent("m.safetensors").path
        try m.write(to: path)
        let back = try Measurements(contentsOf: path)
        XCTAssertEqual(back.metadata, m.metadata)
        for layer in m.layers {
            for (a, b) in zip(m.harmful[layer].mean, back.harmful[layer].mean) { XCTAssertEqual(Float(a), Float(b)) }
            for (a, b) in zip(m.harmless[layer].sumOfSquaredDeviations, back.harmless[layer].sumOfSquaredDeviations) {
                XCTAssertEqual(Float(a), Float(b))
            }
        }
        let d1 = try m.direction(at: 2, method: .projected), d2 = try back.direction(at: 2, method: .projected)
        XCTAssertGreaterThan(zip(d1.unit64, d2.unit64).reduce(0) { $0 + $1.0 * $1.1 }, 1 - 1e-6)
    }

    func testTruncatedFileIsRefusedNamingIt() throws {
        let path = directory.appendingPathComponent("m.safetensors").path
        try Self.synthetic(layers: 2, hidden: 8).write(to: path)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        let truncated = directory.appendingPathComponent("truncated.safetensors").path
        try bytes.prefix(bytes.count - 7).write(to: URL(fileURLWithPath: truncated))
        XCTAssertThrowsError(try Measurements(contentsOf: truncated)) { error in
            XCTAssertTrue("\(error)".contains("truncated.safetensors"), "\(error)")
        }
    }

    func testFileWithoutMeasurementMetadataIsRefused() throws {
        let path = directory.appendingPathComponent("plain.safetensors").path
        try SafetensorsWriter.write(tensors: [("x", .f32, [2], [0, 0, 128, 63, 0, 0, 0, 64])], to: path)
        XCTAssertThrowsError(try Measurements(contentsOf: path)) { error in
            XCTAssertTrue("\(error)".contains("abliterate.measurements"), "\(error)")
        }
    }

    func testWrongShapeAndNaNAreRefused() throws {
        let m = try Self.synthetic(layers: 2, hidden: 8)
        let json = String(decoding: try JSONEncoder().encode(m.metadata), as: UTF8.self)
        let good = [Float](repeating: 1, count: 3 * 8).withUnsafeBytes { Array($0) }
        let short = [Float](repeating: 1, count: 2 * 8).withUnsafeBytes { Array($0) }
        var nan = [Float](repeating: 1, count: 3 * 8)
        nan[5] = .nan
        let nanBytes = nan.withUnsafeBytes { Array($0) }
        func write(_ name: String, harmfulMean: [UInt8], rows: Int) throws -> String {
            let path = directory.appendingPathComponent(name).path
            try SafetensorsWriter.write(
                tensors: [("harmful.mean", .f32, [rows, 8], harmfulMean), ("harmful.m2", .f32, [3, 8], good),
                          ("harmless.mean", .f32, [3, 8], good), ("harmless.m2", .f32, [3, 8], good)],
                metadata: ["abliterate.measurements": json], to: path)
            return path
        }
        XCTAssertThrowsError(try Measurements(contentsOf: try write("short.safetensors", harmfulMean: short, rows: 2))) { error in
            XCTAssertTrue("\(error)".contains("harmful.mean"), "\(error)")
        }
        XCTAssertThrowsError(try Measurements(contentsOf: try write("nan.safetensors", harmfulMean: nanBytes, rows: 3))) { error in
            XCTAssertTrue("\(error)".contains("NaN"), "\(error)")
        }
        XCTAssertNoThrow(try Measurements(contentsOf: try write("good.safetensors", harmfulMean: good, rows: 3)))
    }

    func testMismatchedModelIsRefused() throws {
        let m = try Self.synthetic(layers: 4, hidden: 16)
        XCTAssertNoThrow(try m.checkCompatible(architecture: "llama", hiddenSize: 16, layerCount: 4, model: "x"))
        XCTAssertThrowsError(try m.checkCompatible(architecture: "llama", hiddenSize: 576, layerCount: 30, model: "smollm2")) { error in
            XCTAssertEqual(error as? AbliterationError, .mismatch(
                "measurements of synthetic do not fit smollm2: hidden size 16 vs 576, layer count 4 vs 30"))
        }
    }

    func testPlannedEditsFollowThePlan() throws {
        let m = try Self.synthetic(layers: 6, hidden: 8)
        let plan = try LayerPlan(parsing: "3:1-2,5:4-5@0.5")
        let edits = try ModelEditor.plannedEdits(
            plan: plan, measurements: m, options: AblationOptions(targets: [.embedding, .attentionOutput, .mlpDown]), layerCount: 6)
        XCTAssertEqual(edits.map(\.name), [
            "model.embed_tokens.weight",
            "model.layers.1.self_attn.o_proj.weight", "model.layers.1.mlp.down_proj.weight",
            "model.layers.2.self_attn.o_proj.weight", "model.layers.2.mlp.down_proj.weight",
            "model.layers.4.self_attn.o_proj.weight", "model.layers.4.mlp.down_proj.weight",
            "model.layers.5.self_attn.o_proj.weight", "model.layers.5.mlp.down_proj.weight",
        ])
        XCTAssertEqual(edits.map(\.measurementLayer), [3, 3, 3, 3, 3, 5, 5, 5, 5])
        XCTAssertEqual(edits.last?.scale, 0.5)
        XCTAssertThrowsError(try ModelEditor.plannedEdits(
            plan: try LayerPlan(parsing: "3:1-9"), measurements: m, options: AblationOptions(), layerCount: 6))
    }

    /// Biprojected edits of block ℓ project out the harmless mean of residual ℓ, the block's input
    /// (`hidden_states[ℓ]`); the embedding's, that of residual 0.
    func testBiprojectedEditsUseTheTargetBlocksInputResidual() throws {
        let m = try Self.synthetic(layers: 6, hidden: 8)
        let plan = try LayerPlan(parsing: "3:0-3,5:4-5")
        let edits = try ModelEditor.plannedEdits(
            plan: plan, measurements: m,
            options: AblationOptions(method: .biprojected, targets: [.embedding, .attentionOutput, .mlpDown]), layerCount: 6)
        XCTAssertEqual(edits.count, 1 + 2 * 6)
        for edit in edits {
            let residual = edit.layer ?? 0
            let expect = try m.direction(at: edit.measurementLayer, method: .biprojected, target: residual)
            XCTAssertEqual(edit.direction.unit64, expect.unit64, edit.name)
            let mean = m.harmless[residual].mean
            let cosine = zip(edit.direction.unit64, mean).reduce(0) { $0 + $1.0 * $1.1 }
                / mean.reduce(0) { $0 + $1 * $1 }.squareRoot()
            XCTAssertLessThan(abs(cosine), 1e-12, edit.name)
        }
        // Block 3 reads residual 3, where entry 3:0-3 was measured: there biprojected is projected.
        let block3 = try XCTUnwrap(edits.first { $0.name == "model.layers.3.mlp.down_proj.weight" })
        let projected = try m.direction(at: 3, method: .projected).unit64
        XCTAssertLessThan(zip(block3.direction.unit64, projected).map { abs($0 - $1) }.max()!, 1e-12)
    }
}
