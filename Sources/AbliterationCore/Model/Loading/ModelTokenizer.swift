import Foundation
import TensorKit

extension LanguageModel {
    /// The tokenizer that comes with the model: from the GGUF file's metadata, or from the Hugging Face
    /// directory's tokenizer.json and tokenizer_config.json.
    public func loadTokenizer() throws -> Tokenizer {
        var isDirectory: ObjCBool = false
        FileManager.default.fileExists(atPath: source, isDirectory: &isDirectory)
        if isDirectory.boolValue { return try Tokenizer.load(directory: source) }
        return try Tokenizer.load(ggufPath: source)
    }
}
