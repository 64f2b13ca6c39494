import Foundation
import TensorKit

extension LanguageModel {
    /// The tokenizer that comes with the model: from the GGUF file's metadata, or from the Hugging Face
    /// directory's tokenizer.json and tokenizer_config.json.
    public func loadTokenizer() throws -> Tokenizer {
        try Tokenizer.load(path: source)
    }
}
