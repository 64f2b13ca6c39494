// A package that uses abliterate as a library: the method on activations from any runtime.
// Scripts/check-consumer.sh builds it against this repository by a versioned URL (release mode).
import AbliterationCore
import TensorKit

/// A deterministic stand-in for activations a user's own runtime would capture (xorshift64*).
struct Activations {
    var state: UInt64 = 0x9E37_79B9_7F4A_7C15
    mutating func next() -> Float {
        state ^= state >> 12; state ^= state << 25; state ^= state >> 27
        return Float(Double((state &* 0x2545_F491_4F6C_DD1D) >> 40) / Double(1 << 24)) - 0.5
    }
    /// A vector of `hidden` values; harmful ones carry an offset along the first axis.
    mutating func vector(hidden: Int, harmful: Bool) -> [Float] {
        (0..<hidden).map { i in next() + (harmful && i == 0 ? 4 : 0) + 1 }
    }
}

let hidden = 16
var source = Activations()
let winsorizer = try Winsorizer(quantile: 0.995)
var harmful = RunningMean(dimension: hidden), harmless = RunningMean(dimension: hidden)
for _ in 0..<64 {
    try harmful.add(try winsorizer.clipped(source.vector(hidden: hidden, harmful: true)))
    try harmless.add(try winsorizer.clipped(source.vector(hidden: hidden, harmful: false)))
}
let direction = try RefusalDirection.projected(harmful: harmful.mean, harmless: harmless.mean)

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
