/// Element types of dense (non-block-quantized) tensors, named as safetensors names them.
public enum DType: String, CaseIterable, Sendable, Codable {
    case f64 = "F64", f32 = "F32", f16 = "F16", bf16 = "BF16"
    case i64 = "I64", i32 = "I32", i16 = "I16", i8 = "I8"
    case u64 = "U64", u32 = "U32", u16 = "U16", u8 = "U8"
    case bool = "BOOL"

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .f64, .i64, .u64: return 8
        case .f32, .i32, .u32: return 4
        case .f16, .bf16, .i16, .u16: return 2
        case .i8, .u8, .bool: return 1
        }
    }

    /// Whether the type holds floating-point values.
    public var isFloatingPoint: Bool { self == .f64 || self == .f32 || self == .f16 || self == .bf16 }
}

/// A brain-float 16: the top 16 bits of an IEEE-754 binary32.
public struct BFloat16: Hashable, Sendable {
    public var bitPattern: UInt16
    @inlinable public init(bitPattern: UInt16) { self.bitPattern = bitPattern }
    /// Rounds to nearest, ties to even; NaN stays NaN (quiet), infinities stay infinite.
    @inlinable public init(_ value: Float) { self.bitPattern = Precision.bf16Bits(value) }
    @inlinable public var floatValue: Float { Float(bitPattern: UInt32(bitPattern) << 16) }
}

/// How a tensor is stored: a dense dtype or a GGML block-quantized type.
public enum StorageType: Hashable, Sendable, CustomStringConvertible {
    case dense(DType)
    case ggml(GGMLType)

    public var description: String {
        switch self {
        case .dense(let d): return d.rawValue
        case .ggml(let g): return g.name
        }
    }

    /// Bytes needed for `count` elements, or nil when `count` is not a whole number of blocks
    /// or the product overflows.
    public func byteCount(elements count: Int) -> Int? {
        switch self {
        case .dense(let d):
            let (r, o) = count.multipliedReportingOverflow(by: d.byteSize)
            return o ? nil : r
        case .ggml(let g):
            guard count % g.blockSize == 0 else { return nil }
            let (r, o) = (count / g.blockSize).multipliedReportingOverflow(by: g.typeSize)
            return o ? nil : r
        }
    }
}
