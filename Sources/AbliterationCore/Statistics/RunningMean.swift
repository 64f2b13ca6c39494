import TensorKit

/// A scalar type whose values widen exactly to `Double`: the element types residuals arrive in.
public protocol Float64Widening {
    var float64Value: Double { get }
}

extension Float: Float64Widening { @inlinable public var float64Value: Double { Double(self) } }
extension Double: Float64Widening { @inlinable public var float64Value: Double { self } }
extension Float16: Float64Widening { @inlinable public var float64Value: Double { Double(self) } }
extension BFloat16: Float64Widening { @inlinable public var float64Value: Double { Double(floatValue) } }

/// The running mean and variance of a stream of vectors of one dimension, accumulated in Float64
/// whatever the input type.
///
/// One vector at a time it is Welford's update: with n ← n + 1, δ = x − μ,
///     μ ← μ + δ / n,    M₂ ← M₂ + δ ⊙ (x − μ_new),
/// so `M₂` is the sum of squared deviations from the mean, per component.
///
/// Two accumulators (n_a, μ_a, M₂a) and (n_b, μ_b, M₂b) combine by Chan, Golub and LeVeque's formula:
///     n = n_a + n_b,   δ = μ_b − μ_a,   μ = μ_a + δ·n_b/n,   M₂ = M₂a + M₂b + δ²·n_a·n_b/n.
/// A batch (the rows of a matrix) is folded in as its own two-pass (mean, M₂) merged by that formula,
/// so batches and threads may be combined in any order; results agree to about 1e-12 relative.
public struct RunningMean: Equatable, Sendable, Codable {
    /// The vector length.
    public let dimension: Int
    /// How many vectors have been added.
    public private(set) var count: Int
    /// μ, per component.
    public private(set) var mean: [Double]
    /// M₂ = Σ (x − μ)², per component.
    public private(set) var sumOfSquaredDeviations: [Double]

    /// An empty accumulator for vectors of `dimension` components.
    public init(dimension: Int) {
        precondition(dimension >= 0, "RunningMean: negative dimension \(dimension)")
        self.dimension = dimension
        self.count = 0
        self.mean = Array(repeating: 0, count: dimension)
        self.sumOfSquaredDeviations = Array(repeating: 0, count: dimension)
    }

    /// An accumulator restored from stored statistics (a measurements file).
    public init(count: Int, mean: [Double], sumOfSquaredDeviations: [Double]) throws {
        guard count >= 0 else { throw AbliterationError.invalidInput("RunningMean: negative count \(count)") }
        guard mean.count == sumOfSquaredDeviations.count else {
            throw AbliterationError.dimensionMismatch(
                "RunningMean: mean has \(mean.count) components, M2 has \(sumOfSquaredDeviations.count)")
        }
        self.dimension = mean.count
        self.count = count
        self.mean = mean
        self.sumOfSquaredDeviations = sumOfSquaredDeviations
    }

    /// Sample variance M₂ / (n − 1) per component; zeros while n < 2.
    public var variance: [Double] {
        count < 2 ? Array(repeating: 0, count: dimension) : sumOfSquaredDeviations.map { $0 / Double(count - 1) }
    }

    /// Population variance M₂ / n per component; zeros while n = 0.
    public var populationVariance: [Double] {
        count == 0 ? Array(repeating: 0, count: dimension) : sumOfSquaredDeviations.map { $0 / Double(count) }
    }

    /// The mean as a rank-1 f32 tensor of shape (dimension).
    public func meanTensor() -> Tensor<Float> {
        try! Tensor(shape: [dimension], scalars: mean.map { Float($0) })
    }

    /// Adds one vector (Welford's update).
    public mutating func add<V: Collection>(_ vector: V) throws where V.Element: Float64Widening {
        guard vector.count == dimension else {
            throw AbliterationError.dimensionMismatch(
                "RunningMean: vector has \(vector.count) components, expected \(dimension)")
        }
        count += 1
        let n = Double(count)
        var i = 0
        for v in vector {
            let x = v.float64Value
            let delta = x - mean[i]
            mean[i] += delta / n
            sumOfSquaredDeviations[i] += delta * (x - mean[i])
            i += 1
        }
    }

    /// Adds every row of a rank-2 tensor (batch, dimension) as one batch.
    public mutating func add<S: TensorScalar & Float64Widening>(rows: Tensor<S>) throws {
        guard rows.rank == 2 else {
            throw AbliterationError.dimensionMismatch("RunningMean: rows tensor has shape \(rows.shape); need (batch, \(dimension))")
        }
        try addRows(rows.scalars, rowCount: rows.shape[0], rowLength: rows.shape[1])
    }

    /// Adds `rowCount` consecutive rows of `rowLength` elements from a flat row-major array, as one batch.
    public mutating func addRows<S: Float64Widening>(_ scalars: [S], rowCount: Int, rowLength: Int) throws {
        guard rowLength == dimension, rowCount >= 0, scalars.count == rowCount * rowLength else {
            throw AbliterationError.dimensionMismatch(
                "RunningMean: \(scalars.count) values as \(rowCount) rows of \(rowLength); expected rows of \(dimension)")
        }
        if rowCount == 0 { return }
        // Two passes over the batch in f64: its mean, then its M₂.
        var batchMean = [Double](repeating: 0, count: dimension)
        for r in 0..<rowCount {
            let base = r * rowLength
            for i in 0..<dimension { batchMean[i] += scalars[base + i].float64Value }
        }
        let n = Double(rowCount)
        for i in 0..<dimension { batchMean[i] /= n }
        var batchM2 = [Double](repeating: 0, count: dimension)
        for r in 0..<rowCount {
            let base = r * rowLength
            for i in 0..<dimension {
                let d = scalars[base + i].float64Value - batchMean[i]
                batchM2[i] += d * d
            }
        }
        merge(count: rowCount, mean: batchMean, sumOfSquaredDeviations: batchM2)
    }

    /// Folds another accumulator of the same dimension into this one (Chan's parallel formula).
    public mutating func merge(_ other: RunningMean) throws {
        guard other.dimension == dimension else {
            throw AbliterationError.dimensionMismatch(
                "RunningMean: cannot merge dimension \(other.dimension) into \(dimension)")
        }
        merge(count: other.count, mean: other.mean, sumOfSquaredDeviations: other.sumOfSquaredDeviations)
    }

    /// This accumulator merged with another.
    public func merged(with other: RunningMean) throws -> RunningMean {
        var out = self
        try out.merge(other)
        return out
    }

    private mutating func merge(count nb: Int, mean meanB: [Double], sumOfSquaredDeviations m2b: [Double]) {
        if nb == 0 { return }
        if count == 0 {
            count = nb
            mean = meanB
            sumOfSquaredDeviations = m2b
            return
        }
        let na = Double(count), nbD = Double(nb), n = na + nbD
        let wb = nbD / n, cross = na * nbD / n
        for i in 0..<dimension {
            let delta = meanB[i] - mean[i]
            mean[i] += delta * wb
            sumOfSquaredDeviations[i] += m2b[i] + delta * delta * cross
        }
        count += nb
    }
}
