// Measurement files: the input is a measurements safetensors file; a loaded one yields directions
// and diagnostics.
import AbliterationCore
import FuzzSupport

private let path = Scratch.subdirectory("measurements") + "/measurements.safetensors"

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMeasurements(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    Scratch.write(UnsafeRawBufferPointer(start: data, count: size), to: path)
    guard let m = try? Measurements(contentsOf: path) else { return 0 }
    _ = m.diagnostics()
    for layer in [0, m.metadata.layerCount, m.metadata.layerCount / 2] {
        _ = try? m.direction(at: layer, method: .conventional)
        _ = try? m.direction(at: layer, method: .projected)
        _ = try? m.direction(at: layer, method: .biprojected, target: 0)
    }
    _ = try? m.checkCompatible(architecture: "llama", hiddenSize: 4, layerCount: 2, model: "fuzz")
    return 0
}
