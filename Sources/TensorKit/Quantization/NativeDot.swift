import CDotKernels
import Foundation

/// Native versions of `DirectDot`'s f32-activation kernels (C, `Sources/CDotKernels`), chosen at run
/// time on x86-64: AVX-512 where the CPU has it, else AVX2 (with F16C). Each gives bit for bit what its
/// portable Swift kernel gives: the same weight values, products and summation order (`DirectDot`'s doc
/// comment); only the instructions differ (16 or 8 lanes with byte-to-int widening, where Swift code
/// compiled for baseline x86-64 has only SSE2's 4).
///
/// `ABLITERATE_KERNELS` in the environment picks a family for a whole process: `portable` (none of
/// these), `avx2`, or `avx512`; a family the CPU lacks falls back to the best it has.
public enum NativeDot {
    public enum Family: Int, Comparable, Sendable, CaseIterable {
        case portable = 0, avx2 = 1, avx512 = 2
        public static func < (a: Family, b: Family) -> Bool { a.rawValue < b.rawValue }
    }

    /// The best family this CPU runs.
    public static let available: Family = Family(rawValue: Int(abl_dot_level())) ?? .portable

    /// The family in use: `available`, or less when `ABLITERATE_KERNELS` asks for less.
    public static let family: Family = {
        switch ProcessInfo.processInfo.environment["ABLITERATE_KERNELS"] {
        case "portable": return .portable
        case "avx2": return min(.avx2, available)
        default: return available
        }
    }()

    /// Whether native kernels are in use.
    public static var isEnabled: Bool { family != .portable }

    /// The kernel of `family` (default: the one in use) for rows stored as `type`; nil when there is
    /// none, or the family is `.portable` or beyond what this CPU runs.
    public static func kernel(for type: StorageType, family: Family = NativeDot.family) -> DirectDot.Kernel? {
        guard family != .portable, family <= available, let (avx2, avx512) = kernels(for: type) else { return nil }
        let dot = family == .avx512 ? avx512 : avx2
        return { dot($0, $1, $2) }
    }

    private typealias CKernel = @convention(c) (UnsafeRawPointer?, UnsafePointer<Float>?, Int) -> Float

    /// The AVX2 and AVX-512 kernels for rows stored as `type`.
    private static func kernels(for type: StorageType) -> (CKernel, CKernel)? {
        switch type {
        case .dense(.f32), .ggml(.f32): return (abl_dot_f32_avx2, abl_dot_f32_avx512)
        case .dense(.bf16), .ggml(.bf16): return (abl_dot_bf16_avx2, abl_dot_bf16_avx512)
        case .dense(.f16), .ggml(.f16): return (abl_dot_f16_avx2, abl_dot_f16_avx512)
        case .ggml(.q4_0): return (abl_dot_q4_0_avx2, abl_dot_q4_0_avx512)
        case .ggml(.q4_1): return (abl_dot_q4_1_avx2, abl_dot_q4_1_avx512)
        case .ggml(.q5_0): return (abl_dot_q5_0_avx2, abl_dot_q5_0_avx512)
        case .ggml(.q8_0): return (abl_dot_q8_0_avx2, abl_dot_q8_0_avx512)
        case .ggml(.q4_K): return (abl_dot_q4_k_avx2, abl_dot_q4_k_avx512)
        case .ggml(.q6_K): return (abl_dot_q6_k_avx2, abl_dot_q6_k_avx512)
        default: return nil
        }
    }
}
