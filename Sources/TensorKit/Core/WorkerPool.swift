import CWorkerPool
import Dispatch

/// Runs a loop's iterations on a fixed set of threads that stay awake between loops
/// (`Sources/CWorkerPool`): for the few hundred short parallel loops of each decoding step, where
/// waking a thread for every loop (`DispatchQueue.concurrentPerform`) costs as much as the loop.
///
/// `parallel(_:_:)` calls `body(w)` for every w in 0 ..< n, on up to `BLAS.threadCount` threads, and
/// returns when all have returned. When the pool is already running a loop (a nested call, or a call
/// from another thread) the loop runs through `concurrentPerform` instead: same result, never a deadlock.
public enum WorkerPool {
    private final class Pool: @unchecked Sendable {
        let threads: Int
        let handle: OpaquePointer
        init?(threads: Int) {
            guard let h = abl_pool_create(Int32(threads)) else { return nil }
            self.threads = threads
            self.handle = h
        }
        deinit { abl_pool_destroy(handle) }
    }

    /// The pool for the current thread count; replaced (under `lock`) when `BLAS.threadCount` changes.
    private nonisolated(unsafe) static var current: Pool?
    private static let lock = DispatchSemaphore(value: 1)

    private static func pool(threads: Int) -> Pool? {
        lock.wait()
        defer { lock.signal() }
        if let p = current, p.threads == threads { return p }
        current = Pool(threads: threads)
        return current
    }

    /// body(w) for w in 0 ..< n, spread over the pool's threads (each thread takes w, w + threads, …).
    public static func parallel(_ n: Int, _ body: (Int) -> Void) {
        let threads = min(n, max(1, BLAS.threadCount))
        if threads <= 1 {
            for w in 0..<n { body(w) }
            return
        }
        guard let pool = pool(threads: max(1, BLAS.threadCount)) else {
            DispatchQueue.concurrentPerform(iterations: n, execute: body)
            return
        }
        let ran = withoutActuallyEscaping(body) { body -> Bool in
            var job = Job(count: n, stride: pool.threads, body: body)
            return withUnsafeMutablePointer(to: &job) { context in
                abl_pool_run(pool.handle, { context, worker in
                    let job = context!.assumingMemoryBound(to: Job.self)
                    var w = Int(worker)
                    while w < job.pointee.count { job.pointee.body(w); w += job.pointee.stride }
                }, context) != 0
            }
        }
        withExtendedLifetime(pool) {}
        if !ran { DispatchQueue.concurrentPerform(iterations: n, execute: body) }
    }

    private struct Job {
        let count: Int
        let stride: Int
        let body: (Int) -> Void
    }
}
