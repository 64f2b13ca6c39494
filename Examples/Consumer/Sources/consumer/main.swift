// A package that uses abliterate as a library: the method on activations from any runtime.
// Scripts/check-consumer.sh builds it against this repository by a versioned URL (release mode).
import AbliterationCore
import TensorKit

/// A deterministic stand-in for activations a user's own runtime would capture (xorshift64*).
struct Activations {
    var state: UInt64
    mutating func next() -> Float {
        state ^= state >> 12; state ^= state << 25; state ^= state >> 27
        return Float(Double((state &* 0x2545_F491_4F6C_DD1D) >> 40) / Double(1 << 24)) - 0.5
    }
}

/// A model run elsewhere (MLX, llama.cpp, PyTorch), seen through the one protocol the measurement
/// loop needs. Here the "forward pass" is synthetic: a sequence that starts with token 1 is harmful,
/// and from layer 2 on its residual carries an offset along the first axis.
struct SyntheticModel: ResidualSource {
    let hiddenSize = 16
    let layerCount = 4

    func lastTokenResiduals(of batch: [[Int]], layers: [Int]) throws -> [[Float]] {
        layers.map { layer in
            batch.flatMap { tokens -> [Float] in
                var noise = Activations(state: 0x9E37_79B9_7F4A_7C15 &+ UInt64(tokens.reduce(0) { $0 &* 31 &+ $1 }) &* 977 &+ UInt64(layer))
                let harmful = tokens.first == 1 && layer >= 2
                return (0..<hiddenSize).map { i in noise.next() + (harmful && i == 0 ? 4 : 0) + 1 }
            }
        }
    }
}

// Token ids as the user's tokenizer produced them: 64 harmful and 64 harmless "prompts" of varying length.
let model = SyntheticModel()
let hidden = model.hiddenSize
let harmfulTokens = (0..<64).map { [1] + Array(repeating: 10 + $0, count: 3 + $0 % 5) }
let harmlessTokens = (0..<64).map { [2] + Array(repeating: 10 + $0, count: 3 + $0 % 5) }
let measurements = try ResidualMeasurement.measure(
    model, harmful: harmfulTokens, harmless: harmlessTokens,
    metadata: MeasurementMetadata(
        model: "synthetic", adapter: nil, architecture: "synthetic", hiddenSize: hidden, layerCount: model.layerCount,
        harmfulCount: 0, harmlessCount: 0, winsorizeQuantile: 0.995, quantization: "none",
        chatTemplate: false, systemPrompt: nil),
    batchSize: 16)
let direction = try measurements.direction(at: 3, method: .projected)

// A (hidden, 8) matrix that writes into the residual stream, edited in bf16 as a checkpoint stores it.
let columns = 8
var weight = try Tensor<BFloat16>(
    shape: [hidden, columns],
    scalars: (0..<hidden * columns).map { BFloat16(Float(($0 * 7) % 11) - 5) })
let orthogonalizer = try Orthogonalizer(direction)
try orthogonalizer.apply(to: &weight, orientation: .writesToResidual)

// What the edited matrix still writes along the direction: r̂ᵀW′, zero up to bf16 rounding.
let unit = direction.unit
var worst: Float = 0
for j in 0..<columns {
    var p: Float = 0
    for i in 0..<hidden { p += unit[i] * weight.scalars[i * columns + j].floatValue }
    worst = max(worst, abs(p))
}
print("direction along axis 0: \(unit[0]); largest |r̂ᵀW′| after the edit: \(worst)")
guard abs(unit[0]) > 0.9, worst < 0.1 else { fatalError("the edit did not remove the direction") }
