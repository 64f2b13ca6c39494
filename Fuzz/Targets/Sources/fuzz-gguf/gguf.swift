// GGUF reader: header, metadata, tensor directory, every tensor's bytes, small tensors dequantized,
// and the tokenizer the metadata describes.
import LanguageModels
import FuzzSupport
@testable import TensorKit

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzGGUF(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let file = MappedFile(path: "fuzz.gguf", copying: UnsafeRawBufferPointer(start: data, count: size))
    guard let gguf = try? GGUFFile(mappedFile: file) else { return 0 }
    for key in gguf.metadataKeys {
        _ = gguf.string(key); _ = gguf.int(key); _ = gguf.float(key); _ = gguf.bool(key)
        _ = gguf.strings(key); _ = gguf.ints(key); _ = gguf.floats(key)
        _ = String(describing: gguf.metadata[key]!)
    }
    for info in gguf.tensorInfos {
        guard let tensor = try? gguf.tensor(info.name) else { continue }
        var sum: UInt8 = 0
        for b in tensor.bytes { sum &+= b }
        if info.elementCount <= 1 << 16 { _ = try? tensor.toFloat32() }
    }
    if let v = try? Tokenizer.vocabulary(gguf: gguf), v.tokens.count <= 1 << 12, let t = try? Tokenizer(vocabulary: v) {
        Exercise.tokenizer(t)
    }
    return 0
}
