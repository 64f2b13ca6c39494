import Foundation
import TensorKit

/// Anything that can run a model on token ids and hand back its residual stream: this package's own
/// runtime (`ModelSession` in AbliterationPipeline), or activations taken from MLX, llama.cpp or
/// PyTorch. It is all `ResidualMeasurement.measure` needs.
///
/// Layer convention: residual index L is the *input* of block L (Hugging Face `hidden_states[L]`);
/// index 0 is the embedding output and index `layerCount` the output of the last block, before the
/// final norm. Indices run 0...layerCount.
public protocol ResidualSource {
    /// Width of the residual stream.
    var hiddenSize: Int { get }
    /// Number of transformer blocks.
    var layerCount: Int { get }
    /// For each token-id sequence of `batch`, the residual-stream vector at its last token, at each
    /// residual index of `layers`. The result has one array per entry of `layers`, in that order, each
    /// `batch.count × hiddenSize` f32 values, row-major (row i belongs to `batch[i]`).
    func lastTokenResiduals(of batch: [[Int]], layers: [Int]) throws -> [[Float]]
}

/// Steps 1–2 of the method: take the residual stream at the last token of harmful and harmless
/// sequences at every residual index, Winsorize each vector, and accumulate per-layer means.
/// AbliterationPipeline adds the step before (instructions → chat template → token ids).
public enum ResidualMeasurement {
    /// Per-layer running means (indices 0...`source.layerCount`) of the last-token residuals of
    /// `harmful` and `harmless` token-id sequences. Sequences go to `source` in batches of at most
    /// `batchSize`, grouped by length; each vector is Winsorized at `winsorizeQuantile` (1 = no
    /// clipping) before it is added, so the result does not depend on batching.
    /// `progress(done, total)` is called after each batch. `describe(label, index)` may name a
    /// sequence ("harmful"/"harmless", index into its array) in the error for a NaN activation.
    public static func accumulate<Source: ResidualSource>(
        _ source: Source, harmful: [[Int]], harmless: [[Int]], winsorizeQuantile: Double = 0.995,
        batchSize: Int = 32, describe: ((String, Int) -> String)? = nil, progress: ((Int, Int) -> Void)? = nil
    ) throws -> (harmful: [RunningMean], harmless: [RunningMean]) {
        guard !harmful.isEmpty, !harmless.isEmpty else {
            throw AbliterationError.invalidInput("measure: need at least one harmful and one harmless prompt (got \(harmful.count), \(harmless.count))")
        }
        let hidden = source.hiddenSize
        guard hidden > 0, source.layerCount >= 0 else {
            throw AbliterationError.invalidInput("measure: the source has hidden size \(hidden), layer count \(source.layerCount)")
        }
        let winsorizer = try Winsorizer(quantile: winsorizeQuantile)
        let layers = Array(0...source.layerCount)
        let total = harmful.count + harmless.count
        var done = 0

        func run(_ sequences: [[Int]], label: String) throws -> [RunningMean] {
            var means = layers.map { _ in RunningMean(dimension: hidden) }
            for batch in lengthSortedBatches(sequences.map(\.count), batchSize: batchSize) {
                let residuals = try source.lastTokenResiduals(of: batch.map { sequences[$0] }, layers: layers)
                guard residuals.count == layers.count else {
                    throw AbliterationError.dimensionMismatch(
                        "measure: the source returned \(residuals.count) layers of residuals, expected \(layers.count)")
                }
                for (l, layer) in layers.enumerated() {
                    var rows = residuals[l]
                    guard rows.count == batch.count * hidden else {
                        throw AbliterationError.dimensionMismatch(
                            "measure: the source returned \(rows.count) values at layer \(layer) for a batch of \(batch.count), expected \(batch.count) × \(hidden)")
                    }
                    for (r, index) in batch.enumerated() {
                        guard rows[r * hidden..<(r + 1) * hidden].allSatisfy({ $0.isFinite }) else {
                            let name = describe.map { ": " + $0(label, index) } ?? ""
                            throw AbliterationError.degenerate(
                                "measure: NaN or infinite activation at layer \(layer) for \(label) prompt \(index)\(name)")
                        }
                    }
                    try winsorizer.clipRows(&rows, rowLength: hidden)
                    try means[l].addRows(rows, rowCount: batch.count, rowLength: hidden)
                }
                done += batch.count
                progress?(done, total)
            }
            return means
        }

        return (try run(harmful, label: "harmful"), try run(harmless, label: "harmless"))
    }

    /// `accumulate` as a `Measurements` value, with `metadata` completed from the source and the
    /// counts (hidden size, layer count, harmful and harmless counts, Winsorization quantile).
    public static func measure<Source: ResidualSource>(
        _ source: Source, harmful: [[Int]], harmless: [[Int]], metadata: MeasurementMetadata,
        batchSize: Int = 32, describe: ((String, Int) -> String)? = nil, progress: ((Int, Int) -> Void)? = nil
    ) throws -> Measurements {
        let means = try accumulate(
            source, harmful: harmful, harmless: harmless, winsorizeQuantile: metadata.winsorizeQuantile,
            batchSize: batchSize, describe: describe, progress: progress)
        var metadata = metadata
        metadata.hiddenSize = source.hiddenSize
        metadata.layerCount = source.layerCount
        metadata.harmfulCount = harmful.count
        metadata.harmlessCount = harmless.count
        return try Measurements(metadata: metadata, harmful: means.harmful, harmless: means.harmless)
    }

    /// Indices of sequences in batches of at most `batchSize`, grouping sequences of similar length
    /// so little padding is computed. Each batch lists indices into the original array.
    package static func lengthSortedBatches(_ lengths: [Int], batchSize: Int) -> [[Int]] {
        let order = lengths.indices.sorted { (lengths[$0], $0) < (lengths[$1], $1) }
        return stride(from: 0, to: order.count, by: max(1, batchSize)).map {
            Array(order[$0..<min($0 + max(1, batchSize), order.count)])
        }
    }
}
