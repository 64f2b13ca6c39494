// safetensors reader: header JSON, tensor table, every tensor's bytes, small tensors widened to f32.
import FuzzSupport
@testable import TensorKit

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafetensors(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let file = MappedFile(path: "fuzz.safetensors", copying: UnsafeRawBufferPointer(start: data, count: size))
    guard let st = try? SafetensorsFile(mappedFile: file) else { return 0 }
    _ = st.metadata.count
    for info in st.tensorInfos {
        guard let tensor = try? st.tensor(info.name) else { continue }
        var sum: UInt8 = 0
        for b in tensor.bytes { sum &+= b }
        if info.elementCount <= 1 << 16 { _ = try? tensor.toFloat32() }
    }
    return 0
}
