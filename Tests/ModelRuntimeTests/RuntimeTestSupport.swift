import Foundation
import TensorKit
import TestSupport
import XCTest
@testable import LanguageModels

/// Models loaded once per test process (the tests share them).
enum LoadedModels {
    nonisolated(unsafe) private static var cache: [String: LanguageModel] = [:]
    private static let lock = NSLock()

    static func model(_ path: String, adapter: String? = nil) throws -> LanguageModel {
        lock.lock()
        defer { lock.unlock() }
        let key = path + "|" + (adapter ?? "")
        if let m = cache[key] { return m }
        let m = try LanguageModel.load(path: path, adapter: adapter)
        cache[key] = m
        return m
    }

    static func smolLM2() throws -> LanguageModel { try model(try TestModels.smolLM2()) }
    static func gemma3() throws -> LanguageModel { try model(try TestModels.gemma3()) }

    /// The model as the reference files ran it.
    ///
    /// The reference was produced by transformers' GGUF loader, which handed the model every
    /// dequantized weight rounded to bf16 (checked: the reference's embedding output is exactly
    /// bf16(dequantized row), and its logits equal bf16(E)·h to 2e-5 while exact f32 E gives errors of
    /// 0.014–0.03). So these tests round each weight to bf16, through the public `replace` API, and then
    /// hold the runtime to the reference's bounds. (Norm weights are F32 in the GGUF; rounding them too
    /// changes nothing measurable, and they are left exact.)
    static func referenceWeights(_ path: String) throws -> LanguageModel {
        lock.lock()
        defer { lock.unlock() }
        let key = path + "|reference-bf16"
        if let m = cache[key] { return m }
        let m = try LanguageModel.load(path: path)
        for name in m.weights.names where !name.hasSuffix("norm.weight") {
            try m.weights.replace(name, with: try m.weights.float32(name).toBF16())
        }
        cache[key] = m
        return m
    }

    static func smolLM2AsReference() throws -> LanguageModel { try referenceWeights(try TestModels.smolLM2()) }
    static func gemma3AsReference() throws -> LanguageModel { try referenceWeights(try TestModels.gemma3()) }
}

/// One prompt of `*_forward.json`.
struct ForwardReference {
    var prompt: String
    var tokenIDs: [Int]
    var top10IDs: [Int]
    var top10Logits: [Float]
    var logitMean: Float
    var logitStd: Float
    var argmax: Int
    /// hidden_states index → last token's vector.
    var hiddenStates: [Int: [Float]]

    static func load(_ file: String) throws -> (layers: Int, prompts: [ForwardReference]) {
        let json = try XCTUnwrap(Fixtures.referenceJSON(file) as? [String: Any])
        let layers = try XCTUnwrap(json["num_hidden_layers"] as? Int)
        let prompts = try XCTUnwrap(json["prompts"] as? [[String: Any]])
        return (layers, try prompts.map { p in
            let stats = try XCTUnwrap(p["last_logits_stats"] as? [String: Any])
            let hidden = try XCTUnwrap(p["hidden_states_last_token"] as? [String: [Double]])
            return ForwardReference(
                prompt: try XCTUnwrap(p["prompt"] as? String),
                tokenIDs: try XCTUnwrap(p["token_ids"] as? [Int]),
                top10IDs: try XCTUnwrap(p["top10_ids"] as? [Int]),
                top10Logits: try XCTUnwrap(p["top10_logits"] as? [Double]).map(Float.init),
                logitMean: Float(try XCTUnwrap(stats["mean"] as? Double)),
                logitStd: Float(try XCTUnwrap(stats["std"] as? Double)),
                argmax: try XCTUnwrap(stats["argmax"] as? Int),
                hiddenStates: Dictionary(uniqueKeysWithValues: hidden.map { (Int($0.key)!, $0.value.map(Float.init)) }))
        })
    }
}

/// One row of generation.json.
struct GenerationReference {
    var prompt: String
    var promptIDs: [Int]
    var greedyIDs: [Int]
    var top5IDs: [Int]

    static func load(_ model: String) throws -> [GenerationReference] {
        let json = try XCTUnwrap(Fixtures.referenceJSON("generation.json") as? [String: Any])
        let rows = try XCTUnwrap(json[model] as? [[String: Any]])
        return try rows.map {
            GenerationReference(
                prompt: try XCTUnwrap($0["prompt"] as? String), promptIDs: try XCTUnwrap($0["prompt_ids"] as? [Int]),
                greedyIDs: try XCTUnwrap($0["greedy_ids"] as? [Int]), top5IDs: try XCTUnwrap($0["top5_ids"] as? [Int]))
        }
    }
}

func cosine(_ a: [Float], _ b: [Float]) -> Double {
    var dot = 0.0, na = 0.0, nb = 0.0
    for i in 0..<min(a.count, b.count) {
        dot += Double(a[i]) * Double(b[i]); na += Double(a[i]) * Double(a[i]); nb += Double(b[i]) * Double(b[i])
    }
    return dot / (na.squareRoot() * nb.squareRoot())
}

func maxAbsDifference(_ a: [Float], _ b: [Float]) -> Float {
    zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
}
