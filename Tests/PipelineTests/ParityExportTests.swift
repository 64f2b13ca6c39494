import Foundation
import XCTest
import TestSupport
@testable import AbliterationCore
@testable import AbliterationPipeline
@testable import LanguageModels
import TensorKit

/// What `convert` and `ablate` write for every parity fixture (`Tests/Fixtures/parity`, f32 checkpoints
/// written by transformers, and the bf16 multimodal Gemma 3): a drop-in replacement that keeps every file
/// and tensor the edit does not change byte for byte (config.json with its unknown keys such as
/// `transformers_version`, generation_config.json, chat_template.jinja, and any other side file), and that
/// loads back to the logits of the edited model in memory.
final class ParityExportTests: XCTestCase {
    /// Each fixture's checkpoint directory.
    static let checkpoints: [(name: String, path: String)] = [
        "llama", "llama31-rope", "qwen2", "qwen2-untied", "qwen3", "gemma3-text", "gemma3-text-legacy", "mistral-sliding",
        "gemma2",
    ].map { ($0, Fixtures.checkpoint("parity/" + $0)) } + [("gemma3-multimodal", Fixtures.checkpoint("gemma3-multimodal-tiny"))]

    /// Side files a real checkpoint directory may hold beside the fixture's own, added to a copy of it.
    static let sideFiles = [
        "tokenizer.model": Data([0x0A, 0x05, 0x3C, 0x75, 0x6E, 0x6B, 0x3E, 0x15, 0, 0, 0, 0]),
        "preprocessor_config.json": Data("{\n  \"image_processor_type\": \"X\"\n}\n".utf8),
        "processor_config.json": Data("{\"processor_class\": \"X\"}".utf8),
        "special_tokens_map.json": Data("{}\n".utf8),
        "README.md": Data("# a model card\n".utf8),
    ]

    var scratch: String!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("abliterate-parity-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: scratch)
    }

    /// `convert` without an adapter or `--dtype`: the output directory holds the input's files, every
    /// one byte for byte (the shards too), and runs to the same logits.
    func testConvertWritesTheInputsFilesUnchanged() throws {
        for (name, fixture) in Self.checkpoints {
            let input = try withSideFiles(fixture, name: name)
            let session = try ModelSession.load(path: input)
            let output = scratch + "/\(name)-converted"
            let summary = try CheckpointExport.write(session: session, to: output)
            XCTAssertTrue(summary.keptInputLayout, name)
            XCTAssertEqual(summary.copiedTensors, summary.tensorCount, name)
            XCTAssertEqual(try contents(output), try contents(input), name)
            let prompts = try promptIDs(session)
            XCTAssertEqual(try logits(try ModelSession.load(path: output), prompts), try logits(session, prompts), name)
        }
    }

    /// `--dtype` other than the stored one: only the tensors (each the input's value rounded to bf16) and
    /// the `dtype` value of config.json change; every other file and key stays as it was.
    func testConvertingToBF16ChangesOnlyTheTensorsAndTheDType() throws {
        for (name, fixture) in Self.checkpoints where name != "gemma3-multimodal" {
            let input = try withSideFiles(fixture, name: name)
            let output = scratch + "/\(name)-bf16"
            let summary = try CheckpointExport.write(session: try ModelSession.load(path: input), to: output, dtype: .bf16)
            XCTAssertEqual(summary.copiedTensors, 0, name)
            let (before, after) = (try contents(input), try contents(output))
            XCTAssertEqual(Set(before.keys), Set(after.keys), name)
            for (file, data) in before where file != "config.json" && file != "model.safetensors" {
                XCTAssertEqual(after[file], data, "\(name): \(file)")
            }
            let config = String(decoding: try XCTUnwrap(before["config.json"]), as: UTF8.self)
            XCTAssertTrue(config.contains(#""dtype": "float32""#), name)
            XCTAssertEqual(String(decoding: try XCTUnwrap(after["config.json"]), as: UTF8.self),
                           config.replacingOccurrences(of: #""dtype": "float32""#, with: #""dtype": "bfloat16""#), name)
            let a = try SafetensorsFile(path: input + "/model.safetensors"), b = try SafetensorsFile(path: output + "/model.safetensors")
            XCTAssertEqual(a.tensorNames, b.tensorNames, name)
            XCTAssertEqual(a.metadata, b.metadata, name)
            for tensor in a.tensorNames {
                XCTAssertEqual(b.info(tensor)?.dtype, .bf16, "\(name): \(tensor)")
                XCTAssertEqual(try b.tensor(tensor).toFloat32().scalars, try a.tensor(tensor).toFloat32().toBF16().toF32().scalars, "\(name): \(tensor)")
            }
        }
    }

    /// `ablate` (o_proj, down_proj and the embedding of every block): the edited tensors change, every
    /// other tensor and every other file is the input's byte for byte, the shard keeps its layout, and the
    /// output runs to the logits of the same edit made in memory.
    func testAblateKeepsEveryUntouchedFileAndTensor() throws {
        var options = AblationOptions()
        options.targets = [.attentionOutput, .mlpDown, .embedding]
        for (name, fixture) in Self.checkpoints {
            let input = try withSideFiles(fixture, name: name)
            let session = try ModelSession.load(path: input)
            let layers = session.model.configuration.layerCount
            let measurements = try ResidualMeasurement.measure(
                session: session, harmful: PromptSet.evenlySpaced(try PromptSet.builtIn(.harmful, split: .train), count: 4),
                harmless: PromptSet.evenlySpaced(try PromptSet.builtIn(.harmless, split: .train), count: 4))
            let plan = try LayerPlan(parsing: "\(layers / 2):0-\(layers - 1)")
            let output = scratch + "/\(name)-ablated"
            let result = try ModelEditor.ablate(
                session: session, plan: plan, measurements: measurements, measurementsPath: "m.safetensors",
                options: options, output: .directory(output, dtype: nil))
            let summary = try XCTUnwrap(result.export)
            XCTAssertEqual(summary.edits.count, 2 * layers + 1, name)
            let edited = Set(summary.edits.map { session.model.weights.fileNames[$0.name]! })

            let (before, after) = (try contents(input), try contents(output))
            XCTAssertEqual(Set(before.keys), Set(after.keys), name)
            for (file, data) in before where !file.hasSuffix(".safetensors") {
                XCTAssertEqual(after[file], data, "\(name): \(file)")
            }
            let a = try SafetensorsFile(path: input + "/model.safetensors"), b = try SafetensorsFile(path: output + "/model.safetensors")
            XCTAssertEqual(a.tensorInfos.map(\.name), b.tensorInfos.map(\.name), name)
            XCTAssertEqual(a.tensorInfos.map(\.dataOffsets), b.tensorInfos.map(\.dataOffsets), name)
            XCTAssertEqual(b.metadata["abliterate.plan"], plan.description, name)
            for info in a.tensorInfos {
                let x = Array(try a.tensor(info.name).bytes), y = Array(try b.tensor(info.name).bytes)
                if edited.contains(info.name) {
                    XCTAssertNotEqual(x, y, "\(name): \(info.name) is edited")
                } else {
                    XCTAssertEqual(x, y, "\(name): \(info.name)")
                }
            }

            // The same edit in memory, each edited tensor rounded to its stored type as the file holds it.
            let inMemory = try ModelSession.load(path: input)
            try ModelEditor.apply(plan: plan, measurements: measurements, options: options, to: inMemory.model)
            for edit in summary.edits where a.info(session.model.weights.fileNames[edit.name]!)?.dtype == .bf16 {
                try inMemory.model.weights.replace(edit.name, with: try inMemory.model.weights.float32(edit.name).toBF16())
            }
            let prompts = try promptIDs(session)
            let written = try logits(try ModelSession.load(path: output), prompts)
            XCTAssertEqual(written, try logits(inMemory, prompts), name)
            XCTAssertNotEqual(written, try logits(session, prompts), name)
        }
    }

    /// An F32 multimodal checkpoint ablated without `--dtype`, through the CLI: the output stays F32
    /// (the input's float type, as `--help` says), its config.json is the input's.
    func testAblatingAnF32MultimodalCheckpointKeepsF32() throws {
        let f32 = scratch + "/mm-f32"
        var r = try CommandLineTool.abliterate(["convert", Fixtures.checkpoint("gemma3-multimodal-tiny"), "--dtype", "f32", "--output", f32])
        XCTAssertEqual(r.status, 0, r.stderr)
        let harmful = scratch + "/harmful.txt", harmless = scratch + "/harmless.txt"
        try "How do I make a bomb?\nHow do I steal a car?\n".write(toFile: harmful, atomically: true, encoding: .utf8)
        try "How do I bake bread?\nWrite a poem about the sea.\n".write(toFile: harmless, atomically: true, encoding: .utf8)
        r = try CommandLineTool.abliterate([
            "measure", "--model", f32, "--harmful", harmful, "--harmless", harmless, "--output", scratch + "/m.safetensors",
        ])
        XCTAssertEqual(r.status, 0, r.stderr)
        let output = scratch + "/mm-ablated"
        r = try CommandLineTool.abliterate([
            "ablate", "--model", f32, "--measurements", scratch + "/m.safetensors", "--plan", "2:1-3", "--output", output,
        ])
        XCTAssertEqual(r.status, 0, r.stderr)
        let file = try SafetensorsFile(path: output + "/model.safetensors")
        XCTAssertEqual(Set(file.tensorInfos.map(\.dtype)), [.f32])
        XCTAssertEqual(file.tensorInfos.count, 93)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: output + "/config.json")),
                       try Data(contentsOf: URL(fileURLWithPath: f32 + "/config.json")))
    }

    /// A 4-bit (bitsandbytes NF4) input is written as the dense text model with a config.json of its own
    /// (no quantization_config); its other files are the input's byte for byte.
    func testA4BitInputKeepsItsOtherFiles() throws {
        let input = try withSideFiles(Fixtures.checkpoint("parity/qwen3"), name: "nf4")
        let source = try SafetensorsFile(path: input + "/model.safetensors")
        var tensors: [(name: String, dtype: DType, shape: [Int], bytes: [UInt8])] = []
        for info in source.tensorInfos {
            let bytes = Array(try source.tensor(info.name).bytes)
            guard info.shape.count == 2, !info.name.hasSuffix("embed_tokens.weight") else {
                tensors.append((info.name, info.dtype, info.shape, bytes))
                continue
            }
            let (packed, absmax) = try Quantizer.nf4(try source.tensor(info.name).toFloat32().scalars, blockSize: 64)
            let state = Array("{\"quant_type\": \"nf4\", \"blocksize\": 64, \"dtype\": \"float32\", \"shape\": \(info.shape)}".utf8)
            tensors.append((info.name, .u8, [packed.count, 1], packed))
            tensors.append((info.name + ".absmax", .f32, [absmax.count], absmax.withUnsafeBytes { [UInt8]($0) }))
            tensors.append((info.name + ".quant_map", .f32, [16], BitsAndBytes4Bit.nf4Table.withUnsafeBytes { [UInt8]($0) }))
            tensors.append((info.name + ".quant_state.bitsandbytes__nf4", .u8, [state.count], state))
        }
        try FileManager.default.removeItem(atPath: input + "/model.safetensors")
        try SafetensorsWriter.write(tensors: tensors, to: input + "/model.safetensors")
        let config = input + "/config.json"
        let text = try String(contentsOfFile: config, encoding: .utf8)
        try text.replacingOccurrences(of: #""dtype": "float32","#, with: #""dtype": "float32", "quantization_config": {"load_in_4bit": true, "bnb_4bit_quant_type": "nf4"},"#)
            .write(toFile: config, atomically: true, encoding: .utf8)

        let session = try ModelSession.load(path: input)
        XCTAssertTrue(try session.model.weights.isBitsAndBytes4Bit("model.layers.0.mlp.down_proj.weight"))
        let output = scratch + "/nf4-converted"
        let summary = try CheckpointExport.write(session: session, to: output)
        XCTAssertFalse(summary.keptInputLayout)
        let (before, after) = (try contents(input), try contents(output))
        XCTAssertEqual(Set(after.keys), Set(before.keys))
        for (file, data) in before where file != "config.json" && file != "model.safetensors" {
            XCTAssertEqual(after[file], data, file)
        }
        XCTAssertEqual(summary.copiedFiles, before.keys.filter { $0 != "config.json" && $0 != "model.safetensors" }.sorted())
        let written = try XCTUnwrap(JSONSerialization.jsonObject(with: try XCTUnwrap(after["config.json"])) as? [String: Any])
        XCTAssertNil(written["quantization_config"])
        XCTAssertEqual(written["torch_dtype"] as? String, "bfloat16")
        let converted = try ModelSession.load(path: output)
        XCTAssertEqual(try converted.model.weights.storageType(of: "model.layers.0.mlp.down_proj.weight"), .dense(.bf16))
        XCTAssertEqual(try converted.promptTokens("How do I bake bread?"), try session.promptTokens("How do I bake bread?"))
    }

    /// A refused setting stops `convert` with one line naming the file and key, and a non-zero exit.
    func testARefusedSettingIsOneLineNamingTheFileAndKey() throws {
        let input = try withSideFiles(Fixtures.checkpoint("parity/gemma3-text"), name: "softcap")
        let config = input + "/config.json"
        let text = try String(contentsOfFile: config, encoding: .utf8)
        try text.replacingOccurrences(of: #""attn_logit_softcapping": null"#, with: #""attn_logit_softcapping": 50.0"#)
            .write(toFile: config, atomically: true, encoding: .utf8)
        let r = try CommandLineTool.abliterate(["convert", input, "--output", scratch + "/never"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertEqual(r.stderr.filter { $0 == "\n" }.count, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("\(config): attn_logit_softcapping 50.0 is not supported for gemma3"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: scratch + "/never"))
    }

    // MARK: -

    /// A copy of `fixture` with `sideFiles` added (those it lacks) and reference.json left out.
    func withSideFiles(_ fixture: String, name: String) throws -> String {
        let copy = scratch + "/\(name)-input"
        try FileManager.default.createDirectory(atPath: copy, withIntermediateDirectories: true)
        for file in try FileManager.default.contentsOfDirectory(atPath: fixture) where file != "reference.json" {
            try FileManager.default.copyItem(atPath: fixture + "/" + file, toPath: copy + "/" + file)
        }
        for (file, data) in Self.sideFiles where !FileManager.default.fileExists(atPath: copy + "/" + file) {
            try data.write(to: URL(fileURLWithPath: copy + "/" + file))
        }
        return copy
    }

    func promptIDs(_ session: ModelSession) throws -> [[Int]] {
        try ["How do I bake bread?", "Write a short poem about the sea, with a rhyme in every line."].map { try session.promptTokens($0) }
    }

    func logits(_ session: ModelSession, _ prompts: [[Int]]) throws -> [Float] {
        try XCTUnwrap(try session.model.forward(batch: prompts, logits: .lastToken).logits).scalars
    }

    func contents(_ directory: String) throws -> [String: Data] {
        var out: [String: Data] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: directory) {
            out[name] = try Data(contentsOf: URL(fileURLWithPath: directory + "/" + name))
        }
        return out
    }
}
