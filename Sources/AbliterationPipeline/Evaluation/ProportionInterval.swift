import Foundation
import AbliterationCore
import LanguageModels

/// A proportion k/n with a two-sided confidence interval.
public struct ProportionInterval: Equatable, Sendable {
    public let successes: Int
    public let total: Int
    public let confidence: Double
    /// k/n; 0 when n = 0.
    public let proportion: Double
    public let lower: Double
    public let upper: Double

    /// The Wilson score interval. With p̂ = k/n and z the standard normal quantile at (1 + confidence)/2:
    ///
    ///     centre = (p̂ + z²/(2n)) / (1 + z²/n)
    ///     half   = z / (1 + z²/n) · √( p̂(1 − p̂)/n + z²/(4n²) )
    ///
    /// clamped to [0, 1]. For n = 0 nothing is known: proportion 0 and the interval [0, 1].
    public static func wilson(successes: Int, total: Int, confidence: Double = 0.95) throws -> ProportionInterval {
        guard total >= 0, successes >= 0, successes <= total else {
            throw AbliterationError.invalidInput(
                "proportion interval: need 0 <= successes <= total, got \(successes) of \(total)")
        }
        guard confidence > 0, confidence < 1 else {
            throw AbliterationError.invalidInput("proportion interval: confidence must be in (0, 1), got \(confidence)")
        }
        guard total > 0 else {
            return ProportionInterval(successes: 0, total: 0, confidence: confidence, proportion: 0, lower: 0, upper: 1)
        }
        let n = Double(total)
        let p = Double(successes) / n
        let z = standardNormalQuantile((1 + confidence) / 2)
        let z2 = z * z
        let denominator = 1 + z2 / n
        let centre = (p + z2 / (2 * n)) / denominator
        let half = z / denominator * (p * (1 - p) / n + z2 / (4 * n * n)).squareRoot()
        // At k = 0 (k = n) the exact lower (upper) bound is 0 (1); pin it against rounding.
        let lower = successes == 0 ? 0 : max(0, centre - half)
        let upper = successes == total ? 1 : min(1, centre + half)
        return ProportionInterval(successes: successes, total: total, confidence: confidence,
                                  proportion: p, lower: lower, upper: upper)
    }

    /// Φ⁻¹(u) for u in (0, 1). By symmetry Φ⁻¹(u) = −Φ⁻¹(1 − u), so only the lower half is solved:
    /// Newton's method on Φ(x) = erfc(−x/√2)/2 − u from x = 0. Φ is convex for x ≤ 0, so the iterates
    /// decrease monotonically to the root; the tail is evaluated with erfc, without cancellation.
    static func standardNormalQuantile(_ u: Double) -> Double {
        if u > 0.5 { return -standardNormalQuantile(1 - u) }
        var x = 0.0
        for _ in 0..<200 {
            let cdf = 0.5 * erfc(-x / 2.0.squareRoot())
            let pdf = exp(-0.5 * x * x) / (2 * Double.pi).squareRoot()
            let step = (cdf - u) / pdf
            x -= step
            if !(abs(step) > 1e-15 * max(1, abs(x))) { break }
        }
        return x
    }
}
