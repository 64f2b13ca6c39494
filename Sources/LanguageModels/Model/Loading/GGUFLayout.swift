import Foundation
import TensorKit

/// How a model's tensors sit in a GGUF file, for writers that put edited tensors back into one
/// (`package` access: the pipeline's GGUF export, not the public API).
///
/// The runtime holds weights in Hugging Face's layout and convention (`ModelWeights`); llama.cpp's GGUF
/// differs in three ways, undone here:
///
/// * names: `model.layers.N.self_attn.o_proj.weight` ↔ `blk.N.attn_output.weight` and so on
///   (`ModelArchitecture.ggufName`);
/// * llama's Q and K rows are permuted per head (`QueryKeyPermutation`): GGUF row h·d + 2r + s holds
///   Hugging Face row h·d + s·d/2 + r;
/// * Gemma's norm weights are stored as the effective gain g = 1 + w where Hugging Face stores w.
///
/// Tensor dims in GGUF are the Hugging Face shape reversed (`[in, out]` for `[out, in]`), so the bytes of
/// a row-major Hugging Face matrix are the bytes of the GGUF tensor.
extension LanguageModel {
    /// The GGUF name of Hugging Face tensor `hfName`, nil when the architecture has none.
    package func ggufTensorName(_ hfName: String) -> String? {
        configuration.architecture.ggufName(hfName)
    }

    /// `values` of tensor `hfName` (Hugging Face layout and convention, row-major) rearranged as the GGUF
    /// file stores them: Q/K rows permuted for llama, 1 added to Gemma's norm weights; other tensors are
    /// returned as they are.
    package func ggufLayout(_ hfName: String, _ values: [Float]) throws -> [Float] {
        let definition = configuration.architecture.definition
        if definition.recipe.normPlusOne && configuration.architecture.isNormWeight(hfName) {
            return values.map { $0 + 1 }
        }
        guard definition.ggufPermutesQueryKey else { return values }
        let heads: Int
        if hfName.hasSuffix("q_proj.weight") || hfName.hasSuffix("q_proj.bias") {
            heads = configuration.headCount
        } else if hfName.hasSuffix("k_proj.weight") || hfName.hasSuffix("k_proj.bias") {
            heads = configuration.kvHeadCount
        } else {
            return values
        }
        let shape = try weights.shape(of: hfName)
        let rows = shape[0]
        guard heads > 0, rows % heads == 0, (rows / heads) % 2 == 0, values.count % rows == 0 else {
            throw ModelError.dimensionMismatch("cannot permute '\(hfName)' for GGUF: \(rows) rows, \(heads) heads, \(values.count) values")
        }
        let rowLength = values.count / rows
        var out = [Float](repeating: 0, count: values.count)
        for (hfRow, ggufRow) in QueryKeyPermutation.ggufRowForHFRow(rows: rows, heads: heads).enumerated() {
            out[(ggufRow * rowLength)..<((ggufRow + 1) * rowLength)] = values[(hfRow * rowLength)..<((hfRow + 1) * rowLength)]
        }
        return out
    }
}
