import Foundation

/// SplitMix64: a small, fast, seedable generator for property tests (Steele, Lea and Flood, 2014).
public struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A standard normal sample (Box–Muller).
    public mutating func normal() -> Double {
        let u1 = Double.random(in: Double.ulpOfOne..<1, using: &self)
        let u2 = Double.random(in: 0..<1, using: &self)
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }

    public mutating func normals(_ n: Int, scale: Double = 1, offset: Double = 0) -> [Double] {
        (0..<n).map { _ in offset + scale * normal() }
    }

    /// A uniform sample in [lo, hi) with 24 random bits.
    public mutating func uniform(_ lo: Float, _ hi: Float) -> Float {
        lo + (hi - lo) * Float(next() >> 40) / Float(1 << 24)
    }

    public mutating func floats(_ n: Int, scale: Double = 1) -> [Float] {
        (0..<n).map { _ in Float(scale * normal()) }
    }
}

/// Runs `body` for `count` seeds, each with its own generator; the seed is in every failure message.
public func forEachSeed(_ count: Int, base: UInt64 = 1, _ body: (UInt64, inout SeededGenerator) throws -> Void) rethrows {
    for k in 0..<UInt64(count) {
        let seed = base &* 1_000_003 &+ k
        var g = SeededGenerator(seed: seed)
        try body(seed, &g)
    }
}
