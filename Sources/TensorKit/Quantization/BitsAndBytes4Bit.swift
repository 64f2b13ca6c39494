import Foundation

/// bitsandbytes 4-bit weights (NF4 and FP4) as Hugging Face stores them in safetensors.
///
/// A 4-bit linear weight `W` of shape `shape` (n = ∏ shape values, flattened row-major) is stored as
///
///     NAME                                  packed codes, uint8 (or another storage dtype viewed as bytes),
///                                           ⌈n/2⌉ bytes; value 2i is the HIGH nibble of byte i, 2i+1 the low one
///     NAME.absmax                           per-block scale: f32 [⌈n/blocksize⌉], or uint8 codes when nested
///     NAME.quant_map                        the 16-entry code table (f32)
///     NAME.nested_absmax                    (nested only) f32 [⌈blocks/nested_blocksize⌉]
///     NAME.nested_quant_map                 (nested only) the 256-entry table of the absmax codes (f32)
///     NAME.quant_state.bitsandbytes__nf4    uint8 bytes of a JSON object (`__fp4` for FP4): quant_type,
///                                           blocksize, dtype, shape, and when nested nested_blocksize,
///                                           nested_dtype, nested_offset
///
/// Dequantization (bitsandbytes functional.dequantize_4bit, all in f32):
///
///     absmax[b] = nested_quant_map[absmax_u8[b]] · nested_absmax[b / nested_blocksize] + nested_offset   (nested)
///     W[i]      = quant_map[code(i)] · absmax[i / blocksize]
///
/// bitsandbytes finally casts W to `dtype` (usually bf16); these functions return the f32 values before
/// that cast (round with `Precision` when the stored dtype's rounding matters).
public enum BitsAndBytes4Bit {
    /// The two 4-bit code books.
    public enum QuantType: String, Sendable, CaseIterable {
        case nf4, fp4

        /// The 16 code values, index = 4-bit code.
        public var table: [Float] { self == .nf4 ? BitsAndBytes4Bit.nf4Table : BitsAndBytes4Bit.fp4Table }
    }

    /// NormalFloat4 (bitsandbytes `_NF4_QUANT_TABLE` / `get_4bit_type("nf4")`): quantiles of N(0, 1)
    /// normalised to [−1, 1], with an exact 0 at code 7.
    public static let nf4Table: [Float] = [
        -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
        -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
        0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
        0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
    ]

    /// FP4 (bitsandbytes `get_4bit_type("fp4")`): the e2m1 values 0, 0.0625, 8, 12, 4, 6, 2, 3 and their
    /// negatives (codes 8–15) divided by 12, in f32.
    public static let fp4Table: [Float] = {
        let raw: [Float] = [0, 0.0625, 8, 12, 4, 6, 2, 3]
        let positive = raw.map { $0 / 12 }
        return positive + positive.map { -$0 }
    }()

    /// The parsed `quant_state.bitsandbytes__*` JSON blob.
    public struct QuantState: Sendable, Equatable {
        public var quantType: QuantType
        public var blockSize: Int
        /// The dtype the weight had before quantization (`"bfloat16"`, `"float16"`, `"float32"`).
        public var dtype: String
        /// The original (outermost-first) shape.
        public var shape: [Int]
        /// Present when the absmax values are themselves 8-bit quantized.
        public var nestedBlockSize: Int?
        public var nestedOffset: Float?
        public var nestedDType: String?

        public init(quantType: QuantType, blockSize: Int, dtype: String, shape: [Int],
                    nestedBlockSize: Int? = nil, nestedOffset: Float? = nil, nestedDType: String? = nil) {
            self.quantType = quantType
            self.blockSize = blockSize
            self.dtype = dtype
            self.shape = shape
            self.nestedBlockSize = nestedBlockSize
            self.nestedOffset = nestedOffset
            self.nestedDType = nestedDType
        }

        public var isNested: Bool { nestedBlockSize != nil }

        /// Parses the JSON bytes of a `quant_state.bitsandbytes__nf4|fp4` tensor. `tensor` names it in errors.
        public static func parse(json bytes: [UInt8], tensor: String = "?") throws -> QuantState {
            func bad(_ reason: String) -> TensorKitError {
                .malformed(file: "", key: tensor, reason: "bitsandbytes quant state: \(reason)")
            }
            guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)),
                  let dict = object as? [String: Any] else { throw bad("not a JSON object") }
            /// A whole number an `Int` holds (not a fraction, and not 1e300 wrapped around).
            func exactInt(_ value: Any?) -> Int? {
                guard let n = value as? NSNumber, case let d = n.doubleValue, d == d.rounded(),
                      d.magnitude < 0x1p63 else { return nil }
                return n.intValue
            }
            func int(_ key: String) -> Int? { exactInt(dict[key]) }
            guard let typeName = dict["quant_type"] as? String, let quantType = QuantType(rawValue: typeName) else {
                throw bad("quant_type \(String(describing: dict["quant_type"])) is not nf4 or fp4")
            }
            guard let blockSize = int("blocksize"), blockSize > 0 else { throw bad("blocksize missing or not positive") }
            guard let rawShape = dict["shape"] as? [Any] else { throw bad("shape missing") }
            var shape: [Int] = []
            for d in rawShape {
                guard let n = exactInt(d), n >= 0 else { throw bad("shape \(rawShape) is not a list of sizes") }
                shape.append(n)
            }
            guard Tensor<Float>.elementCount(shape) != nil else { throw bad("shape \(shape) overflows") }
            var state = QuantState(quantType: quantType, blockSize: blockSize,
                                   dtype: dict["dtype"] as? String ?? "float32", shape: shape)
            if dict["nested_blocksize"] != nil || dict["nested_offset"] != nil {
                guard let nb = int("nested_blocksize"), nb > 0 else { throw bad("nested_blocksize missing or not positive") }
                // bitsandbytes writes `nested_offset`; older writers used `offset`.
                guard let offset = (dict["nested_offset"] ?? dict["offset"]) as? NSNumber else {
                    throw bad("nested_offset missing")
                }
                state.nestedBlockSize = nb
                state.nestedOffset = offset.floatValue
                state.nestedDType = dict["nested_dtype"] as? String
            }
            return state
        }
    }

    /// The per-block scales of a weight: plain f32, or 8-bit codes with their nested scales and table.
    public enum Absmax: Sendable {
        case float32([Float])
        case nested(codes: [UInt8], nestedAbsmax: [Float], nestedQuantMap: [Float])
    }

    // MARK: kernels

    /// dst[i] = table[code(i)] · absmax[i / blockSize] for i in 0..<count, code(2j) = src[j] >> 4,
    /// code(2j+1) = src[j] & 15. `table` holds 16 floats, `absmax` ⌈count / blockSize⌉.
    public static func dequantize(
        packed src: UnsafePointer<UInt8>, count: Int, absmax: UnsafePointer<Float>, blockSize: Int,
        table: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>
    ) {
        var start = 0
        var block = 0
        while start < count {
            let end = min(start + blockSize, count)
            let scale = absmax[block]
            var i = start
            if i & 1 == 1 {  // block starts on a low nibble (odd block size)
                dst[i] = table[Int(src[i >> 1] & 0xF)] * scale
                i += 1
            }
            // Two codes per byte. Wrapping arithmetic: i + 1 < end <= count, so nothing here can overflow,
            // and the checked forms cost about a fifth of this loop's speed (Docs/benchmarks.md).
            while i &+ 1 < end {
                let byte = src[i &>> 1]
                dst[i] = table[Int(byte &>> 4)] * scale
                dst[i &+ 1] = table[Int(byte & 0xF)] * scale
                i &+= 2
            }
            if i < end { dst[i] = table[Int(src[i >> 1] >> 4)] * scale }
            start = end
            block += 1
        }
    }

    /// Nested absmax: out[b] = code[codes[b]] · nestedAbsmax[b / nestedBlockSize] + offset (f32, in that order).
    public static func nestedAbsmax(
        codes: [UInt8], nestedAbsmax: [Float], nestedQuantMap: [Float], nestedBlockSize: Int, offset: Float
    ) -> [Float] {
        precondition(nestedQuantMap.count == 256 && nestedBlockSize > 0)
        return codes.indices.map { b in nestedQuantMap[Int(codes[b])] * nestedAbsmax[b / nestedBlockSize] + offset }
    }

    // MARK: whole tensors

    /// Dequantizes a 4-bit weight from its components. `quantMap` defaults to the table of
    /// `state.quantType`. Returns f32 values in `state.shape`. Throws when sizes disagree.
    public static func dequantize(
        packed: UnsafeRawBufferPointer, absmax: Absmax, quantMap: [Float]? = nil, state: QuantState,
        tensor: String = "?"
    ) throws -> Tensor<Float> {
        func bad(_ reason: String) -> TensorKitError { .shapeMismatch(operation: "bitsandbytes 4-bit '\(tensor)'", reason: reason) }
        guard let n = Tensor<Float>.elementCount(state.shape) else { throw bad("shape \(state.shape) overflows") }
        guard state.blockSize > 0 else { throw bad("blocksize \(state.blockSize) is not positive") }
        guard packed.count == (n + 1) / 2 else { throw bad("\(packed.count) packed bytes for \(n) values; need \((n + 1) / 2)") }
        let table = quantMap ?? state.quantType.table
        guard table.count == 16 else { throw bad("quant_map has \(table.count) entries; need 16") }
        let blocks = (n + state.blockSize - 1) / state.blockSize
        let scales: [Float]
        switch absmax {
        case .float32(let a):
            guard !state.isNested else { throw bad("quant state is nested but absmax is f32 without nested_absmax") }
            scales = a
        case let .nested(codes, nestedAbsmax, nestedQuantMap):
            guard let nb = state.nestedBlockSize, let offset = state.nestedOffset else {
                throw bad("nested absmax given but the quant state has no nested_blocksize/nested_offset")
            }
            guard nestedQuantMap.count == 256 else { throw bad("nested_quant_map has \(nestedQuantMap.count) entries; need 256") }
            guard nestedAbsmax.count == (codes.count + nb - 1) / nb else {
                throw bad("nested_absmax has \(nestedAbsmax.count) values for \(codes.count) codes in blocks of \(nb)")
            }
            scales = Self.nestedAbsmax(codes: codes, nestedAbsmax: nestedAbsmax, nestedQuantMap: nestedQuantMap,
                                       nestedBlockSize: nb, offset: offset)
        }
        guard scales.count == blocks else { throw bad("absmax has \(scales.count) values; need \(blocks) blocks of \(state.blockSize)") }
        var out = [Float](repeating: 0, count: n)
        if n > 0 {
            let src = packed.baseAddress!.assumingMemoryBound(to: UInt8.self)
            scales.withUnsafeBufferPointer { s in
                table.withUnsafeBufferPointer { t in
                    out.withUnsafeMutableBufferPointer { d in
                        dequantize(packed: src, count: n, absmax: s.baseAddress!, blockSize: state.blockSize,
                                   table: t.baseAddress!, into: d.baseAddress!)
                    }
                }
            }
        }
        return try Tensor(shape: state.shape, scalars: out)
    }

    /// Dequantizes a 4-bit weight from the stored tensors of a checkpoint (`NAME`, `NAME.absmax`,
    /// `NAME.quant_map`, `NAME.nested_absmax`, `NAME.nested_quant_map`, `NAME.quant_state.bitsandbytes__*`).
    public static func dequantize(
        weight: StoredTensor, absmax: StoredTensor, quantMap: StoredTensor?, quantState: StoredTensor,
        nestedAbsmax: StoredTensor? = nil, nestedQuantMap: StoredTensor? = nil
    ) throws -> Tensor<Float> {
        let state = try QuantState.parse(json: [UInt8](quantState.bytes), tensor: quantState.name)
        let map = try quantMap.map { try floats($0) }
        let scales: Absmax
        if state.isNested {
            guard let na = nestedAbsmax, let nq = nestedQuantMap else {
                throw TensorKitError.missingTensor(file: "", name: weight.name + ".nested_absmax / .nested_quant_map")
            }
            guard absmax.type == .dense(.u8) else {
                throw TensorKitError.unsupportedType(file: "", tensor: absmax.name, type: absmax.type.description + " (nested absmax must be U8)")
            }
            scales = .nested(codes: [UInt8](absmax.bytes), nestedAbsmax: try floats(na), nestedQuantMap: try floats(nq))
        } else {
            scales = .float32(try floats(absmax))
        }
        return try dequantize(packed: weight.bytes, absmax: scales, quantMap: map, state: state, tensor: weight.name)
    }

    /// A stored f32/f16/bf16 tensor's values as f32.
    static func floats(_ t: StoredTensor) throws -> [Float] {
        guard case .dense(let d) = t.type, d.isFloatingPoint else {
            throw TensorKitError.unsupportedType(file: "", tensor: t.name, type: t.type.description)
        }
        return try t.toFloat32().scalars
    }
}

extension BitsAndBytes4Bit {
    /// bitsandbytes' signed 8-bit dynamic map, `functional.create_dynamic_map(signed=True,
    /// max_exponent_bits=7, total_bits=8)`: the code book of `quantize_blockwise`, and so of the nested
    /// (double-quantized) absmax of 4-bit weights. For i = 0…6, with b = linspace(0.1, 1, 2ⁱ + 1) in f32
    /// (torch's: b[k] = 0.1 + s·k below the halfway point, 1 − s·(2ⁱ − k) from it, s = 0.9/2ⁱ, all f32),
    /// the 2ⁱ means (b[k] + b[k+1])/2 times ±f32(10^(i−6)); then 0 and 1; 256 values, ascending.
    public static let dynamicMap: [Float] = {
        var data: [Float] = []
        for i in 0..<7 {
            let steps = (1 << i) + 1
            let start: Float = 0.1, end: Float = 1
            let step = (end - start) / Float(steps - 1)
            let halfway = steps / 2
            let boundaries: [Float] = (0..<steps).map { k in
                k < halfway ? start + step * Float(k) : end - step * Float(steps - k - 1)
            }
            let scale = Float(pow(10.0, Double(i - 6)))
            let means = (0..<(steps - 1)).map { (boundaries[$0] + boundaries[$0 + 1]) / 2 }
            data += means.map { scale * $0 }
            data += means.map { -scale * $0 }
        }
        data += [0, 1]
        return data.sorted()
    }()
}
