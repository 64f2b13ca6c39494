/// The byte layout of one GGML quantization block, field by field, as ggml's `block_*` structs
/// (ggml-common.h) lay it out: packed, little-endian, no padding. `ggml_half` is an IEEE binary16.
///
/// The kernels in `GGMLBlocks` read blocks through these offsets; a test pins `byteSize` to
/// `GGMLType.typeSize` and to ggml's `sizeof(block_*)`.
public struct GGMLBlockLayout: Sendable, Equatable {
    /// One field of the block: its name in ggml, where it starts and how many bytes it takes.
    public struct Field: Sendable, Equatable {
        public let name: String
        public let offset: Int
        public let byteCount: Int
    }

    public let type: GGMLType
    /// Values per block.
    public let valueCount: Int
    public let fields: [Field]

    /// Bytes per block: the end of the last field.
    public var byteSize: Int { fields.last.map { $0.offset + $0.byteCount } ?? 0 }

    /// The field named `name`.
    public func field(_ name: String) -> Field? { fields.first { $0.name == name } }

    init(_ type: GGMLType, values: Int, _ sizes: [(String, Int)]) {
        var offset = 0
        var fields: [Field] = []
        for (name, size) in sizes {
            fields.append(Field(name: name, offset: offset, byteCount: size))
            offset += size
        }
        self.type = type
        self.valueCount = values
        self.fields = fields
    }

    /// The layout of `type`, nil for types without a kernel here.
    public static func of(_ type: GGMLType) -> GGMLBlockLayout? {
        switch type {
        case .q4_0: return q4_0
        case .q4_1: return q4_1
        case .q5_0: return q5_0
        case .q5_1: return q5_1
        case .q8_0: return q8_0
        case .q4_K: return q4_K
        case .q5_K: return q5_K
        case .q6_K: return q6_K
        default: return nil
        }
    }

    /// `block_q4_0`, 32 values: `d` (f16), `qs[16]` (value j in the low nibble of qs[j], value j+16 in the
    /// high nibble). x = d · (q − 8).
    public static let q4_0 = GGMLBlockLayout(.q4_0, values: 32, [("d", 2), ("qs", 16)])
    /// `block_q4_1`, 32 values: `d`, `m` (f16), `qs[16]` (nibbles as in Q4_0). x = d · q + m.
    public static let q4_1 = GGMLBlockLayout(.q4_1, values: 32, [("d", 2), ("m", 2), ("qs", 16)])
    /// `block_q5_0`, 32 values: `d` (f16), `qh[4]` (bit j of the little-endian u32 is the 5th bit of value j),
    /// `qs[16]` (low 4 bits as in Q4_0). x = d · (q − 16).
    public static let q5_0 = GGMLBlockLayout(.q5_0, values: 32, [("d", 2), ("qh", 4), ("qs", 16)])
    /// `block_q5_1`, 32 values: `d`, `m` (f16), `qh[4]`, `qs[16]` as in Q5_0. x = d · q + m.
    public static let q5_1 = GGMLBlockLayout(.q5_1, values: 32, [("d", 2), ("m", 2), ("qh", 4), ("qs", 16)])
    /// `block_q8_0`, 32 values: `d` (f16), `qs[32]` (int8). x = d · q.
    public static let q8_0 = GGMLBlockLayout(.q8_0, values: 32, [("d", 2), ("qs", 32)])
    /// `block_q4_K`, 256 values in 8 sub-blocks of 32: `d`, `dmin` (f16), `scales[12]` (eight 6-bit scales and
    /// eight 6-bit mins, see `GGMLBlocks.scaleMinK4`), `qs[128]`. Sub-block pair p (values 64p…64p+63) reads
    /// qs[32p…32p+31]: low nibbles for sub-block 2p, high nibbles for 2p+1. x = d·sc · q − dmin·m.
    public static let q4_K = GGMLBlockLayout(.q4_K, values: 256, [("d", 2), ("dmin", 2), ("scales", 12), ("qs", 128)])
    /// `block_q5_K`, 256 values: `d`, `dmin` (f16), `scales[12]` (as Q4_K), `qh[32]` (bit s of qh[l] is the 5th
    /// bit of value 32s + l), `qs[128]` (low 4 bits as Q4_K). x = d·sc · q − dmin·m.
    public static let q5_K = GGMLBlockLayout(
        .q5_K, values: 256, [("d", 2), ("dmin", 2), ("scales", 12), ("qh", 32), ("qs", 128)])
    /// `block_q6_K`, 256 values in 16 sub-blocks of 16: `ql[128]` (low 4 bits), `qh[64]` (high 2 bits),
    /// `scales[16]` (int8), `d` (f16). For half h (values 128h…128h+127) and l in 0..<32, with L = ql + 64h,
    /// H = qh + 32h: value 128h + 32k + l has low bits (L[l + 32·(k&1)] >> 4·(k>>1)) & 15 and high bits
    /// (H[l] >> 2k) & 3; x = d · scales[value / 16] · (q − 32).
    public static let q6_K = GGMLBlockLayout(.q6_K, values: 256, [("ql", 128), ("qh", 64), ("scales", 16), ("d", 2)])
}
