import Foundation
import TensorKit

/// A bitsandbytes 4-bit (NF4/FP4) linear weight kept packed: the 4-bit codes stay in the mapped
/// file, the per-block scales are resolved to f32 once (nested absmax expanded), and rows are
/// widened on demand. Values are rounded to the weight's original dtype (bf16/f16), as bitsandbytes
/// does before the matmul.
struct BitsAndBytesWeight: @unchecked Sendable {
    let name: String
    let packed: StoredTensor
    let scales: [Float]
    let table: [Float]
    let state: BitsAndBytes4Bit.QuantState

    var shape: [Int] { state.shape }
    var rowLength: Int { state.shape.dropFirst().reduce(1, *) }

    /// Reads `NAME` and its companions from a checkpoint.
    static func read(_ checkpoint: SafetensorsCheckpoint, _ name: String, source: String) throws -> BitsAndBytesWeight? {
        let names = Set(checkpoint.tensorNames)
        guard let stateName = ["nf4", "fp4"].map({ "\(name).quant_state.bitsandbytes__\($0)" }).first(where: names.contains)
        else { return nil }
        func require(_ n: String) throws -> StoredTensor {
            guard names.contains(n) else { throw ModelError.invalidInput("\(source): missing tensor '\(n)'") }
            return try checkpoint.tensor(n)
        }
        let state = try BitsAndBytes4Bit.QuantState.parse(json: [UInt8](try require(stateName).bytes), tensor: stateName)
        guard state.blockSize % 2 == 0 else {
            throw ModelError.unsupported("\(source): '\(name)': odd bitsandbytes block size \(state.blockSize)")
        }
        let packed = try require(name)
        let absmax = try require(name + ".absmax")
        // n fits an Int (the quant state's parser checked); the ceilings below are written not to overflow.
        let n = state.shape.reduce(1, *)
        func blocks(_ count: Int, of size: Int) -> Int { count / size + (count % size == 0 ? 0 : 1) }
        guard packed.bytes.count == blocks(n, of: 2) else {
            throw ModelError.dimensionMismatch("\(source): '\(name)' has \(packed.bytes.count) packed bytes for shape \(state.shape)")
        }
        var table = state.quantType.table
        if names.contains(name + ".quant_map") { table = try checkpoint.tensor(name + ".quant_map").toFloat32().scalars }
        guard table.count == 16 else { throw ModelError.invalidInput("\(source): '\(name).quant_map' has \(table.count) entries, need 16") }
        let scales: [Float]
        if state.isNested {
            let nested = try require(name + ".nested_absmax").toFloat32().scalars
            let nestedMap = try require(name + ".nested_quant_map").toFloat32().scalars
            guard absmax.type == .dense(.u8), nestedMap.count == 256, let nb = state.nestedBlockSize,
                  nested.count == blocks(absmax.bytes.count, of: nb) else {
                throw ModelError.invalidInput("\(source): '\(name)': inconsistent nested absmax tensors")
            }
            scales = BitsAndBytes4Bit.nestedAbsmax(
                codes: [UInt8](absmax.bytes), nestedAbsmax: nested, nestedQuantMap: nestedMap,
                nestedBlockSize: nb, offset: state.nestedOffset ?? 0)
        } else {
            scales = try absmax.toFloat32().scalars
        }
        guard scales.count == blocks(n, of: state.blockSize) else {
            throw ModelError.dimensionMismatch("\(source): '\(name).absmax' has \(scales.count) scales for \(n) values")
        }
        return BitsAndBytesWeight(name: name, packed: packed, scales: scales, table: table, state: state)
    }

    /// Widens rows into `destination`.
    func dequantizeRows(_ rows: Range<Int>, into destination: UnsafeMutablePointer<Float>) {
        let first = rows.lowerBound * rowLength, count = rows.count * rowLength
        let block = state.blockSize
        let src = packed.bytes.baseAddress!.assumingMemoryBound(to: UInt8.self)
        scales.withUnsafeBufferPointer { s in
            table.withUnsafeBufferPointer { t in
                if first % block == 0 && first % 2 == 0 {
                    BitsAndBytes4Bit.dequantize(
                        packed: src + first / 2, count: count, absmax: s.baseAddress! + first / block,
                        blockSize: block, table: t.baseAddress!, into: destination)
                } else {
                    // Rows not aligned to blocks: widen from the enclosing block boundary.
                    let start = (first / block) * block
                    let span = first + count - start
                    let temp = UnsafeMutablePointer<Float>.allocate(capacity: span)
                    defer { temp.deallocate() }
                    BitsAndBytes4Bit.dequantize(
                        packed: src + start / 2, count: span, absmax: s.baseAddress! + start / block,
                        blockSize: block, table: t.baseAddress!, into: temp)
                    destination.update(from: temp + (first - start), count: count)
                }
            }
        }
        switch state.dtype {
        case "bfloat16":
            for i in 0..<count { destination[i] = BFloat16(destination[i]).floatValue }
        case "float16":
            for i in 0..<count { destination[i] = Float(Float16(destination[i])) }
        default:
            break
        }
    }
}
