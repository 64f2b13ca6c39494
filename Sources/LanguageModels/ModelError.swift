/// Every error LanguageModels throws (loading, configuration, tokenizers, the forward pass). Each case
/// names what is wrong (the file, tensor, key or layer), so a command can print one clear line.
public enum ModelError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Input that cannot be used as it is (a config key, a tokenizer file, a token id...).
    case invalidInput(String)
    /// Vectors or matrices whose sizes do not fit together.
    case dimensionMismatch(String)
    /// An activation that is NaN or infinite where that makes the result undefined.
    case degenerate(String)
    /// A layer index outside the model.
    case layerOutOfRange(String)
    /// A model, architecture, tokenizer or checkpoint feature this library does not support.
    case unsupported(String)
    /// Files that do not belong together (a mismatched adapter, a tokenizer of another model).
    case mismatch(String)

    public var description: String {
        switch self {
        case .invalidInput(let m), .dimensionMismatch(let m), .degenerate(let m), .layerOutOfRange(let m),
             .unsupported(let m), .mismatch(let m):
            return m
        }
    }
}
