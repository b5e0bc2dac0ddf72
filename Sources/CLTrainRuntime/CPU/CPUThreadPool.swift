import CLTrainCPUKernels
import Dispatch
import Foundation

/// The CPU backend's worker threads (`cltrain_cpu_pool`, in C): `threads - 1` workers that
/// help the calling thread with each loop and spin for a while after it, so that the next loop
/// of a training step finds them awake instead of waking them (libdispatch's workers sleep at
/// once, and a virtual CPU took tens of microseconds to wake, a few percent of every step).
/// Owns the C pool and frees it (joining its threads) when released.
final class CPUThreadPool: @unchecked Sendable {
    let threads: Int
    private let pool: OpaquePointer?

    /// How long a worker spins after a loop before it sleeps: longer than the gaps between the
    /// loops of a step (tens of microseconds), short enough that an idle backend leaves the CPUs alone.
    static let spinMicroseconds: UInt32 = 200

    /// `threads` threads in all, the caller's included. With more threads than the machine has
    /// processors the workers sleep as soon as a loop ends: a spinning one would take the
    /// processor of one that has work.
    init(threads: Int) {
        self.threads = max(threads, 1)
        let spin = self.threads <= ProcessInfo.processInfo.activeProcessorCount ? Self.spinMicroseconds : 0
        pool = self.threads > 1 ? cltrain_cpu_pool_create(self.threads - 1, spin) : nil
    }

    deinit {
        if let pool { cltrain_cpu_pool_destroy(pool) }
    }

    /// `body(i)` for every i in `0..<count`, possibly concurrently, returning when all are done.
    /// With one thread the loop runs on the caller; it falls back on libdispatch when the workers
    /// are busy with another loop (a nested or concurrent call) or the loop has more items than
    /// the C pool takes.
    func run(_ count: Int, _ body: (Int) -> Void) {
        guard let pool, count > 1 else {
            for i in 0..<count { body(i) }
            return
        }
        withoutActuallyEscaping(body) { body in
            var job = body
            let ran = withUnsafeMutablePointer(to: &job) { job in
                cltrain_cpu_pool_run(pool, count, { context, index in
                    context!.assumingMemoryBound(to: ((Int) -> Void).self).pointee(index)
                }, job)
            }
            if !ran { DispatchQueue.concurrentPerform(iterations: count, execute: body) }
        }
    }
}
