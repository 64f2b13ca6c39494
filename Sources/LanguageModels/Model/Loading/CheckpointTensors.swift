import Foundation
import TensorKit

/// Reading one dense weight from a safetensors checkpoint (f32, f16, bf16 kept as they are;
/// bitsandbytes 4-bit weights go through `BitsAndBytesWeight`).
enum CheckpointTensors {
    static func read(
        _ checkpoint: SafetensorsCheckpoint, _ name: String, expectedShape shape: [Int], source: String
    ) throws -> StoredTensor {
        let t = try checkpoint.tensor(name)
        switch t.type {
        case .dense(.f32), .dense(.f16), .dense(.bf16):
            try CheckpointLoader.checkShape(t.shape, expected: shape, tensor: name, source: source)
            return t
        default:
            throw ModelError.unsupported("\(source): tensor '\(name)' has unsupported type \(t.type)")
        }
    }
}
