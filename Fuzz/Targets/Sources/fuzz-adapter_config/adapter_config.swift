// LoRA adapter_config.json: the input is the config, beside a fixed valid adapter_model.safetensors
// (rank 2, one target); a loaded adapter is merged into a zero weight of the right shape.
import LanguageModels
import FuzzSupport
import TensorKit

private let directory: String = {
    let dir = Scratch.subdirectory("adapter")
    let a = [Float](repeating: 0.25, count: 2 * 3).withUnsafeBytes { Array($0) }
    let b = [Float](repeating: 0.5, count: 4 * 2).withUnsafeBytes { Array($0) }
    try! SafetensorsWriter.write(
        tensors: [("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight", .f32, [2, 3], a),
                  ("base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight", .f32, [4, 2], b)],
        metadata: ["format": "pt"], to: dir + "/adapter_model.safetensors")
    return dir
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzAdapterConfig(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let dir = directory
    Scratch.write(UnsafeRawBufferPointer(start: data, count: size), to: dir + "/adapter_config.json")
    guard let adapter = try? LoRAAdapter.load(directory: dir) else { return 0 }
    Exercise.adapter(adapter)
    return 0
}
