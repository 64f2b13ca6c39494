import AbliterationPipeline
import ArgumentParser
import Foundation
import TensorKit

/// `--format` and `--edited-type`: whether a command writes a Hugging Face directory or a GGUF file, and
/// the GGUF type of the tensors it changes.
struct ModelOutputFormat: ParsableArguments {
    enum Format: String, ExpressibleByArgument, CaseIterable {
        case auto, hf, gguf
    }

    @Option(help: "Output format: auto (a GGUF file when --output ends in .gguf, else a Hugging Face directory), hf or gguf.")
    var format = Format.auto

    @Option(help: ArgumentHelp(
        "GGUF output from a GGUF input: the type of the tensors that change (edited or merged): same (each tensor's own type) or one of f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q4_k, q5_k, q6_k. Every other tensor is copied unchanged.",
        valueName: "type"))
    var editedType = "same"

    @Option(help: ArgumentHelp(
        "GGUF output from a Hugging Face input: the file type of the whole model, as llama.cpp names it: auto (bf16 for a bf16 checkpoint, else f16), f32, f16, bf16, q8_0 (what convert_hf_to_gguf.py writes), q4_0, q4_1, q5_0, q5_1, q4_k_s, q4_k_m (= q4_k), q5_k_s, q5_k_m (= q5_k), q6_k (llama-quantize's mixtures, no importance matrix). Norms and 1-D tensors stay F32. Default: auto.",
        valueName: "type"))
    var ggufType: String?

    /// Whether `output` is to be written as GGUF.
    func isGGUF(_ output: String) -> Bool {
        switch format {
        case .gguf: return true
        case .hf: return false
        case .auto: return GGUFExport.isGGUFPath(output)
        }
    }

    /// The parsed `--edited-type` and `--gguf-type`, after checking that they and `--dtype` (`dtypeGiven`)
    /// fit the format and, for GGUF output, the kind of `model` (a GGUF file or a Hugging Face directory).
    func ggufTypes(output: String, model: String, dtypeGiven: Bool) throws -> (edited: GGUFExport.TensorType, model: GGUFConversion.FileType?) {
        let edited = try GGUFExport.TensorType(parsing: editedType)
        let whole = try ggufType.map { try GGUFConversion.FileType(parsing: $0) }
        if isGGUF(output) {
            if dtypeGiven { throw ValidationError("--dtype is for Hugging Face output; a GGUF output takes --edited-type (GGUF input) or --gguf-type (Hugging Face input)") }
            if FileManager.default.fileExists(atPath: model) {
                _ = try GGUFExport.checkTypes(source: model, editedType: edited, modelType: whole)
            }
        } else if edited != .same {
            throw ValidationError("--edited-type is for GGUF output; \(output) is written as a Hugging Face directory (end it in .gguf or pass --format gguf)")
        } else if whole != nil {
            throw ValidationError("--gguf-type is for GGUF output; \(output) is written as a Hugging Face directory (end it in .gguf or pass --format gguf)")
        }
        return (edited, whole)
    }

    /// A note for GGUF output from a GGUF `model` with a merged adapter whose tensors go back onto a
    /// 4-to-6-bit grid, which loses much of an adapter's small delta (Docs/gguf.md); nil otherwise.
    func adapterNote(adapter: String?, output: String, model: String) -> String? {
        var isDirectory: ObjCBool = false
        let fromDirectory = FileManager.default.fileExists(atPath: model, isDirectory: &isDirectory) && isDirectory.boolValue
        guard adapter != nil, isGGUF(output), !fromDirectory else { return nil }
        let type = (try? GGUFExport.TensorType(parsing: editedType)) ?? .same
        if case .type(let t) = type, [.f32, .f16, .bf16, .q8_0].contains(t) { return nil }
        return "note: the adapter's merged tensors are re-encoded as \(type == .same ? "their own (quantized) types" : type.description); a 4-to-6-bit grid loses much of an adapter's small delta, --edited-type q8_0 (or f16) keeps it (Docs/gguf.md)"
    }
}
