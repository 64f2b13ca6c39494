import Dispatch

/// One measured number: what was measured, its value and unit (e.g. "GFLOP/s", "GB/s").
public struct KernelBenchmarkResult: Sendable, CustomStringConvertible {
    public let name: String
    public let value: Double
    public let unit: String

    public var description: String {
        let rounded = (value * 100).rounded() / 100
        return "\(name): \(rounded) \(unit)"
    }
}

/// Micro-benchmarks of TensorKit's numeric kernels: sgemm through `Tensor.matmul` and through a direct
/// `BLAS.sgemm` call, bf16 ↔ f32 conversion, every dequantization kernel and the `DirectDot` kernels.
///
/// Each measurement runs the operation once to warm up, then `repetitions` times, and reports the best
/// (shortest) wall-clock time: GFLOP/s = 2·m·n·k / t for products, GB/s = bytes written / t for
/// conversions and dequantization (bytes of f32 output, 2 bytes per value for f32 → bf16).
public enum KernelBenchmark {
    /// Runs every benchmark. `valueCount` is the number of values converted or dequantized per run.
    public static func run(repetitions: Int = 10, valueCount: Int = 1 << 22) -> [KernelBenchmarkResult] {
        var results: [KernelBenchmarkResult] = []
        results += sgemm(m: 1024, n: 1024, k: 1024, repetitions: repetitions)
        results += sgemm(m: 512, n: 1536, k: 576, repetitions: repetitions)
        results += conversions(count: valueCount, repetitions: repetitions)
        results += dequantization(count: valueCount, repetitions: repetitions)
        results += directDots(count: valueCount, repetitions: repetitions)
        return results
    }

    /// `DirectDot` kernels over `count` values in rows of 2,048 (one thread): GB/s of stored weight bytes
    /// read, with f32 activations and, for the GGML types with an integer kernel, with 8-bit activations
    /// (quantized once, outside the timing, as a decoding step does once per linear layer).
    public static func directDots(count: Int, repetitions: Int) -> [KernelBenchmarkResult] {
        let rowLength = 2048, rows = max(1, count / 2048)
        var rng = SplitMix64(seed: 4)
        let x = (0..<rowLength).map { _ in rng.nextFloat() * 2 - 1 }
        var sink: Float = 0
        var results: [KernelBenchmarkResult] = []
        let types: [StorageType] = [.dense(.bf16), .dense(.f16)] + [GGMLType.q4_0, .q4_1, .q5_0, .q8_0, .q4_K, .q6_K].map { .ggml($0) }
        for type in types {
            let data: [UInt8]
            if case .ggml(let g) = type, let layout = GGMLBlockLayout.of(g) {
                data = randomBlocks(layout, count: rows * rowLength / g.blockSize)
            } else {
                data = (0..<(rows * rowLength)).flatMap { _ -> [UInt8] in
                    let v = rng.nextFloat() - 0.5
                    let h = type == .dense(.f16) ? Precision.f16Bits(v) : Precision.bf16Bits(v)
                    return [UInt8(truncatingIfNeeded: h), UInt8(truncatingIfNeeded: h >> 8)]
                }
            }
            let rowBytes = data.count / rows
            let gb = Double(data.count) / 1e9
            if let kernel = DirectDot.kernel(for: type) {
                let t = bestTime(repetitions: repetitions) {
                    data.withUnsafeBytes { w in
                        x.withUnsafeBufferPointer { xp in
                            for r in 0..<rows { sink += kernel(w.baseAddress! + r * rowBytes, xp.baseAddress!, rowLength) }
                        }
                    }
                }
                results.append(KernelBenchmarkResult(name: "direct dot \(type), f32 activations", value: gb / t, unit: "GB/s read"))
            }
            if let kernel = DirectDot.quantizedKernel(for: type), let kind = DirectDot.activationKind(for: type) {
                let xq = x.withUnsafeBufferPointer { QuantizedActivation(kind, $0.baseAddress!, count: rowLength) }
                let t = bestTime(repetitions: repetitions) {
                    data.withUnsafeBytes { w in
                        for r in 0..<rows { sink += kernel(w.baseAddress! + r * rowBytes, xq, rowLength) }
                    }
                }
                results.append(KernelBenchmarkResult(name: "direct dot \(type), 8-bit activations", value: gb / t, unit: "GB/s read"))
            }
        }
        keep(sink)
        return results
    }

    /// The best wall-clock seconds of `repetitions` runs of `body` after one warm-up run.
    public static func bestTime(repetitions: Int, _ body: () -> Void) -> Double {
        body()
        var best = Double.infinity
        for _ in 0..<max(1, repetitions) {
            let start = DispatchTime.now().uptimeNanoseconds
            body()
            let end = DispatchTime.now().uptimeNanoseconds
            best = min(best, Double(end - start) / 1e9)
        }
        return best
    }

    /// (m×k)·(k×n) through Tensor.matmul and through BLAS.sgemm, in GFLOP/s.
    public static func sgemm(m: Int, n: Int, k: Int, repetitions: Int) -> [KernelBenchmarkResult] {
        var rng = SplitMix64(seed: 1)
        let a = try! Tensor<Float>(shape: [m, k], scalars: (0..<(m * k)).map { _ in rng.nextFloat() })
        let b = try! Tensor<Float>(shape: [k, n], scalars: (0..<(k * n)).map { _ in rng.nextFloat() })
        var c = [Float](repeating: 0, count: m * n)
        let flops = 2 * Double(m) * Double(n) * Double(k)
        let label = "\(m)x\(k) · \(k)x\(n)"
        let viaTensor = {
            let r = try! Tensor.matmul(a, b)
            precondition(r.count == m * n)
        }
        let direct = {
            a.scalars.withUnsafeBufferPointer { pa in
                b.scalars.withUnsafeBufferPointer { pb in
                    c.withUnsafeMutableBufferPointer { pc in
                        BLAS.sgemm(transposeA: false, transposeB: false, m: m, n: n, k: k,
                                   a: pa.baseAddress!, lda: k, b: pb.baseAddress!, ldb: n, c: pc.baseAddress!, ldc: n)
                    }
                }
            }
        }
        // Interleaved, so that load from other processes hits both alike.
        var tensorTime = Double.infinity, directTime = Double.infinity
        for _ in 0..<max(1, repetitions) {
            tensorTime = min(tensorTime, bestTime(repetitions: 1, viaTensor))
            directTime = min(directTime, bestTime(repetitions: 1, direct))
        }
        return [
            KernelBenchmarkResult(name: "sgemm \(label) Tensor.matmul", value: flops / tensorTime / 1e9, unit: "GFLOP/s"),
            KernelBenchmarkResult(name: "sgemm \(label) BLAS.sgemm", value: flops / directTime / 1e9, unit: "GFLOP/s"),
        ]
    }

    /// bf16 → f32, f32 → bf16, f16 → f32 and f32 → f16 over `count` values, GB/s of output.
    public static func conversions(count: Int, repetitions: Int) -> [KernelBenchmarkResult] {
        var rng = SplitMix64(seed: 2)
        let floats = (0..<count).map { _ in rng.nextFloat() * 8 - 4 }
        let halves = floats.map { Precision.f16Bits($0) }
        let brains = floats.map { Precision.bf16Bits($0) }
        var wide = [Float](repeating: 0, count: count)
        var narrow = [UInt16](repeating: 0, count: count)
        func widen(_ src: [UInt16], _ f: (UnsafePointer<UInt16>, UnsafeMutablePointer<Float>, Int) -> Void) -> Double {
            bestTime(repetitions: repetitions) {
                src.withUnsafeBufferPointer { s in wide.withUnsafeMutableBufferPointer { f(s.baseAddress!, $0.baseAddress!, count) } }
            }
        }
        func shrink(_ f: (UnsafePointer<Float>, UnsafeMutablePointer<UInt16>, Int) -> Void) -> Double {
            bestTime(repetitions: repetitions) {
                floats.withUnsafeBufferPointer { s in narrow.withUnsafeMutableBufferPointer { f(s.baseAddress!, $0.baseAddress!, count) } }
            }
        }
        let bf16ToF32 = widen(brains) { Precision.convertBF16ToF32($0, $1, count: $2) }
        let f16ToF32 = widen(halves) { Precision.convertF16ToF32($0, $1, count: $2) }
        let f32ToBF16 = shrink { Precision.convertF32ToBF16($0, $1, count: $2) }
        let f32ToF16 = shrink { Precision.convertF32ToF16($0, $1, count: $2) }
        let gb = Double(count) / 1e9
        return [
            KernelBenchmarkResult(name: "bf16 -> f32", value: 4 * gb / bf16ToF32, unit: "GB/s"),
            KernelBenchmarkResult(name: "f32 -> bf16", value: 2 * gb / f32ToBF16, unit: "GB/s"),
            KernelBenchmarkResult(name: "f16 -> f32", value: 4 * gb / f16ToF32, unit: "GB/s"),
            KernelBenchmarkResult(name: "f32 -> f16", value: 2 * gb / f32ToF16, unit: "GB/s"),
        ]
    }

    /// Every GGML kernel and NF4 over `count` values (rounded to whole blocks), GB/s of f32 output.
    public static func dequantization(count: Int, repetitions: Int) -> [KernelBenchmarkResult] {
        var results: [KernelBenchmarkResult] = []
        var out = [Float](repeating: 0, count: count)
        for type in GGMLBlocks.supportedTypes {
            guard let kernel = GGMLBlocks.kernel(for: type), let layout = GGMLBlockLayout.of(type) else { continue }
            let blocks = count / type.blockSize
            let data = randomBlocks(layout, count: blocks)
            let t = bestTime(repetitions: repetitions) {
                data.withUnsafeBytes { s in out.withUnsafeMutableBufferPointer { kernel(s.baseAddress!, $0.baseAddress!, blocks) } }
            }
            results.append(KernelBenchmarkResult(
                name: "dequantize \(type.name)", value: Double(blocks * type.blockSize * 4) / t / 1e9, unit: "GB/s"))
        }
        var rng = SplitMix64(seed: 3)
        let packed = (0..<(count / 2)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        let absmax = (0..<(count / 64)).map { _ in rng.nextFloat() }
        let table = BitsAndBytes4Bit.nf4Table
        let t = bestTime(repetitions: repetitions) {
            packed.withUnsafeBufferPointer { p in
                absmax.withUnsafeBufferPointer { a in
                    table.withUnsafeBufferPointer { tb in
                        out.withUnsafeMutableBufferPointer {
                            BitsAndBytes4Bit.dequantize(packed: p.baseAddress!, count: count / 64 * 64, absmax: a.baseAddress!,
                                                        blockSize: 64, table: tb.baseAddress!, into: $0.baseAddress!)
                        }
                    }
                }
            }
        }
        results.append(KernelBenchmarkResult(name: "dequantize NF4", value: Double(count / 64 * 64 * 4) / t / 1e9, unit: "GB/s"))
        return results
    }

    /// Takes a value the optimizer must then compute.
    @inline(never) static func keep(_ value: Float) { _ = value.bitPattern }

    /// `count` blocks of random bytes whose f16 scale fields (d, m, dmin) hold finite values in [-1, 1].
    static func randomBlocks(_ layout: GGMLBlockLayout, count: Int) -> [UInt8] {
        var rng = SplitMix64(seed: UInt64(layout.type.rawValue))
        var bytes = (0..<(count * layout.byteSize)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        let scaleFields = layout.fields.filter { ["d", "m", "dmin"].contains($0.name) }
        for b in 0..<count {
            for f in scaleFields {
                let h = Precision.f16Bits(rng.nextFloat() * 2 - 1)
                bytes[b * layout.byteSize + f.offset] = UInt8(truncatingIfNeeded: h)
                bytes[b * layout.byteSize + f.offset + 1] = UInt8(truncatingIfNeeded: h >> 8)
            }
        }
        return bytes
    }
}
