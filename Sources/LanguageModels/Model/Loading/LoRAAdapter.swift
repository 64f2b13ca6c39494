import Foundation
import TensorKit

/// A PEFT LoRA adapter: `adapter_config.json` (`r`, `lora_alpha`, `target_modules`, ...) and
/// `adapter_model.safetensors` with `base_model.model.<module>.lora_A.weight` `[r, in]` and
/// `...lora_B.weight` `[out, r]`.
///
/// The update of each target is W' = W + s·B·A with s = lora_alpha / r (lora_alpha / √r with
/// `use_rslora`). `attach(to:)` keeps it unmerged beside a block's linear weight, which stays in its
/// stored type (the forward pass computes Wx + s·B(Ax)); a writer reads W' through `ModelWeights.float32`,
/// merged then, one tensor at a time. Other targets (a LoRA'd `lm_head`) are merged at load in f32
/// (`merge(into:)`), one sgemm each, and stay dense f32: rounding them back to bf16 or a quantized type
/// would erase much of the small update.
public struct LoRAAdapter: Sendable {
    public struct Pair: Sendable {
        /// Hugging Face weight name of the target, e.g. `model.layers.3.self_attn.q_proj.weight`.
        public var target: String
        public var a: Tensor<Float>  // (r, in)
        public var b: Tensor<Float>  // (out, r)
    }

    public let directory: String
    public let rank: Int
    public let alpha: Double
    /// s in W + s·B·A.
    public let scale: Float
    public let targetModules: [String]
    /// In the order of the adapter file's tensor names.
    public let pairs: [Pair]

    /// Reads an adapter directory.
    public static func load(directory: String) throws -> LoRAAdapter {
        let configPath = (directory as NSString).appendingPathComponent("adapter_config.json")
        guard FileManager.default.fileExists(atPath: configPath) else {
            throw ModelError.invalidInput("\(configPath): missing")
        }
        let data = Data(try InputFile.contents(configPath, maxBytes: ModelConfiguration.maxConfigFileBytes))
        guard let config = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw ModelError.invalidInput("\(configPath): missing or not a JSON object")
        }
        if let type = config["peft_type"] as? String, type != "LORA" {
            throw ModelError.unsupported("\(configPath): peft_type '\(type)' is not supported (need LORA)")
        }
        guard let rank = config["r"] as? Int, rank > 0 else {
            throw ModelError.invalidInput("\(configPath): key 'r' is missing or not a positive integer")
        }
        guard let alpha = (config["lora_alpha"] as? NSNumber)?.doubleValue else {
            throw ModelError.invalidInput("\(configPath): key 'lora_alpha' is missing")
        }
        for key in ["use_dora", "fan_in_fan_out"] where (config[key] as? Bool) == true {
            throw ModelError.unsupported("\(configPath): '\(key)' adapters are not supported")
        }
        for key in ["rank_pattern", "alpha_pattern"] {
            if let pattern = config[key] as? [String: Any], !pattern.isEmpty {
                throw ModelError.unsupported("\(configPath): '\(key)' is not supported")
            }
        }
        let targets: [String]
        if let list = config["target_modules"] as? [String] { targets = list }
        else if let one = config["target_modules"] as? String { targets = [one] }
        else { throw ModelError.invalidInput("\(configPath): key 'target_modules' is missing") }
        let rsLoRA = (config["use_rslora"] as? Bool) ?? false
        let scale = Float(rsLoRA ? alpha / Double(rank).squareRoot() : alpha / Double(rank))

        let weightsPath = (directory as NSString).appendingPathComponent("adapter_model.safetensors")
        let file = try SafetensorsFile(path: weightsPath)
        var aByModule: [String: Tensor<Float>] = [:]
        var bByModule: [String: Tensor<Float>] = [:]
        var order: [String] = []
        for name in file.tensorNames {
            let module: String
            let isA: Bool
            if name.hasSuffix(".lora_A.weight") {
                module = String(name.dropLast(".lora_A.weight".count)); isA = true
            } else if name.hasSuffix(".lora_B.weight") {
                module = String(name.dropLast(".lora_B.weight".count)); isA = false
            } else {
                throw ModelError.unsupported("\(weightsPath): unexpected adapter tensor '\(name)'")
            }
            let tensor = try file.tensor(name).toFloat32()
            guard tensor.rank == 2 else {
                throw ModelError.dimensionMismatch("\(weightsPath): '\(name)' has shape \(tensor.shape), need rank 2")
            }
            if isA { aByModule[module] = tensor } else { bByModule[module] = tensor }
            if !order.contains(module) { order.append(module) }
        }
        var pairs: [Pair] = []
        for module in order {
            guard let a = aByModule[module], let b = bByModule[module] else {
                throw ModelError.invalidInput("\(weightsPath): '\(module)' lacks its lora_A or lora_B")
            }
            guard a.shape[0] == rank, b.shape[1] == rank else {
                throw ModelError.dimensionMismatch(
                    "\(weightsPath): '\(module)': lora_A \(a.shape), lora_B \(b.shape) do not have rank \(rank)")
            }
            var target = module
            if target.hasPrefix("base_model.model.") { target = String(target.dropFirst("base_model.model.".count)) }
            pairs.append(Pair(target: target + ".weight", a: a, b: b))
        }
        if pairs.isEmpty { throw ModelError.invalidInput("\(weightsPath): no LoRA tensors") }
        return LoRAAdapter(directory: directory, rank: rank, alpha: alpha, scale: scale, targetModules: targets, pairs: pairs)
    }

    /// The merged weight W + s·B·A (Hugging Face convention) for one pair, in f32.
    public func merged(_ pair: Pair, base: Tensor<Float>) throws -> Tensor<Float> {
        let (out, inSize) = (base.shape[0], base.shape[1])
        guard pair.b.shape[0] == out, pair.a.shape[1] == inSize else {
            throw ModelError.mismatch(
                "\(directory): adapter for '\(pair.target)' has lora_B \(pair.b.shape), lora_A \(pair.a.shape); weight is \(base.shape)")
        }
        var w = base
        pair.b.scalars.withUnsafeBufferPointer { pb in
            pair.a.scalars.withUnsafeBufferPointer { pa in
                w.scalars.withUnsafeMutableBufferPointer { pw in
                    BLAS.sgemm(
                        transposeA: false, transposeB: false, m: out, n: inSize, k: rank, alpha: scale,
                        a: pb.baseAddress!, lda: rank, b: pa.baseAddress!, ldb: inSize,
                        beta: 1, c: pw.baseAddress!, ldc: inSize)
                }
            }
        }
        return w
    }

    /// Merges every pair into `weights` (GGUF or safetensors base alike) as dense f32; a target the model
    /// does not have is an error naming it.
    public func merge(into weights: ModelWeights) throws {
        for pair in pairs { try merge(pair, into: weights) }
    }

    /// Applies the adapter to `weights` the way the runtime runs it: each block linear target keeps its
    /// stored W with the update beside it (value W + s·B·A, forward Wx + s·B(Ax)), any other target is
    /// merged (`merge(into:)`). Memory: the factors, r·(in + out) floats a target.
    public func attach(to weights: ModelWeights) throws {
        for pair in pairs {
            let shape = try checkedShape(pair, weights)
            guard ModelWeights.isBlockLinear(pair.target) else {
                try merge(pair, into: weights)
                continue
            }
            guard pair.b.shape[0] == shape[0], pair.a.shape[1] == shape[1] else {
                throw ModelError.mismatch(
                    "\(directory): adapter for '\(pair.target)' has lora_B \(pair.b.shape), lora_A \(pair.a.shape); weight is \(shape)")
            }
            try weights.attachLowRank(pair.target, a: pair.a, b: pair.b, scale: scale)
        }
    }

    private func merge(_ pair: Pair, into weights: ModelWeights) throws {
        _ = try checkedShape(pair, weights)
        let merged = try merged(pair, base: try weights.float32(pair.target))
        try weights.setDense(pair.target, merged.scalars)
    }

    /// The target's shape, after checking the model has it as a matrix.
    private func checkedShape(_ pair: Pair, _ weights: ModelWeights) throws -> [Int] {
        guard weights.contains(pair.target) else {
            throw ModelError.mismatch("\(directory): adapter targets '\(pair.target)', which the model does not have")
        }
        let shape = try weights.shape(of: pair.target)
        guard shape.count == 2 else {
            throw ModelError.mismatch("\(directory): adapter target '\(pair.target)' is not a matrix")
        }
        return shape
    }
}

/// A LoRA update kept beside its base weight W (out, in): the weight's value is W + s·B·A, and the
/// forward pass computes y = Wx + s·B(Ax) (`LinearKernels.addLowRank`), so W keeps its stored type.
struct LowRankUpdate: Sendable {
    var a: [Float]  // (r, in)
    var b: [Float]  // (out, r)
    var rank: Int
    /// s in W + s·B·A.
    var scale: Float

    var inSize: Int { a.count / rank }
    var outSize: Int { b.count / rank }
}
