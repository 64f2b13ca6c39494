import Foundation
import TensorKit

/// Times `Orthogonalizer` on a random matrix, the way `abliterate bench` reports it.
package enum OrthogonalizerBenchmark {
    package struct Result: Sendable, CustomStringConvertible {
        package let rows: Int
        package let cols: Int
        package let dtype: DType
        package let threads: Int
        package let norms: NormPreservation
        /// Bytes of weights edited per run.
        package let bytes: Int
        /// Best wall time of the runs, seconds.
        package let seconds: Double
        /// bytes / seconds / 1e9.
        package var gigabytesPerSecond: Double { Double(bytes) / seconds / 1e9 }

        package var description: String {
            let gb = (gigabytesPerSecond * 100).rounded() / 100
            let ms = (seconds * 10000).rounded() / 10
            return "orthogonalize \(dtype.rawValue) [\(rows), \(cols)]\(norms == .none ? "" : norms == .vectors ? " norm-preserving" : " row-normalized") on \(threads) threads: \(ms) ms, \(gb) GB/s"
        }
    }

    /// Edits a (rows, cols) matrix of `dtype` (f32, bf16 or f16) as `.writesToResidual` `iterations`
    /// times and returns the best run. The default is a Llama-3-8B `down_proj` in bf16.
    package static func run(
        rows: Int = 4096, cols: Int = 14336, dtype: DType = .bf16, threads: Int = 2, norms: NormPreservation = .none,
        iterations: Int = 5
    ) throws -> Result {
        guard rows > 0, cols > 0, iterations > 0 else {
            throw AbliterationError.invalidInput("benchmark: rows \(rows), cols \(cols), iterations \(iterations) must be positive")
        }
        guard [.f32, .bf16, .f16].contains(dtype) else {
            throw AbliterationError.unsupported("benchmark: dtype \(dtype.rawValue) (need F32, BF16 or F16)")
        }
        // Deterministic pseudo-random data (SplitMix64), values in [−0.05, 0.05).
        var rng = SplitMix64(seed: 0x9E37_79B9_7F4A_7C15)
        func next() -> Float { (rng.nextFloat() - 0.5) * 0.1 }
        let direction = (0..<rows).map { _ in Double(next()) }
        let orthogonalizer = try Orthogonalizer(direction: direction, scale: 1, norms: norms, threadCount: threads)
        let count = rows * cols
        let bytes = count * dtype.byteSize
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes, alignment: 64)
        defer { buffer.deallocate() }
        for i in 0..<count {
            let x = next()
            switch dtype {
            case .f32: buffer.storeBytes(of: x, toByteOffset: 4 * i, as: Float.self)
            case .bf16: buffer.storeBytes(of: Precision.bf16Bits(x), toByteOffset: 2 * i, as: UInt16.self)
            default: buffer.storeBytes(of: Float16(x).bitPattern, toByteOffset: 2 * i, as: UInt16.self)
            }
        }
        var best = Double.infinity
        for _ in 0..<iterations {
            let start = DispatchTime.now().uptimeNanoseconds
            try orthogonalizer.apply(to: buffer, dtype: dtype, shape: [rows, cols], orientation: .writesToResidual, name: "benchmark")
            let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            best = min(best, elapsed)
        }
        return Result(rows: rows, cols: cols, dtype: dtype, threads: threads, norms: norms, bytes: bytes, seconds: best)
    }
}
