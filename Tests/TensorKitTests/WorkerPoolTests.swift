import Dispatch
import XCTest
@testable import TensorKit

/// `WorkerPool.parallel`: every index runs exactly once, on more than one thread when there are
/// several, for any thread count; a nested call and calls from several threads at once still run every
/// index (through the fallback), never deadlock.
final class WorkerPoolTests: XCTestCase {
    private func counts(_ n: Int, _ run: ((Int) -> Void) -> Void) -> [Int] {
        let slots = UnsafeMutablePointer<Int>.allocate(capacity: max(n, 1))
        slots.initialize(repeating: 0, count: max(n, 1))
        defer { slots.deallocate() }
        run { slots[$0] += 1 }  // each index is one thread's alone
        return Array(UnsafeBufferPointer(start: slots, count: n))
    }

    func testEveryIndexRunsOnceForAnyThreadCount() {
        let saved = BLAS.threadCount
        defer { BLAS.threadCount = saved }
        for threads in [1, 2, 3, 5] {
            BLAS.threadCount = threads
            for n in [0, 1, 2, 3, 7, 64, 1000] {
                for _ in 0..<20 {
                    XCTAssertEqual(counts(n) { body in WorkerPool.parallel(n, body) }, [Int](repeating: 1, count: n),
                                   "threads \(threads), n \(n)")
                }
            }
        }
    }

    func testSeveralThreadsRunIndices() {
        let saved = BLAS.threadCount
        defer { BLAS.threadCount = saved }
        BLAS.threadCount = 2
        let ids = UnsafeMutablePointer<pthread_t>.allocate(capacity: 2)
        defer { ids.deallocate() }
        var distinct = false
        for _ in 0..<50 where !distinct {
            WorkerPool.parallel(2) { w in
                ids[w] = pthread_self()
                usleep(2000)  // both indices in flight at once
            }
            distinct = pthread_equal(ids[0], ids[1]) == 0
        }
        XCTAssertTrue(distinct, "two indices never ran on two threads")
    }

    func testNestedAndConcurrentCallsRunEverything() {
        let saved = BLAS.threadCount
        defer { BLAS.threadCount = saved }
        BLAS.threadCount = 2
        let inner = counts(4 * 8) { body in
            WorkerPool.parallel(4) { o in WorkerPool.parallel(8) { i in body(o * 8 + i) } }
        }
        XCTAssertEqual(inner, [Int](repeating: 1, count: 32))
        let total = counts(8 * 100) { body in
            DispatchQueue.concurrentPerform(iterations: 8) { caller in
                WorkerPool.parallel(100) { i in body(caller * 100 + i) }
            }
        }
        XCTAssertEqual(total, [Int](repeating: 1, count: 800))
    }
}
