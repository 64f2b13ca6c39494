// LoRA adapter tensors: the input is adapter_model.safetensors, beside a fixed adapter_config.json
// (r = 2); a loaded adapter is merged into zero weights of the right shapes.
import LanguageModels
import FuzzSupport

private let directory: String = {
    let dir = Scratch.subdirectory("adapter")
    Scratch.write(#"{"peft_type": "LORA", "r": 2, "lora_alpha": 4, "target_modules": ["q_proj", "v_proj"]}"#,
                  to: dir + "/adapter_config.json")
    return dir
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzAdapterTensors(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let dir = directory
    Scratch.write(UnsafeRawBufferPointer(start: data, count: size), to: dir + "/adapter_model.safetensors")
    guard let adapter = try? LoRAAdapter.load(directory: dir) else { return 0 }
    Exercise.adapter(adapter)
    return 0
}
