// Sharded checkpoint index: the input is `model.safetensors.index.json` in a directory that also holds
// two small valid shards (written once with the repository's own writer) and a bad one.
import FuzzSupport
import TensorKit

private let directory: String = {
    let dir = Scratch.subdirectory("checkpoint")
    let f32 = [Float](repeating: 0.5, count: 6).withUnsafeBytes { Array($0) }
    try! SafetensorsWriter.write(
        tensors: [("model.embed_tokens.weight", .f32, [2, 3], f32), ("model.norm.weight", .f32, [6], f32)],
        metadata: ["format": "pt"], to: dir + "/model-00001-of-00002.safetensors")
    try! SafetensorsWriter.write(
        tensors: [("lm_head.weight", .f32, [3, 2], f32), ("model.layers.0.mlp.down_proj.weight", .f32, [1, 6], f32)],
        metadata: ["format": "pt"], to: dir + "/model-00002-of-00002.safetensors")
    Scratch.write("not a safetensors file", to: dir + "/broken.safetensors")
    return dir
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafetensorsIndex(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let dir = directory
    Scratch.write(UnsafeRawBufferPointer(start: data, count: size), to: dir + "/" + SafetensorsCheckpoint.indexFileName)
    guard let checkpoint = try? SafetensorsCheckpoint(directory: dir) else { return 0 }
    _ = checkpoint.metadata
    for name in checkpoint.tensorNames {
        _ = checkpoint.file(for: name)
        _ = checkpoint.info(name)
        _ = try? checkpoint.tensor(name).toFloat32()
    }
    return 0
}
