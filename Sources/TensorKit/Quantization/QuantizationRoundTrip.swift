/// Quantize-then-dequantize: the values a quantized copy of a weight would hold, as f32.
///
/// Running a forward pass on these values gives exactly the activations of the quantized model (its
/// kernels dequantize to f32 the same way), which is what measuring "as if 4-bit" needs.
extension Quantizer {
    /// dequantize_Q8_0(quantize_Q8_0(values)); `values.count` must be a multiple of 32.
    public static func q8_0RoundTrip(_ values: [Float]) throws -> [Float] {
        let blocks = try q8_0(values)
        var out = [Float](repeating: 0, count: values.count)
        try blocks.withUnsafeBytes { src in
            try out.withUnsafeMutableBufferPointer { dst in
                guard let s = src.baseAddress, let d = dst.baseAddress else { return }
                try Dequantization.dequantize(.ggml(.q8_0), source: s, count: values.count, into: d)
            }
        }
        return out
    }

    /// bitsandbytes NF4 dequantize(quantize(values)) with plain f32 absmax per `blockSize` values.
    public static func nf4RoundTrip(_ values: [Float], blockSize: Int = 64) throws -> [Float] {
        try fourBitRoundTrip(values, quantType: .nf4, blockSize: blockSize, doubleQuant: false)
    }

    /// bitsandbytes 4-bit dequantize(quantize(values)) against `quantType`'s code book, blocks of
    /// `blockSize`; with `doubleQuant` (bitsandbytes `compress_statistics=True`, transformers'
    /// `bnb_4bit_use_double_quant=True`) the per-block absmax is itself stored in 8 bits
    /// (`doubleQuantize(absmax:)`) and the weights are dequantized with the absmax that round trip gives
    /// back, through the same `BitsAndBytes4Bit.dequantize` a checkpoint's nested absmax goes through.
    public static func fourBitRoundTrip(
        _ values: [Float], quantType: BitsAndBytes4Bit.QuantType, blockSize: Int = 64, doubleQuant: Bool
    ) throws -> [Float] {
        let q = try values.withUnsafeBufferPointer { try fourBit($0, blockSize: blockSize, table: quantType.table) }
        var state = BitsAndBytes4Bit.QuantState(quantType: quantType, blockSize: blockSize, dtype: "float32", shape: [values.count])
        let absmax: BitsAndBytes4Bit.Absmax
        if doubleQuant {
            let nested = try doubleQuantize(absmax: q.absmax)
            state.nestedBlockSize = nested.blockSize
            state.nestedOffset = nested.offset
            state.nestedDType = "float32"
            absmax = .nested(codes: nested.codes, nestedAbsmax: nested.nestedAbsmax, nestedQuantMap: BitsAndBytes4Bit.dynamicMap)
        } else {
            absmax = .float32(q.absmax)
        }
        let out = try q.packed.withUnsafeBytes { try BitsAndBytes4Bit.dequantize(packed: $0, absmax: absmax, state: state) }
        return out.scalars
    }
}

/// bitsandbytes' 8-bit blockwise quantization and the double quantization of 4-bit absmax built on it.
extension Quantizer {
    /// bitsandbytes `quantize_blockwise` (code = `BitsAndBytes4Bit.dynamicMap` by default). Per block of
    /// `blockSize` values (the last may be partial):
    ///
    ///     absmax = max|x|,  s = clamp(x · (1/absmax), −1, 1),  q = the index of the code nearest s
    ///
    /// "nearest" as bitsandbytes' CPU kernel finds it: the number of midpoints (code[k] + code[k+1])/2
    /// (f32) below s, so a value on a midpoint takes the lower code; `code` must be ascending. A block of
    /// zeros has absmax 0 and every q the code of 0 (s = 0; bitsandbytes divides by max(absmax, 1e-38)).
    public static func blockwise8Bit(
        _ values: [Float], blockSize: Int = 256, code: [Float] = BitsAndBytes4Bit.dynamicMap
    ) throws -> (codes: [UInt8], absmax: [Float]) {
        guard blockSize > 0 else {
            throw TensorKitError.invalidBlockData(type: "8-bit blockwise", reason: "block size \(blockSize) is not positive")
        }
        guard code.count == 256, zip(code, code.dropFirst()).allSatisfy({ $0 <= $1 }) else {
            throw TensorKitError.invalidBlockData(type: "8-bit blockwise", reason: "code book has \(code.count) entries or is not ascending; need 256, ascending")
        }
        let midpoints = zip(code, code.dropFirst()).map { ($0 + $1) / 2 }
        let blocks = (values.count + blockSize - 1) / blockSize
        var codes = [UInt8](repeating: 0, count: values.count)
        var absmax = [Float](repeating: 0, count: blocks)
        for b in 0..<blocks {
            let range = (b * blockSize)..<min((b + 1) * blockSize, values.count)
            let amax = values[range].reduce(Float(0)) { max($0, abs($1)) }
            absmax[b] = amax
            let inverse = 1 / max(amax, 1e-38)
            for i in range {
                let s = min(max(values[i] * inverse, -1), 1)
                // First midpoint ≥ s (torch.bucketize, right=False), by bisection.
                var lo = 0, hi = midpoints.count
                while lo < hi {
                    let mid = (lo + hi) / 2
                    if midpoints[mid] < s { lo = mid + 1 } else { hi = mid }
                }
                codes[i] = UInt8(lo)
            }
        }
        return (codes, absmax)
    }

    /// bitsandbytes' double quantization of 4-bit absmax (`quantize_4bit(compress_statistics=True)`):
    ///
    ///     offset = mean(absmax),  (codes, nestedAbsmax) = blockwise8Bit(absmax − offset, blockSize 256)
    ///
    /// restored as absmax′[b] = dynamicMap[codes[b]] · nestedAbsmax[b / 256] + offset
    /// (`BitsAndBytes4Bit.nestedAbsmax`). The mean is summed in f64 and rounded to f32 (torch sums f32
    /// in f32, so the offset may differ from bitsandbytes' in the last bit; it is stored, so the round
    /// trip is consistent either way).
    public static func doubleQuantize(
        absmax: [Float], blockSize: Int = 256
    ) throws -> (codes: [UInt8], nestedAbsmax: [Float], offset: Float, blockSize: Int) {
        let offset = absmax.isEmpty ? 0 : Float(absmax.reduce(0.0) { $0 + Double($1) } / Double(absmax.count))
        let q = try blockwise8Bit(absmax.map { $0 - offset }, blockSize: blockSize)
        return (q.codes, q.absmax, offset, blockSize)
    }
}
