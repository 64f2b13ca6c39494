import Foundation

/// What a model path names: a Hugging Face directory or a single file (GGUF, safetensors).
enum ModelPath {
    /// Whether `path` is a directory; throws `invalidInput` naming the path when nothing is there.
    static func isDirectory(_ path: String) throws -> Bool {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw ModelError.invalidInput("\(path): no such file or directory")
        }
        return isDirectory.boolValue
    }
}
