/// GGML tensor types as numbered in the GGUF format (`ggml_type`), with their block geometry.
///
/// A block holds `blockSize` values in `typeSize` bytes; a row of a quantized tensor is a whole
/// number of blocks.
public enum GGMLType: UInt32, CaseIterable, Sendable {
    case f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 6, q5_1 = 7, q8_0 = 8, q8_1 = 9
    case q2_K = 10, q3_K = 11, q4_K = 12, q5_K = 13, q6_K = 14, q8_K = 15
    case iq2_xxs = 16, iq2_xs = 17, iq3_xxs = 18, iq1_s = 19, iq4_nl = 20, iq3_s = 21, iq2_s = 22, iq4_xs = 23
    case i8 = 24, i16 = 25, i32 = 26, i64 = 27, f64 = 28, iq1_m = 29, bf16 = 30

    /// The name ggml prints, e.g. `Q4_K`.
    public var name: String {
        switch self {
        case .f32: return "F32"
        case .f16: return "F16"
        case .bf16: return "BF16"
        case .f64: return "F64"
        case .i8: return "I8"
        case .i16: return "I16"
        case .i32: return "I32"
        case .i64: return "I64"
        default: return String(describing: self).uppercased()
        }
    }

    /// Values per block (1 for plain types; 32 for Q4_0…Q8_1; 256 for the K-quants).
    public var blockSize: Int {
        switch self {
        case .f32, .f16, .bf16, .f64, .i8, .i16, .i32, .i64: return 1
        case .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q8_1, .iq4_nl: return 32
        default: return 256
        }
    }

    /// Bytes per block.
    public var typeSize: Int {
        switch self {
        case .f32, .i32: return 4
        case .f16, .bf16, .i16: return 2
        case .f64, .i64: return 8
        case .i8: return 1
        case .q4_0: return 2 + 16
        case .q4_1: return 2 + 2 + 16
        case .q5_0: return 2 + 4 + 16
        case .q5_1: return 2 + 2 + 4 + 16
        case .q8_0: return 2 + 32
        case .q8_1: return 4 + 4 + 32
        case .q2_K: return 256 / 16 + 256 / 4 + 2 + 2
        case .q3_K: return 256 / 8 + 256 / 4 + 12 + 2
        case .q4_K: return 2 + 2 + 12 + 256 / 2
        case .q5_K: return 2 + 2 + 12 + 256 / 8 + 256 / 2
        case .q6_K: return 256 / 2 + 256 / 4 + 256 / 16 + 2
        case .q8_K: return 4 + 256 + 2 * 256 / 16
        case .iq2_xxs: return 2 + 256 / 8 * 2
        case .iq2_xs: return 2 + 256 / 8 * 2 + 256 / 32
        case .iq3_xxs: return 2 + 256 / 4 + 256 / 8
        case .iq1_s: return 2 + 256 / 8 + 256 / 16
        case .iq4_nl: return 2 + 16
        case .iq3_s: return 2 + 256 / 4 + 256 / 8 + 256 / 32 + 4
        case .iq2_s: return 2 + 256 / 4 + 256 / 16
        case .iq4_xs: return 2 + 2 + 256 / 64 + 256 / 2
        case .iq1_m: return 256 / 8 + 256 / 16 + 256 / 32
        }
    }

    /// The equivalent dense dtype for the plain types, nil for block-quantized ones.
    public var denseType: DType? {
        switch self {
        case .f32: return .f32
        case .f16: return .f16
        case .bf16: return .bf16
        case .f64: return .f64
        case .i8: return .i8
        case .i16: return .i16
        case .i32: return .i32
        case .i64: return .i64
        default: return nil
        }
    }
}
