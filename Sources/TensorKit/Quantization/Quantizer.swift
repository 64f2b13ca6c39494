/// Quantizers, for measuring a weight "as if" it were stored quantized (dequantize(quantize(x)) − x).
public enum Quantizer {
    /// ggml's `quantize_row_q8_0_ref` (and gguf-py's `Q8_0.quantize`), bit-exact. Per block of 32:
    ///
    ///     d = max|x| / 127,  id = d ≠ 0 ? 1/d : 0,  q[j] = roundf(x[j] · id)  (half away from zero)
    ///
    /// stored as `d` in f16 (round to nearest even) followed by the 32 int8 `q`; the codes are computed with
    /// the f32 `d`, before its rounding to f16. Throws when the count is not a multiple of 32.
    public static func q8_0(_ values: UnsafeBufferPointer<Float>) throws -> [UInt8] {
        guard values.count % 32 == 0 else {
            throw TensorKitError.invalidBlockData(type: "Q8_0", reason: "\(values.count) values is not a multiple of 32")
        }
        let blocks = values.count / 32
        var out = [UInt8](repeating: 0, count: blocks * 34)
        guard blocks > 0, let x = values.baseAddress else { return out }
        out.withUnsafeMutableBytes { GGMLQuantizer.quantizeQ8_0(x, $0.baseAddress!, blocks) }
        return out
    }

    /// `q8_0` of an array.
    public static func q8_0(_ values: [Float]) throws -> [UInt8] {
        try values.withUnsafeBufferPointer { try q8_0($0) }
    }

    /// bitsandbytes 4-bit NF4 quantization (`quantize_4bit`, quant_type "nf4"). Per block of `blockSize`
    /// (the last block may be partial):
    ///
    ///     absmax = max|x|,  s = clamp(x · (1/absmax), −1, 1),  code = argmin_k |s − NF4[k]|  (lowest k on ties)
    ///
    /// A block of zeros has absmax 0 and every code 7 (NF4's 0). Codes are packed two per byte, the first
    /// value in the high nibble; an odd count leaves the last low nibble 0.
    public static func nf4(_ values: UnsafeBufferPointer<Float>, blockSize: Int = 64) throws -> (packed: [UInt8], absmax: [Float]) {
        try fourBit(values, blockSize: blockSize, table: BitsAndBytes4Bit.nf4Table)
    }

    /// `nf4` of an array.
    public static func nf4(_ values: [Float], blockSize: Int = 64) throws -> (packed: [UInt8], absmax: [Float]) {
        try values.withUnsafeBufferPointer { try nf4($0, blockSize: blockSize) }
    }

    /// bitsandbytes 4-bit quantization against any 16-entry code table (NF4 or FP4), as `nf4` describes.
    public static func fourBit(
        _ values: UnsafeBufferPointer<Float>, blockSize: Int, table: [Float]
    ) throws -> (packed: [UInt8], absmax: [Float]) {
        guard blockSize > 0 else {
            throw TensorKitError.invalidBlockData(type: "4-bit", reason: "block size \(blockSize) is not positive")
        }
        guard table.count == 16 else {
            throw TensorKitError.invalidBlockData(type: "4-bit", reason: "code table has \(table.count) entries; need 16")
        }
        let n = values.count
        let blocks = (n + blockSize - 1) / blockSize
        var packed = [UInt8](repeating: 0, count: (n + 1) / 2)
        var absmax = [Float](repeating: 0, count: blocks)
        guard n > 0, let x = values.baseAddress else { return (packed, absmax) }
        table.withUnsafeBufferPointer { code in
            packed.withUnsafeMutableBufferPointer { out in
                absmax.withUnsafeMutableBufferPointer { scales in
                    fourBit(x, count: n, blockSize: blockSize, table: code.baseAddress!,
                            packed: out.baseAddress!, absmax: scales.baseAddress!)
                }
            }
        }
        return (packed, absmax)
    }

    /// The kernel of `fourBit`, into caller buffers: codes for `count` values into `packed`
    /// (⌈count/2⌉ bytes, overwritten) and one absmax per block of `blockSize` into `absmax`
    /// (⌈count/blockSize⌉ floats). `table` holds 16 codes. A tensor encoded in pieces that each start on a
    /// block boundary, and so on a byte (`blockSize` even), gives the bytes of encoding it whole.
    public static func fourBit(
        _ x: UnsafePointer<Float>, count n: Int, blockSize: Int, table code: UnsafePointer<Float>,
        packed out: UnsafeMutablePointer<UInt8>, absmax: UnsafeMutablePointer<Float>
    ) {
        precondition(blockSize > 0)
        out.update(repeating: 0, count: (n + 1) / 2)
        var zeroCode: UInt8 = 0
        for k in 0..<16 where code[k] == 0 { zeroCode = UInt8(k); break }
        let blocks = (n + blockSize - 1) / blockSize
        for b in 0..<blocks {
            let start = b * blockSize, end = min(start + blockSize, n)
            var amax: Float = 0
            for i in start..<end { amax = max(amax, abs(x[i])) }
            absmax[b] = amax
            let inverse: Float = 1 / amax
            for i in start..<end {
                var q = zeroCode
                if amax != 0 {
                    let s = min(max(x[i] * inverse, -1), 1)
                    var best = abs(s - code[0])
                    q = 0
                    for k in 1..<16 {
                        let e = abs(s - code[k])
                        if e < best { best = e; q = UInt8(k) }
                    }
                }
                out[i >> 1] |= (i & 1 == 0) ? q << 4 : q
            }
        }
    }
}
