/// Every error TensorKit throws. Each case names the file and the key or tensor involved,
/// so a user can find the broken input without a debugger.
public enum TensorKitError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The file could not be opened, mapped or written.
    case io(file: String, reason: String)
    /// The file is not what its extension or magic says it is, or its structure is broken.
    case malformed(file: String, key: String, reason: String)
    /// A tensor the caller asked for is not in the file.
    case missingTensor(file: String, name: String)
    /// A dtype or quantization type this library does not know.
    case unsupportedType(file: String, tensor: String, type: String)
    /// Shapes that do not fit the operation or the bytes behind them.
    case shapeMismatch(operation: String, reason: String)
    /// Quantized data whose length is not a whole number of blocks.
    case invalidBlockData(type: String, reason: String)

    public var description: String {
        switch self {
        case let .io(file, reason): return "\(file): \(reason)"
        case let .malformed(file, key, reason): return "\(file): \(key): \(reason)"
        case let .missingTensor(file, name): return "\(file): tensor '\(name)' not found"
        case let .unsupportedType(file, tensor, type):
            return "\(file): tensor '\(tensor)': unsupported type \(type)"
        case let .shapeMismatch(operation, reason): return "\(operation): shape mismatch: \(reason)"
        case let .invalidBlockData(type, reason): return "\(type): invalid block data: \(reason)"
        }
    }
}
