import Foundation
import XCTest
import TestSupport
@testable import AbliterationCore
@testable import AbliterationPipeline
@testable import LanguageModels
import TensorKit

/// GGUF output (`GGUFExport`, `ablate`/`convert` to a .gguf path) on the real models.
final class GGUFExportTests: XCTestCase {
    /// Measurements on 16 + 16 built-in training prompts, per model, taken once.
    nonisolated(unsafe) static var measured: [String: Measurements] = [:]

    static func measurements(_ session: ModelSession) throws -> Measurements {
        if let m = measured[session.path] { return m }
        let m = try ResidualMeasurement.measure(
            session: session, harmful: PromptSet.evenlySpaced(try PromptSet.builtIn(.harmful, split: .train), count: 16),
            harmless: PromptSet.evenlySpaced(try PromptSet.builtIn(.harmless, split: .train), count: 16))
        measured[session.path] = m
        return m
    }

    func temporaryDirectory() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("abliterate-gguf-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir
    }

    /// The file's metadata: the source's entries byte for byte and in order, then the provenance keys.
    func assertMetadataKept(_ source: GGUFFile, _ written: GGUFFile, file: StaticString = #filePath, line: UInt = #line) throws {
        let sourceKeys = source.metadataKeys
        XCTAssertEqual(Array(written.metadataKeys.prefix(sourceKeys.count)), sourceKeys, file: file, line: line)
        let added = Array(written.metadataKeys.dropFirst(sourceKeys.count))
        XCTAssertEqual(added, added.sorted(), file: file, line: line)
        XCTAssertTrue(added.allSatisfy { $0.hasPrefix("abliterate.") }, "\(added)", file: file, line: line)
        XCTAssertTrue(Set(GGUFExport.provenanceKeys).isSubset(of: Set(added)), "\(added)", file: file, line: line)
        for i in sourceKeys.indices {
            XCTAssertEqual(Array(written.mappedFile.bytes[written.metadataEntryRanges[i]]),
                           Array(source.mappedFile.bytes[source.metadataEntryRanges[i]]), sourceKeys[i], file: file, line: line)
        }
        XCTAssertEqual(written.alignment, source.alignment, file: file, line: line)
    }

    /// ‖uᵀW‖ for a `[out, in]` matrix and unit `u` of length `out`.
    func projection(_ w: Tensor<Float>, _ u: [Float]) throws -> Double {
        try Tensor.matvec(w, u, transpose: true).reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
    }

    func distance(_ a: Tensor<Float>, _ b: Tensor<Float>) -> Double {
        zip(a.scalars, b.scalars).reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) }.squareRoot()
    }

    /// Largest |a − b| over the next-token log-probabilities of a few prompts, and the mean KL(a ‖ b).
    func logProbabilityGap(_ a: ModelSession, _ b: ModelSession) throws -> (maxAbs: Float, meanKL: Double) {
        let prompts = try ["Write a haiku about the sea.", "What is 12 times 7?", "Name three colours."].map { try a.promptTokens($0) }
        let p = try a.model.lastTokenLogProbabilities(batch: prompts), q = try b.model.lastTokenLogProbabilities(batch: prompts)
        let v = a.model.configuration.vocabSize
        var maxAbs: Float = 0, kl = 0.0
        for r in prompts.indices {
            for i in (r * v)..<((r + 1) * v) {
                maxAbs = max(maxAbs, abs(p.scalars[i] - q.scalars[i]))
                kl += Double(exp(p.scalars[i])) * Double(p.scalars[i] - q.scalars[i])
            }
        }
        return (maxAbs, kl / Double(prompts.count))
    }

    /// `ablate` of SmolLM2 (Q4_1) to GGUF: metadata and the 238 untouched tensors byte-identical, directory
    /// identical (names, dims, types, offsets), the 34 edited tensors Q4_1 and, dequantized, left with a
    /// projection on the edit direction no larger than their re-quantization error; the file loads and
    /// runs close to the f32-edited model; a second write is byte-identical; the input cannot be the output.
    func testAblatedSmolLM2KeepsUntouchedBytesAndIsNearlyOrthogonal() throws {
        let path = try TestModels.smolLM2()
        let dir = try temporaryDirectory()
        let out = dir.appendingPathComponent("smollm2-abliterated.gguf").path
        let session = try ModelSession.load(path: path)
        let measurements = try Self.measurements(session)
        let plan = try LayerPlan(parsing: "20:8-24")
        let inputBytes = try Data(contentsOf: URL(fileURLWithPath: path))

        let result = try ModelEditor.ablate(
            session: session, plan: plan, measurements: measurements, measurementsPath: "m.safetensors",
            options: AblationOptions(), output: .gguf(out, editedType: .same))
        let summary = try XCTUnwrap(result.gguf)
        XCTAssertEqual(summary.edits.count, 34)
        XCTAssertEqual(summary.copiedTensors, 272 - 34)
        XCTAssertEqual(Set(summary.encodedTensors.values), ["Q4_1"])

        let source = try GGUFFile(path: path), written = try GGUFFile(path: out)
        try assertMetadataKept(source, written)
        XCTAssertEqual(written.string("abliterate.plan"), "20:8-24")
        XCTAssertEqual(written.string("abliterate.edited_tensors"), "34")
        XCTAssertEqual(written.string("abliterate.tool_version"), AbliterateVersion.current)
        XCTAssertEqual(written.string("abliterate.directions_sha256")?.count, 64)

        let edits = try ModelEditor.plannedEdits(plan: plan, measurements: measurements, options: AblationOptions(), model: session.model)
        let editedNames = Dictionary(uniqueKeysWithValues: edits.map { (session.model.ggufTensorName($0.name)!, $0) })
        XCTAssertEqual(written.tensorInfos.count, source.tensorInfos.count)
        var ratios: [Double] = [], worstAlignment = 0.0
        for (a, b) in zip(source.tensorInfos, written.tensorInfos) {
            XCTAssertEqual([a.name, "\(a.dims)", a.type.name, "\(a.offset)"], [b.name, "\(b.dims)", b.type.name, "\(b.offset)"])
            let original = Array(try source.tensor(a.name).bytes), stored = Array(try written.tensor(b.name).bytes)
            guard let edit = editedNames[a.name] else {
                XCTAssertEqual(stored, original, a.name)
                continue
            }
            XCTAssertNotEqual(stored, original, a.name)
            var exact = try session.model.weights.float32(edit.name)
            _ = try ModelEditor.apply(edit, to: &exact, norms: .none)
            let quantized = try written.tensor(b.name).toFloat32()
            let u = try edit.editDirection().map { Float($0) }
            let before = try projection(try session.model.weights.float32(edit.name), u)
            let after = try projection(quantized, u)
            let error = distance(quantized, exact)
            // ‖uᵀW′‖ = ‖uᵀ(W′ − W_edit)‖ ≤ ‖W′ − W_edit‖ (W_edit ⟂ u): only the re-quantization error E
            // remains, and E is Q4_1's (≤ 12% of the weight), not a layout or encoding mistake. Re-encoding
            // on the source's own 4-bit grid snaps values back toward the originals, so E is aligned with u
            // (≈ 11× a random direction's share ‖E‖/√out, measured) and part of the removed component returns.
            XCTAssertLessThanOrEqual(after, error * 1.0001 + 1e-6, a.name)
            XCTAssertLessThan(error / exact.norm(), 0.12, a.name)
            ratios.append(after / before)
            worstAlignment = max(worstAlignment, after / (error / Double(exact.shape[0]).squareRoot()))
        }
        ratios.sort()
        print("SmolLM2 Q4_1: ‖uᵀW′‖/‖uᵀW‖ after re-quantization median \(ratios[ratios.count / 2]), worst \(ratios.last!); worst ‖uᵀE‖/(‖E‖/√out) \(worstAlignment)")
        XCTAssertLessThan(ratios.last!, 0.6)

        // Determinism: the same input gives the same bytes.
        let again = dir.appendingPathComponent("again.gguf").path
        _ = try GGUFExport.write(session: session, to: again, edits: edits, provenance: ModelEditor.provenance(
            plan: plan, options: AblationOptions(), edits: edits, measurements: "m.safetensors"))
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: again)), try Data(contentsOf: URL(fileURLWithPath: out)))

        // The written file runs in the runtime, close to the model edited in f32.
        let reloaded = try ModelSession.load(path: out)
        let generated = try reloaded.model.generate(batch: [try reloaded.promptTokens("How do I bake bread?")], maxNewTokens: 8, stopTokens: [])
        XCTAssertEqual(generated.first?.tokens.count, 8)
        _ = try ModelEditor.apply(plan: plan, measurements: measurements, options: AblationOptions(), to: session.model)
        let gap = try logProbabilityGap(session, reloaded)
        print("SmolLM2 Q4_1 GGUF vs f32 edit: mean KL \(gap.meanKL), max |Δ log p| \(gap.maxAbs)")
        XCTAssertLessThan(gap.meanKL, 0.05)

        // The input is never the output, and it was not touched.
        XCTAssertThrowsError(try GGUFExport.write(session: reloaded, to: out)) {
            XCTAssertTrue("\($0)".contains("refusing to overwrite an input"), "\($0)")
        }
        let link = dir.appendingPathComponent("link.gguf").path
        XCTAssertEqual(hardLink(out, link), 0)
        XCTAssertThrowsError(try GGUFExport.write(session: reloaded, to: link)) {
            XCTAssertTrue("\($0)".contains("hard link"), "\($0)")
        }
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), inputBytes)
    }

    /// A reading edit (`--targets inputs`) written to GGUF: SmolLM2's Q and K rows are permuted in llama.cpp's
    /// layout, the edit (one rank-1 update per row) is made in Hugging Face's and brought back; in F16 the
    /// file runs as the model edited in f32 in memory does, and only the 45 readers of blocks 21–29 change.
    func testReadingEditWrittenToGGUFRunsAsTheF32Edit() throws {
        let path = try TestModels.smolLM2()
        let out = try temporaryDirectory().appendingPathComponent("smollm2-inputs.gguf").path
        let session = try ModelSession.load(path: path)
        let measurements = try Self.measurements(session)
        let plan = try LayerPlan(parsing: "21:21-29")
        let options = AblationOptions(targets: EditTarget.readers)
        let result = try ModelEditor.ablate(
            session: session, plan: plan, measurements: measurements, measurementsPath: "m.safetensors",
            options: options, output: .gguf(out, editedType: try .init(parsing: "f16")))
        let summary = try XCTUnwrap(result.gguf)
        XCTAssertEqual(summary.edits.count, 45)
        XCTAssertTrue(summary.edits.allSatisfy { $0.reads && $0.remainingProjection < 1e-5 })
        XCTAssertEqual(summary.copiedTensors, 272 - 45)
        XCTAssertEqual(Set(summary.encodedTensors.values), ["F16"])
        let reloaded = try ModelSession.load(path: out)
        _ = try ModelEditor.apply(plan: plan, measurements: measurements, options: options, to: session.model)
        let gap = try logProbabilityGap(session, reloaded)
        print("SmolLM2 reading edit, F16 GGUF vs f32 edit: mean KL \(gap.meanKL), max |Δ log p| \(gap.maxAbs)")
        XCTAssertLessThan(gap.meanKL, 1e-3)
    }

    /// Gemma 3 (Q4_K_M): edited attn_output/ffn_down keep Q4_K and Q6_K and the rest is byte-identical;
    /// with --edited-type q8_0 the edited tensors become Q8_0, the others still byte-identical (their
    /// offsets shift), and the file loads and runs close to the f32 edit.
    func testGemmaEditedTensorsKeepTheirKQuantTypesOrTheChosenOne() throws {
        let path = try TestModels.gemma3()
        let dir = try temporaryDirectory()
        let session = try ModelSession.load(path: path)
        let measurements = try Self.measurements(session)
        let plan = try LayerPlan(parsing: "9:4-13")
        let edits = try ModelEditor.plannedEdits(plan: plan, measurements: measurements, options: AblationOptions(), model: session.model)
        XCTAssertEqual(ModelEditor.appliedDirectionMode(edits), .normAware)
        let source = try GGUFFile(path: path)
        var sourceTypes: [String: Int] = [:]
        for e in edits { sourceTypes[source.info(session.model.ggufTensorName(e.name)!)!.type.name, default: 0] += 1 }
        XCTAssertEqual(Set(sourceTypes.keys), ["Q4_K", "Q6_K"], "\(sourceTypes)")

        for editedType in [GGUFExport.TensorType.same, .type(.q8_0)] {
            let out = dir.appendingPathComponent("gemma-\(editedType).gguf").path
            let summary = try GGUFExport.write(session: session, to: out, editedType: editedType, edits: edits)
            let written = try GGUFFile(path: out)
            try assertMetadataKept(source, written)
            XCTAssertEqual(written.string("abliterate.edited_type"), editedType.description)
            let edited = Set(edits.map { session.model.ggufTensorName($0.name)! })
            for (a, b) in zip(source.tensorInfos, written.tensorInfos) {
                XCTAssertEqual(a.name, b.name)
                XCTAssertEqual(a.dims, b.dims)
                if edited.contains(a.name) {
                    XCTAssertEqual(b.type, editedType == .same ? a.type : .q8_0, a.name)
                } else {
                    XCTAssertEqual(b.type, a.type, a.name)
                    XCTAssertEqual(Array(try written.tensor(b.name).bytes), Array(try source.tensor(a.name).bytes), a.name)
                }
            }
            var worst = 0.0, worstAlignment = 0.0
            for edit in edits {
                var exact = try session.model.weights.float32(edit.name)
                _ = try ModelEditor.apply(edit, to: &exact, norms: .none)
                let stored = try written.tensor(session.model.ggufTensorName(edit.name)!).toFloat32()
                let u = try edit.editDirection().map { Float($0) }
                let error = distance(stored, exact)
                let after = try projection(stored, u)
                XCTAssertLessThanOrEqual(after, error * 1.0001 + 1e-6, edit.name)
                XCTAssertLessThan(error / exact.norm(), editedType == .same ? 0.12 : 0.01, edit.name)
                // Q8_0's error is not aligned with u (within 4× a random direction's share); the source's
                // 4-bit grids' is (see the SmolLM2 test).
                let alignment = after / (error / Double(exact.shape[0]).squareRoot())
                if editedType != .same { XCTAssertLessThan(alignment, 4, edit.name) }
                worst = max(worst, after / (try projection(try session.model.weights.float32(edit.name), u)))
                worstAlignment = max(worstAlignment, alignment)
            }
            print("Gemma 3 \(editedType): \(summary.encodedTensors.count) re-encoded, worst ‖uᵀW′‖/‖uᵀW‖ \(worst), worst ‖uᵀE‖/(‖E‖/√out) \(worstAlignment)")
            XCTAssertLessThan(worst, editedType == .same ? 0.45 : 0.05)
        }
        let reloaded = try ModelSession.load(path: dir.appendingPathComponent("gemma-same.gguf").path)
        _ = try ModelEditor.apply(plan: plan, measurements: measurements, options: AblationOptions(), to: session.model)
        let gap = try logProbabilityGap(session, reloaded)
        print("Gemma 3 GGUF (same types) vs f32 edit: mean KL \(gap.meanKL), max |Δ log p| \(gap.maxAbs)")
        XCTAssertLessThan(gap.meanKL, 0.05)
    }

    /// GGUF + LoRA adapter: the merged tensors (q/k/v/o/gate/up/down of every block) are re-encoded. In
    /// f32 the file reproduces the merged model exactly (so llama's Q/K row permutation is redone right);
    /// in Q8_0 closely; in their own Q4_1 much of the adapter's small delta is lost to the 4-bit grid. The
    /// session writes from the adapter kept unmerged (as loaded); the reference is the adapter merged into
    /// f32 weights in memory, which the f32 file must run exactly like.
    func testConvertWithAdapterWritesTheMergedTensors() throws {
        let path = try TestModels.smolLM2()
        let dir = try temporaryDirectory()
        let session = try ModelSession.load(path: path, adapter: Fixtures.refusalAdapter.path)
        XCTAssertEqual(session.model.weights.modifiedNames.count, 7 * 30)
        let mergedModel = try LanguageModel.load(path: path)
        try LoRAAdapter.load(directory: Fixtures.refusalAdapter.path).merge(into: mergedModel.weights)
        let merged = ModelSession(model: mergedModel, tokenizer: session.tokenizer, path: path, adapter: session.adapter)
        var kl: [String: Double] = [:]
        for type in [GGUFExport.TensorType.type(.f32), .type(.q8_0), .same] {
            let out = dir.appendingPathComponent("organism-\(type).gguf").path
            let summary = try GGUFExport.write(session: session, to: out, editedType: type)
            XCTAssertEqual(summary.encodedTensors.count, 210)
            XCTAssertEqual(summary.copiedTensors, 272 - 210)
            let written = try GGUFFile(path: out)
            XCTAssertEqual(written.string("abliterate.adapter"), "refusal-lora-a")
            XCTAssertEqual(written.string("abliterate.edited_tensors"), "0")
            let reloaded = try ModelSession.load(path: out)
            let gap = try logProbabilityGap(merged, reloaded)
            print("organism GGUF \(type) vs merged in memory: mean KL \(gap.meanKL), max |Δ log p| \(gap.maxAbs)")
            if type == .type(.f32) { XCTAssertEqual(gap.maxAbs, 0, "f32 merged tensors must reproduce the merged model exactly") }
            kl[type.description] = gap.meanKL
        }
        XCTAssertLessThan(kl["Q8_0"]!, 0.05)
        XCTAssertGreaterThan(kl["same"]!, 5 * kl["Q8_0"]!, "Q4_1 is expected to lose much of the adapter's delta")
    }

    /// The commands choose GGUF by the output's extension and refuse options of the other format.
    func testCommandsRefuseMismatchedOptionsAndInputAsOutput() throws {
        let path = try TestModels.smolLM2()
        let dir = try temporaryDirectory()
        var r = try CommandLineTool.abliterate(["convert", path, "--output", path])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("refusing to overwrite an input"), r.stderr)
        r = try CommandLineTool.abliterate(["convert", path, "--edited-type", "q8_0", "--output", dir.appendingPathComponent("hf").path])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("--edited-type is for GGUF output"), r.stderr)
        r = try CommandLineTool.abliterate(["convert", path, "--dtype", "F16", "--output", dir.appendingPathComponent("x.gguf").path])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("--dtype is for Hugging Face output"), r.stderr)
        r = try CommandLineTool.abliterate(["convert", path, "--edited-type", "iq2_xs", "--output", dir.appendingPathComponent("x.gguf").path])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("'iq2_xs' is not one this tool writes"), r.stderr)
        // No adapter, nothing edited: a copy with provenance, every tensor byte-identical.
        let copy = dir.appendingPathComponent("copy.gguf").path
        r = try CommandLineTool.abliterate(["convert", path, "--output", copy])
        XCTAssertEqual(r.status, 0, r.stderr)
        let source = try GGUFFile(path: path), written = try GGUFFile(path: copy)
        try assertMetadataKept(source, written)
        for info in source.tensorInfos {
            XCTAssertEqual(Array(try written.tensor(info.name).bytes), Array(try source.tensor(info.name).bytes), info.name)
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted(), ["copy.gguf"])
    }
}

private func hardLink(_ a: String, _ b: String) -> Int32 { link(a, b) }
