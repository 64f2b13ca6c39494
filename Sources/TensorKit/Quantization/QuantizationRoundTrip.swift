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
        let q = try nf4(values, blockSize: blockSize)
        var out = [Float](repeating: 0, count: values.count)
        q.packed.withUnsafeBufferPointer { packed in
            q.absmax.withUnsafeBufferPointer { absmax in
                BitsAndBytes4Bit.nf4Table.withUnsafeBufferPointer { table in
                    out.withUnsafeMutableBufferPointer { dst in
                        guard let p = packed.baseAddress, let a = absmax.baseAddress, let d = dst.baseAddress else { return }
                        BitsAndBytes4Bit.dequantize(
                            packed: p, count: values.count, absmax: a, blockSize: blockSize, table: table.baseAddress!, into: d)
                    }
                }
            }
        }
        return out
    }
}
