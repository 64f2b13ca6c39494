import XCTest
@testable import TensorKit

final class QuantBenchmarkTests: XCTestCase {
    /// The benchmark library runs and reports a positive, finite number for every measurement.
    /// Set ABLITERATE_BENCH=1 to run it at full size and print the numbers.
    func testKernelBenchmarkReportsEveryKernel() {
        let full = ProcessInfo.processInfo.environment["ABLITERATE_BENCH"] == "1"
        let results = full ? KernelBenchmark.run() : KernelBenchmark.run(repetitions: 1, valueCount: 1 << 12)
        if full { for r in results { print("BENCH", r) } }
        // sgemm 4, precision 4, one dequantization per GGML type and NF4, then the direct dots: f32
        // activations for bf16, f16 and six GGML types, 8-bit activations for those six.
        XCTAssertEqual(results.count, 4 + 4 + GGMLBlocks.supportedTypes.count + 1 + 8 + 6)
        for r in results { XCTAssertTrue(r.value > 0 && r.value.isFinite, "\(r)") }
        XCTAssertTrue(results.contains { $0.name == "dequantize Q4_K" && $0.unit == "GB/s" })
        XCTAssertEqual(results.filter { $0.name.hasPrefix("direct dot") && $0.unit == "GB/s read" }.count, 8 + 6)
    }
}
