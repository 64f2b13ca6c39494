/// Dispatch from a storage type to its dequantization kernel.
public enum Dequantization {
    /// Writes `count` f32 values decoded from `source` (laid out as `type`) into `destination`.
    /// `count` must be a whole number of blocks. `tensor` names the tensor in errors.
    public static func dequantize(
        _ type: StorageType, source: UnsafeRawPointer, count: Int,
        into destination: UnsafeMutablePointer<Float>, tensor: String = "?"
    ) throws {
        switch type {
        case .dense(.f32), .ggml(.f32):
            destination.update(from: source.assumingMemoryBound(to: Float.self), count: count)
        case .dense(.bf16), .ggml(.bf16):
            Precision.convertBF16ToF32(source.assumingMemoryBound(to: UInt16.self), destination, count: count)
        case .dense(.f16), .ggml(.f16):
            Precision.convertF16ToF32(source.assumingMemoryBound(to: UInt16.self), destination, count: count)
        case .dense(.f64):
            let s = source.assumingMemoryBound(to: Double.self)
            for i in 0..<count { destination[i] = Float(s[i]) }
        case .ggml(let g):
            guard count % g.blockSize == 0 else {
                throw TensorKitError.invalidBlockData(
                    type: g.name, reason: "tensor '\(tensor)': \(count) values is not a multiple of the block size \(g.blockSize)")
            }
            guard let kernel = GGMLBlocks.kernel(for: g) else {
                throw TensorKitError.unsupportedType(file: "", tensor: tensor, type: g.name)
            }
            kernel(source, destination, count / g.blockSize)
        case .dense(let d):
            throw TensorKitError.unsupportedType(file: "", tensor: tensor, type: d.rawValue)
        }
    }
}
