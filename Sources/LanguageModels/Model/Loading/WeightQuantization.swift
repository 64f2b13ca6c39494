import TensorKit

/// How `ModelWeights.quantize(_:as:)` re-stores a linear weight W (out, in): packed, widened to f32 by
/// rows when the forward pass uses it, as a quantized checkpoint's weights are. The forward pass then
/// sees exactly dequantize(quantize(W)), the values `Quantizer.fourBitRoundTrip` and
/// `Quantizer.q8_0RoundTrip` give for the flattened weight.
public enum WeightQuantization: Sendable, Equatable {
    /// bitsandbytes 4-bit (`Quantizer.fourBit`) over the flattened weight in blocks of `blockSize`
    /// (even), kept as packed codes (½ byte a value) and one f32 scale a block; with `doubleQuant`
    /// the scales are those that `Quantizer.doubleQuantize(absmax:)` gives back (8-bit codes,
    /// offset = mean absmax), expanded once to f32 as a double-quantized checkpoint's are. The values are
    /// not rounded to bf16 afterwards (the quant state's dtype is float32).
    case fourBit(BitsAndBytes4Bit.QuantType, blockSize: Int, doubleQuant: Bool)
    /// GGML Q8_0 (blocks of 32 along each row, an f16 scale each: 34 bytes per 32 values). A weight
    /// whose rows are not a whole number of blocks keeps the dense f32 of the whole-tensor round trip.
    case q8_0
}
