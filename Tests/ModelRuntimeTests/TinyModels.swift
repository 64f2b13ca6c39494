import Foundation
import TestSupport
import TensorKit
@testable import LanguageModels

/// Small random models written at test time, in both file formats, from one set of Hugging Face
/// weights: a GGUF (llama.cpp's conventions: Q/K rows permuted for `llama`, Gemma norms stored as
/// 1 + w) and a Hugging Face directory (config.json from the runtime's own encoder + safetensors).
struct TinyModel {
    var configuration: ModelConfiguration
    /// Hugging Face names and values.
    var tensors: [(name: String, shape: [Int], values: [Float])]

    static func make(_ architecture: ModelArchitecture, seed: UInt64 = 1) -> TinyModel {
        var c: ModelConfiguration
        switch architecture {
        case .llama:
            c = ModelConfiguration(
                architecture: .llama, vocabSize: 64, hiddenSize: 32, intermediateSize: 48, layerCount: 3, headCount: 4,
                kvHeadCount: 2, headDim: 8, rmsNormEpsilon: 1e-5, ropeTheta: 10000, tieWordEmbeddings: true,
                maxPositionEmbeddings: 128, bosTokenID: 1, eosTokenIDs: [2])
        case .qwen2, .qwen3:
            c = ModelConfiguration(
                architecture: architecture, vocabSize: 64, hiddenSize: 32, intermediateSize: 48, layerCount: 2,
                headCount: 4, kvHeadCount: 2, headDim: 8, rmsNormEpsilon: 1e-6, ropeTheta: 1_000_000,
                attentionBias: architecture == .qwen2, queryKeyNorm: architecture == .qwen3, tieWordEmbeddings: false,
                maxPositionEmbeddings: 128, bosTokenID: nil, eosTokenIDs: [2])
        case .gemma2:
            // A window of 4 tokens on blocks 0 and 2, and attention and final soft caps low enough to matter.
            c = ModelConfiguration(
                architecture: .gemma2, vocabSize: 64, hiddenSize: 32, intermediateSize: 48, layerCount: 4, headCount: 2,
                kvHeadCount: 1, headDim: 16, rmsNormEpsilon: 1e-6, ropeTheta: 10000, slidingWindow: 4,
                layerSpans: ModelConfiguration.gemmaLayerSpans(layerCount: 4, pattern: 2), queryScale: 0.25,
                tieWordEmbeddings: true, maxPositionEmbeddings: 128, bosTokenID: 2, eosTokenIDs: [1], padTokenID: 0,
                attentionLogitSoftCap: 2, finalLogitSoftCap: 5)
        case .gemma3:
            // A window of 4 tokens, so prompts of 6+ tokens exercise the sliding layers.
            c = ModelConfiguration(
                architecture: .gemma3, vocabSize: 64, hiddenSize: 32, intermediateSize: 48, layerCount: 6, headCount: 2,
                kvHeadCount: 1, headDim: 16, rmsNormEpsilon: 1e-6, ropeTheta: 1_000_000, localRopeTheta: 10000,
                slidingWindow: 4, layerSpans: ModelConfiguration.gemmaLayerSpans(layerCount: 6, pattern: 6),
                queryScale: 0.25, queryKeyNorm: true, tieWordEmbeddings: true, maxPositionEmbeddings: 128,
                bosTokenID: 2, eosTokenIDs: [1], padTokenID: 0)
        }
        var rng = SplitMix(seed: seed)
        var tensors: [(String, [Int], [Float])] = []
        for name in architecture.tensorNames(c) {
            let shape = CheckpointLoader.expectedShape(name, c)
            let n = shape.reduce(1, *)
            let values: [Float]
            if name.hasSuffix("norm.weight") {
                // Llama/Qwen multiply by w ≈ 1; Gemma by 1 + w with w ≈ 0.
                let center: Float = architecture.definition.recipe.normPlusOne ? 0 : 1
                values = (0..<n).map { _ in center + rng.uniform(-0.2, 0.2) }
            } else {
                values = (0..<n).map { _ in rng.uniform(-0.4, 0.4) }
            }
            tensors.append((name, shape, values))
        }
        return TinyModel(configuration: c, tensors: tensors)
    }

    /// Writes the GGUF; `drop` leaves a tensor out, `architectureName` overrides `general.architecture`,
    /// `metadataOverrides` replace metadata values by key, `shapeOverrides` give tensors (by GGUF name)
    /// another row-major shape of the same element count.
    func writeGGUF(to path: String, drop: String? = nil, extra: String? = nil, architectureName: String? = nil,
                   metadataOverrides: [String: GGUFValue] = [:], shapeOverrides: [String: [Int]] = [:]) throws {
        let c = configuration
        let arch = architectureName ?? c.architecture.rawValue
        let p = c.architecture.rawValue
        var metadata: [(key: String, value: GGUFValue)] = [
            ("general.architecture", .string(arch)),
            ("\(p).block_count", .uint32(UInt32(c.layerCount))),
            ("\(p).embedding_length", .uint32(UInt32(c.hiddenSize))),
            ("\(p).feed_forward_length", .uint32(UInt32(c.intermediateSize))),
            ("\(p).attention.head_count", .uint32(UInt32(c.headCount))),
            ("\(p).attention.head_count_kv", .uint32(UInt32(c.kvHeadCount))),
            ("\(p).attention.key_length", .uint32(UInt32(c.headDim))),
            ("\(p).rope.freq_base", .float32(Float(c.ropeTheta))),
            ("\(p).attention.layer_norm_rms_epsilon", .float32(c.rmsNormEpsilon)),
            ("\(p).context_length", .uint32(UInt32(c.maxPositionEmbeddings))),
            ("\(p).vocab_size", .uint32(UInt32(c.vocabSize))),
            ("tokenizer.ggml.eos_token_id", .uint32(UInt32(c.eosTokenIDs[0]))),
        ]
        if let bos = c.bosTokenID { metadata.append(("tokenizer.ggml.bos_token_id", .uint32(UInt32(bos)))) }
        if let pad = c.padTokenID { metadata.append(("tokenizer.ggml.padding_token_id", .uint32(UInt32(pad)))) }
        if let w = c.slidingWindow { metadata.append(("\(p).attention.sliding_window", .uint32(UInt32(w)))) }
        if let cap = c.attentionLogitSoftCap { metadata.append(("\(p).attn_logit_softcapping", .float32(cap))) }
        if let cap = c.finalLogitSoftCap { metadata.append(("\(p).final_logit_softcapping", .float32(cap))) }
        metadata = metadata.map { (key: $0.key, value: metadataOverrides[$0.key] ?? $0.value) }
        var entries: [GGUFWriter.TensorEntry] = []
        for (name, shape, values) in tensors {
            let ggufName = c.architecture.ggufName(name)!
            if ggufName == drop { continue }
            var v = values
            if c.architecture.definition.recipe.normPlusOne && name.hasSuffix("norm.weight") { v = v.map { $0 + 1 } }
            if c.architecture == .llama && (name.hasSuffix("q_proj.weight") || name.hasSuffix("k_proj.weight")) {
                let heads = name.hasSuffix("q_proj.weight") ? c.headCount : c.kvHeadCount
                v = permuteRowsLikeLlamaCpp(v, rows: shape[0], heads: heads)
            }
            entries.append(.init(name: ggufName, type: .f32, shape: shapeOverrides[ggufName] ?? shape,
                                 bytes: v.withUnsafeBytes { [UInt8]($0) }))
        }
        if let extra {
            entries.append(.init(name: extra, type: .f32, shape: [4], bytes: [Float](repeating: 0, count: 4).withUnsafeBytes { [UInt8]($0) }))
        }
        try GGUFWriter.write(metadata: metadata, tensors: entries, to: path)
    }

    /// llama.cpp's permute: reshape (heads, 2, d/2, in), swap axes 1 and 2.
    func permuteRowsLikeLlamaCpp(_ v: [Float], rows: Int, heads: Int) -> [Float] {
        let cols = v.count / rows, d = rows / heads, half = d / 2
        var out = v
        for h in 0..<heads {
            for s in 0..<2 {
                for r in 0..<half {
                    let hf = h * d + s * half + r, gguf = h * d + 2 * r + s
                    for j in 0..<cols { out[gguf * cols + j] = v[hf * cols + j] }
                }
            }
        }
        return out
    }

    enum DirectoryFormat { case f32, bf16, nf4 }

    /// Writes config.json and model.safetensors; with `.nf4`, matrices are bitsandbytes NF4
    /// (blocksize 16) and `nf4Values` receives the values they decode to.
    func writeHFDirectory(to directory: String, format: DirectoryFormat = .f32) throws -> [String: [Float]] {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let json = try configuration.architecture.definition.configJSON(configuration, dtype: format == .f32 ? "float32" : "bfloat16")
        try json.write(to: URL(fileURLWithPath: directory).appendingPathComponent("config.json"))
        var out: [(name: String, dtype: DType, shape: [Int], bytes: [UInt8])] = []
        var decoded: [String: [Float]] = [:]
        for (name, shape, values) in tensors {
            switch format {
            case .f32:
                out.append((name, .f32, shape, values.withUnsafeBytes { [UInt8]($0) }))
            case .bf16:
                let b = Precision.bf16(from: values)
                out.append((name, .bf16, shape, b.withUnsafeBytes { [UInt8]($0) }))
                decoded[name] = Precision.float32(fromBF16: b)
            case .nf4:
                if shape.count == 1 || name.hasSuffix("embed_tokens.weight") {
                    out.append((name, .f32, shape, values.withUnsafeBytes { [UInt8]($0) }))
                    continue
                }
                let (packed, absmax) = try Quantizer.nf4(values, blockSize: 16)
                let state = "{\"quant_type\": \"nf4\", \"blocksize\": 16, \"dtype\": \"float32\", \"shape\": \(shape)}"
                out.append((name, .u8, [packed.count, 1], packed))
                out.append((name + ".absmax", .f32, [absmax.count], absmax.withUnsafeBytes { [UInt8]($0) }))
                let table = BitsAndBytes4Bit.nf4Table
                out.append((name + ".quant_map", .f32, [16], table.withUnsafeBytes { [UInt8]($0) }))
                let stateBytes = [UInt8](state.utf8)
                out.append((name + ".quant_state.bitsandbytes__nf4", .u8, [stateBytes.count], stateBytes))
                decoded[name] = try BitsAndBytes4Bit.dequantize(
                    packed: packed.withUnsafeBytes { UnsafeRawBufferPointer($0) }, absmax: .float32(absmax),
                    state: .init(quantType: .nf4, blockSize: 16, dtype: "float32", shape: shape)).scalars
            }
        }
        try SafetensorsWriter.write(tensors: out, to: (directory as NSString).appendingPathComponent("model.safetensors"))
        return decoded
    }
}

typealias SplitMix = SeededGenerator

/// A fresh temporary directory, removed by the caller.
func temporaryDirectory(_ label: String) throws -> String {
    let path = NSTemporaryDirectory() + "abliterate-\(label)-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}
