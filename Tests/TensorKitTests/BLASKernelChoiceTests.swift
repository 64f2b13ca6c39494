import Foundation
import XCTest
@testable import TensorKit

/// `BLAS.switchedCore`: OpenBLAS's kernels follow what the CPU can do. Debian's OpenBLAS 0.3.21 does not
/// know recent Xeon model numbers and falls back to its SSE3 ("Prescott") kernels there, 2–4× slower.
final class BLASKernelChoiceTests: XCTestCase {
    func testOpenBLASRunsKernelsForThisCPUsVectorUnits() throws {
        try XCTSkipIf(ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] != nil, "OPENBLAS_CORETYPE set: the user's choice stands")
        try XCTSkipIf(dlsym(UnsafeMutableRawPointer(bitPattern: 0), "gotoblas_dynamic_init") == nil,
                      "this OpenBLAS chooses its kernels at build time, not at run time")
        try XCTSkipUnless(NativeDot.available >= .avx2, "no AVX2 on this CPU: the generic kernels are right")
        let generic = ["prescott", "core2", "penryn", "dunnington", "nehalem", "atom", "sandybridge"]
        XCTAssertFalse(generic.contains(BLAS.coreName.lowercased()),
                       "OpenBLAS runs its \(BLAS.coreName) kernels on a CPU with AVX2 (switched: \(BLAS.switchedCore ?? "no"))")
        // And sgemm still multiplies: a (3×5)·(5×4) product against the definition.
        let a = (0..<15).map { Float($0 % 7) - 3 }, b = (0..<20).map { Float($0 % 5) * 0.5 - 1 }
        var c = [Float](repeating: 0, count: 12)
        BLAS.sgemm(transposeA: false, transposeB: false, m: 3, n: 4, k: 5, a: a, lda: 5, b: b, ldb: 4, c: &c, ldc: 4)
        for i in 0..<3 { for j in 0..<4 {
            XCTAssertEqual(c[i * 4 + j], (0..<5).reduce(Float(0)) { $0 + a[i * 5 + $1] * b[$1 * 4 + j] }, accuracy: 1e-5)
        } }
    }
}
