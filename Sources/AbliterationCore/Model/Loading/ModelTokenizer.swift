import Foundation
import TensorKit

extension LanguageModel {
    /// The tokenizer that comes with the model: from the GGUF file's metadata, or from the Hugging Face
    /// directory's tokenizer.json and tokenizer_config.json.
    public func loadTokenizer() throws -> Tokenizer {
        var isDirectory: ObjCBool = false
        FileManager.default.fileExists(atPath: source, isDirectory: &isDirectory)
        if isDirectory.boolValue {
            throw AbliterationError.unsupported("\(source): reading a tokenizer from a Hugging Face directory is not available yet")
        }
        return try Tokenizer.load(ggufPath: source)
    }
}
