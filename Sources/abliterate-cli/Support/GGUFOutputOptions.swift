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
        "GGUF output: the type of the tensors that change (edited or merged): same (each tensor's own type) or one of f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q4_k, q5_k, q6_k. Every other tensor is copied unchanged.",
        valueName: "type"))
    var editedType = "same"

    /// Whether `output` is to be written as GGUF.
    func isGGUF(_ output: String) -> Bool {
        switch format {
        case .gguf: return true
        case .hf: return false
        case .auto: return GGUFExport.isGGUFPath(output)
        }
    }

    /// The parsed `--edited-type`, after checking that it and `--dtype` (`dtypeGiven`) fit the format.
    func ggufType(output: String, dtypeGiven: Bool) throws -> GGUFExport.TensorType {
        let type = try GGUFExport.TensorType(parsing: editedType)
        if isGGUF(output) {
            if dtypeGiven { throw ValidationError("--dtype is for Hugging Face output; a GGUF output takes --edited-type") }
        } else if type != .same {
            throw ValidationError("--edited-type is for GGUF output; \(output) is written as a Hugging Face directory (end it in .gguf or pass --format gguf)")
        }
        return type
    }

    /// A note for GGUF output with a merged adapter whose tensors go back onto a 4-to-6-bit grid, which
    /// loses much of an adapter's small delta (Docs/gguf.md); nil otherwise.
    func adapterNote(adapter: String?, output: String) -> String? {
        guard adapter != nil, isGGUF(output) else { return nil }
        let type = (try? GGUFExport.TensorType(parsing: editedType)) ?? .same
        if case .type(let t) = type, [.f32, .f16, .bf16, .q8_0].contains(t) { return nil }
        return "note: the adapter's merged tensors are re-encoded as \(type == .same ? "their own (quantized) types" : type.description); a 4-to-6-bit grid loses much of an adapter's small delta, --edited-type q8_0 (or f16) keeps it (Docs/gguf.md)"
    }
}
