import Foundation
import XCTest
import TestSupport
@testable import AbliterationCore
@testable import AbliterationPipeline
@testable import LanguageModels
import TensorKit

/// A multimodal Gemma 3 checkpoint (`Gemma3ForConditionalGeneration`: `language_model.model.…` text
/// tensors, a SigLIP vision tower, the projector, processor files) is loaded as its text model, and an
/// ablation of it is written as a drop-in replacement: same files, names, shards and order, every tensor
/// but the edited ones byte for byte. Fixtures: `Tests/Fixtures/gemma3-multimodal-tiny{,-sharded}`
/// (Scripts/make-gemma3-multimodal-fixture.py), a few hundred KB each; every test runs in seconds.
final class MultimodalExportTests: XCTestCase {
    static let single = Fixtures.checkpoint("gemma3-multimodal-tiny")
    static let sharded = Fixtures.checkpoint("gemma3-multimodal-tiny-sharded")

    var scratch: String!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("abliterate-mm-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: scratch)
    }

    func testTheTextModelOfAMultimodalCheckpointLoadsWithItsTokenizer() throws {
        for fixture in [Self.single, Self.sharded] {
            let session = try ModelSession.load(path: fixture)
            let c = session.model.configuration
            XCTAssertEqual(c.architecture, .gemma3)
            XCTAssertEqual([c.layerCount, c.hiddenSize, c.vocabSize], [4, 64, 640])
            XCTAssertTrue(c.tieWordEmbeddings)
            XCTAssertEqual(c.layerSpans, [.sliding, .full, .sliding, .full])
            XCTAssertEqual(session.model.weights.fileNames["model.layers.3.mlp.down_proj.weight"],
                           "language_model.model.layers.3.mlp.down_proj.weight")
            XCTAssertFalse(session.model.weights.names.contains { $0.contains("vision") })
            // transformers' ids for the same chat (apply_chat_template, add_generation_prompt=True).
            XCTAssertEqual(try session.promptTokens("How do I bake bread?"),
                           [2, 5, 379, 20, 277, 306, 314, 318, 295, 326, 278, 318, 293, 448, 293, 525, 73, 6, 20, 5, 400, 20])
            XCTAssertEqual(session.stopTokens, [1, 6])  // <eos>, <end_of_turn>
            let logProbabilities = try session.model.lastTokenLogProbabilities(batch: [try session.promptTokens("Hi")])
            XCTAssertTrue(logProbabilities.scalars.allSatisfy(\.isFinite))
        }
    }

    func testAblatingTheMultimodalCheckpointWritesADropInReplacement() throws {
        try assertAblationIsADropInReplacement(of: Self.single, shards: ["model.safetensors"])
    }

    func testAblatingTheShardedMultimodalCheckpointWritesADropInReplacement() throws {
        try assertAblationIsADropInReplacement(
            of: Self.sharded,
            shards: ["model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors", "model-00003-of-00003.safetensors"])
    }

    /// `--dtype` other than the input's: every float tensor converted, names, shards and order kept; the
    /// index's total_size and config.json's dtype follow, nothing else in them changes.
    func testConvertingTheShardedCheckpointToF32KeepsItsLayout() throws {
        let session = try ModelSession.load(path: Self.sharded)
        let output = scratch + "/f32"
        let summary = try CheckpointExport.write(session: session, to: output, dtype: .f32)
        XCTAssertTrue(summary.keptInputLayout)
        XCTAssertEqual(summary.copiedTensors, 0)
        XCTAssertEqual(summary.convertedTensors, 93)
        XCTAssertEqual(try files(output), try files(Self.sharded))

        let config = try String(contentsOfFile: output + "/config.json", encoding: .utf8)
        let original = try String(contentsOfFile: Self.sharded + "/config.json", encoding: .utf8)
        XCTAssertTrue(config.contains(#""dtype": "float32""#), config)
        XCTAssertEqual(config.replacingOccurrences(of: "float32", with: "bfloat16"), original)
        let index = try String(contentsOfFile: output + "/model.safetensors.index.json", encoding: .utf8)
        let originalIndex = try String(contentsOfFile: Self.sharded + "/model.safetensors.index.json", encoding: .utf8)
        XCTAssertEqual(index.replacingOccurrences(of: #""total_size": 911872"#, with: #""total_size": 455936"#), originalIndex)
        XCTAssertEqual(summary.totalBytes, 911_872)
        for name in ["tokenizer.json", "tokenizer_config.json", "processor_config.json", "preprocessor_config.json",
                     "chat_template.jinja", "generation_config.json"] {
            XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: output + "/" + name)),
                           try Data(contentsOf: URL(fileURLWithPath: Self.sharded + "/" + name)), name)
        }
        for shard in ["model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors", "model-00003-of-00003.safetensors"] {
            let a = try SafetensorsFile(path: Self.sharded + "/" + shard), b = try SafetensorsFile(path: output + "/" + shard)
            XCTAssertEqual(a.tensorNames, b.tensorNames, shard)
            for name in a.tensorNames {
                XCTAssertEqual(b.info(name)?.dtype, .f32, name)
                XCTAssertEqual(try b.tensor(name).toFloat32().scalars, try a.tensor(name).toFloat32().scalars, name)
            }
        }
        let converted = try ModelSession.load(path: output)
        let prompt = try session.promptTokens("Hi")
        let a = try session.model.lastTokenLogProbabilities(batch: [prompt]).scalars
        let b = try converted.model.lastTokenLogProbabilities(batch: [prompt]).scalars
        XCTAssertLessThan(zip(a, b).map { abs($0 - $1) }.max() ?? 1, 1e-4, "the same weights, widened exactly")
    }

    /// transformers' own names (`model.language_model.…`, `model.vision_tower.…`, `lm_head.weight` saved
    /// beside a tied embedding) load and are written back as they were; the head follows the edited
    /// embedding.
    func testTransformersModelPrefixesAndATiedHeadAreKept() throws {
        let input = scratch + "/renamed"
        try FileManager.default.createDirectory(atPath: input, withIntermediateDirectories: true)
        for name in try files(Self.single) where name != "model.safetensors" {
            try FileManager.default.copyItem(atPath: Self.single + "/" + name, toPath: input + "/" + name)
        }
        let source = try SafetensorsFile(path: Self.single + "/model.safetensors")
        func renamed(_ raw: String) -> String {
            raw.hasPrefix("language_model.model.") ? "model.language_model." + raw.dropFirst("language_model.model.".count) : "model." + raw
        }
        let embedding = source.tensorInfos.first { $0.name.hasSuffix("embed_tokens.weight") }!
        let infos = source.tensorInfos + [embedding]
        let names = source.tensorInfos.map { renamed($0.name) } + ["lm_head.weight"]
        let writer = try SafetensorsWriter(
            path: input + "/model.safetensors", tensors: zip(names, infos).map { .init(name: $0, dtype: $1.dtype, shape: $1.shape) },
            metadata: source.metadata, keepingOrder: true)
        for (name, info) in zip(names, infos) { try writer.write(name, bytes: try source.tensor(info.name).bytes) }
        try writer.finish()

        let session = try ModelSession.load(path: input)
        XCTAssertEqual(session.model.weights.fileNames["model.embed_tokens.weight"], "model.language_model.embed_tokens.weight")
        let measurements = try ResidualMeasurement.measure(
            session: session, harmful: PromptSet.evenlySpaced(try PromptSet.builtIn(.harmful, split: .train), count: 4),
            harmless: PromptSet.evenlySpaced(try PromptSet.builtIn(.harmless, split: .train), count: 4))
        var options = AblationOptions()
        options.targets = [.embedding]
        let edits = try ModelEditor.plannedEdits(plan: try LayerPlan(parsing: "2:1-3"), measurements: measurements, options: options, layerCount: 4)
        XCTAssertEqual(edits.map(\.name), ["model.embed_tokens.weight"])
        let output = scratch + "/out"
        let summary = try CheckpointExport.write(session: session, to: output, edits: edits)
        XCTAssertEqual(summary.edits.count, 1)
        XCTAssertEqual(summary.copiedTensors, 93 - 1)
        let a = try SafetensorsFile(path: input + "/model.safetensors"), b = try SafetensorsFile(path: output + "/model.safetensors")
        XCTAssertEqual(b.tensorNames, names)
        for name in names where !name.hasSuffix("embed_tokens.weight") && name != "lm_head.weight" {
            XCTAssertEqual(Array(try a.tensor(name).bytes), Array(try b.tensor(name).bytes), name)
        }
        let editedEmbedding = Array(try b.tensor("model.language_model.embed_tokens.weight").bytes)
        XCTAssertNotEqual(editedEmbedding, Array(try a.tensor("lm_head.weight").bytes))
        XCTAssertEqual(Array(try b.tensor("lm_head.weight").bytes), editedEmbedding, "the tied head follows the embedding")
    }

    // MARK: -

    /// Measures a few prompts on `input`, ablates layers 1-3 with the direction of layer 2 and checks the
    /// output against the input file by file and tensor by tensor.
    func assertAblationIsADropInReplacement(of input: String, shards: [String]) throws {
        let inputBefore = try contents(input)
        let session = try ModelSession.load(path: input)
        let measurements = try ResidualMeasurement.measure(
            session: session, harmful: PromptSet.evenlySpaced(try PromptSet.builtIn(.harmful, split: .train), count: 8),
            harmless: PromptSet.evenlySpaced(try PromptSet.builtIn(.harmless, split: .train), count: 8))
        let plan = try LayerPlan(parsing: "2:1-3")
        let output = scratch + "/abliterated"
        let result = try ModelEditor.ablate(
            session: session, plan: plan, measurements: measurements, measurementsPath: "m.safetensors",
            options: AblationOptions(), output: .directory(output, dtype: nil))
        let edits = try ModelEditor.plannedEdits(plan: plan, measurements: measurements, options: AblationOptions(), model: session.model)
        XCTAssertEqual(edits.count, 6)
        let summary = try XCTUnwrap(result.export)
        XCTAssertTrue(summary.keptInputLayout)
        XCTAssertEqual(summary.edits.count, 6)
        XCTAssertEqual(summary.tensorCount, 93)
        XCTAssertEqual(summary.copiedTensors, 93 - 6)
        XCTAssertEqual(summary.shardFiles, shards)
        XCTAssertEqual(summary.skippedFiles, [])

        // The same files; every one but the shards byte for byte (config.json, index, tokenizer, processor).
        XCTAssertEqual(try files(output), try files(input))
        let outputContents = try contents(output)
        for (name, data) in inputBefore where !shards.contains(name) {
            XCTAssertEqual(outputContents[name], data, name)
        }
        XCTAssertEqual(summary.copiedFiles, try files(input).filter { !shards.contains($0) })

        // Same shards, same tensors in the same order; untouched tensors (vision included) byte for byte.
        let edited = Dictionary(uniqueKeysWithValues: edits.map { (try! XCTUnwrap(session.model.weights.fileNames[$0.name]), $0) })
        XCTAssertEqual(Set(edited.keys), Set((1...3).flatMap {
            ["language_model.model.layers.\($0).mlp.down_proj.weight", "language_model.model.layers.\($0).self_attn.o_proj.weight"]
        }))
        var vision = 0
        for shard in shards {
            let a = try SafetensorsFile(path: input + "/" + shard), b = try SafetensorsFile(path: output + "/" + shard)
            XCTAssertEqual(a.tensorInfos.map(\.name), b.tensorInfos.map(\.name), shard)
            XCTAssertEqual(a.tensorInfos.map(\.dataOffsets), b.tensorInfos.map(\.dataOffsets), shard)
            XCTAssertEqual(b.metadata["abliterate.plan"], "2:1-3")
            XCTAssertEqual(b.metadata["format"], "pt")
            for info in a.tensorInfos {
                let x = try a.tensor(info.name), y = try b.tensor(info.name)
                XCTAssertEqual(x.type, y.type, info.name)
                XCTAssertEqual(x.shape, y.shape, info.name)
                if info.name.hasPrefix("vision_tower.") || info.name.hasPrefix("multi_modal_projector.") { vision += 1 }
                guard let edit = edited[info.name] else {
                    XCTAssertEqual(Array(x.bytes), Array(y.bytes), info.name)
                    continue
                }
                XCTAssertNotEqual(Array(x.bytes), Array(y.bytes), info.name)
                // Gemma 3 post-norms its block outputs, so the edit is norm-aware: W′ = W − u(uᵀW) with
                // u = normalize(g ⊙ r̂); uᵀW′ is bf16 rounding noise next to uᵀW.
                XCTAssertNotNil(edit.outputGain, info.name)
                let r = try edit.editDirection().map(Float.init)
                let after = try Tensor.matvec(try y.toFloat32(), r, transpose: true)
                let before = try Tensor.matvec(try x.toFloat32(), r, transpose: true)
                let norm = { (v: [Float]) in v.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot() }
                XCTAssertEqual(edit.scale, 1)
                XCTAssertLessThan(norm(after), norm(before) * 0.02, info.name)
            }
        }
        XCTAssertEqual(vision, 39, "the vision tower and projector are in the output")

        // The output loads and runs, and answers differently from the input.
        let abliterated = try ModelSession.load(path: output)
        let prompt = try session.promptTokens("How do I bake bread?")
        let a = try session.model.lastTokenLogProbabilities(batch: [prompt]).scalars
        let b = try abliterated.model.lastTokenLogProbabilities(batch: [prompt]).scalars
        XCTAssertTrue(b.allSatisfy(\.isFinite))
        XCTAssertNotEqual(a, b)
        XCTAssertEqual(try contents(input), inputBefore, "the input directory must not change")
        XCTAssertThrowsError(try CheckpointExport.write(session: session, to: output)) { error in
            XCTAssertTrue("\(error)".contains("already exists"), "\(error)")
        }
    }

    func files(_ directory: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
    }

    func contents(_ directory: String) throws -> [String: Data] {
        var out: [String: Data] = [:]
        for name in try files(directory) { out[name] = try Data(contentsOf: URL(fileURLWithPath: directory + "/" + name)) }
        return out
    }
}
