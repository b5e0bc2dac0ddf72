import Dispatch
import Foundation

/// Wraps a `BatchIterator` and builds its batches on a background queue, at most `depth`
/// ahead of the caller, so the next batch is ready while the current one trains. It yields
/// exactly the batches of the wrapped iterator, in the same order.
///
/// Use from one consumer thread. Dropping the wrapper stops the producer after the batch it is
/// building.
public final class PrefetchingBatches: IteratorProtocol, Sequence {
    private let shared: Shared
    /// Position (samples consumed) after the last batch handed to the caller; save it to resume.
    public private(set) var position: Int
    public let epoch: Int
    private var finished = false

    public init(_ iterator: BatchIterator, depth: Int = 2) {
        precondition(depth >= 1, "prefetch depth must be at least 1")
        position = iterator.position
        epoch = iterator.epoch
        shared = Shared(depth: depth)
        let shared = self.shared
        DispatchQueue.global(qos: .userInitiated).async {
            shared.produce(from: iterator)
        }
    }

    deinit {
        shared.cancel()
    }

    public func next() -> Batch? {
        guard !finished else { return nil }
        shared.items.wait()
        let batch = shared.pop()
        shared.slots.signal()
        if let batch {
            position = batch.position + batch.count
        } else {
            finished = true
        }
        return batch
    }

    /// State shared with the producer; kept apart so the producer does not keep the wrapper alive.
    private final class Shared: @unchecked Sendable {
        let slots: DispatchSemaphore
        let items = DispatchSemaphore(value: 0)
        private let lock = NSLock()
        private var queue: [Batch?] = []
        private var cancelled = false

        init(depth: Int) {
            // Start at 0 and signal up to `depth`: libdispatch traps when a semaphore is freed
            // with a value below the one it was created with (as when a consumer stops early).
            slots = DispatchSemaphore(value: 0)
            for _ in 0..<depth { slots.signal() }
        }

        /// The producer loop: build a batch whenever a slot is free, end with nil.
        func produce(from iterator: BatchIterator) {
            var source = iterator
            while true {
                slots.wait()
                if isCancelled { return }
                let batch = source.next()
                push(batch)
                if batch == nil { return }
            }
        }

        var isCancelled: Bool {
            lock.lock()
            defer { lock.unlock() }
            return cancelled
        }

        func cancel() {
            lock.lock()
            cancelled = true
            lock.unlock()
            // Wake a producer waiting for a free slot so it can see the flag and exit.
            slots.signal()
        }

        func push(_ batch: Batch?) {
            lock.lock()
            queue.append(batch)
            lock.unlock()
            items.signal()
        }

        func pop() -> Batch? {
            lock.lock()
            defer { lock.unlock() }
            return queue.isEmpty ? nil : queue.removeFirst()
        }
    }
}
