// Layer plans: the input is parsed as the CLI form and as JSON. A parsed plan must print a CLI form
// that parses back to the same plan, and be checkable against a model's layer count.
import AbliterationCore
import Foundation
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPlan(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Data(bytes: data, count: size)
    let text = String(decoding: bytes, as: UTF8.self)
    for plan in [try? LayerPlan(parsing: text), try? LayerPlan(json: bytes)].compactMap({ $0 }) {
        let printed = plan.description
        guard let reparsed = try? LayerPlan(parsing: printed) else {
            preconditionFailure("plan \(plan.entries) prints as '\(printed)', which does not parse")
        }
        precondition(reparsed == plan, "plan '\(printed)' parses back as \(reparsed.entries)")
        _ = try? plan.jsonData()
        _ = plan.measurementLayers
        for layerCount in [1, 30, 64] where (try? plan.validate(layerCount: layerCount)) != nil {
            _ = plan.targetLayers
            _ = plan.entry(forTarget: layerCount - 1)
        }
    }
    return 0
}
