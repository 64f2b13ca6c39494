/// Every error AbliterationCore throws. Each case names what is wrong (the file, tensor, key,
/// layer or plan entry), so the CLI can print one clear line.
public enum AbliterationError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Input that cannot be used as it is (a prompt file, a config key, a measurement file...).
    case invalidInput(String)
    /// Vectors or matrices whose sizes do not fit together.
    case dimensionMismatch(String)
    /// A mean, direction or activation that is zero, NaN or infinite where that makes the math undefined.
    case degenerate(String)
    /// A layer index or span outside the model.
    case layerOutOfRange(String)
    /// A LayerPlan entry that cannot be parsed or validated; the message quotes the entry.
    case invalidPlan(String)
    /// A model, architecture, tokenizer or template feature this tool does not support.
    case unsupported(String)
    /// Files that do not belong together (a measurement of another model, a mismatched adapter).
    case mismatch(String)

    public var description: String {
        switch self {
        case .invalidInput(let m), .dimensionMismatch(let m), .degenerate(let m), .layerOutOfRange(let m),
             .invalidPlan(let m), .unsupported(let m), .mismatch(let m):
            return m
        }
    }
}
