/// How close two measurements of one model are: the cosine between their refusal directions at each
/// layer (for example full precision against an NF4 copy).
package enum MeasurementComparison {
    package struct Row: Codable, Sendable, Equatable {
        package var layer: Int
        package var cosine: Double
    }

    /// cos(r̂_a, r̂_b) at every residual index where both directions are defined.
    package static func cosines(_ a: Measurements, _ b: Measurements, method: RefusalDirection.Method) throws -> [Row] {
        guard a.metadata.hiddenSize == b.metadata.hiddenSize, a.metadata.layerCount == b.metadata.layerCount else {
            throw AbliterationError.mismatch(
                "cannot compare measurements of hidden size \(a.metadata.hiddenSize) × \(a.metadata.layerCount) layers with \(b.metadata.hiddenSize) × \(b.metadata.layerCount)")
        }
        return a.layers.compactMap { layer in
            guard let ra = try? a.direction(at: layer, method: method),
                  let rb = try? b.direction(at: layer, method: method) else { return nil }
            var dot = 0.0
            for i in ra.unit64.indices { dot += ra.unit64[i] * rb.unit64[i] }
            return Row(layer: layer, cosine: dot)
        }
    }
}
