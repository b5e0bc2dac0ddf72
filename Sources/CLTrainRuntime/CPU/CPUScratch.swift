/// Scratch memory of a CPU op (or of one stretch of it), taken from the device's memory pool, so
/// that the pool's figures (live and peak bytes, device allocations) count it and a call that
/// repeats an earlier one is served from the pool's cache. Whoever makes one releases it when done,
/// which gives back everything it handed out:
///
///     let scratch = CPUScratch(pool)
///     defer { scratch.release() }
///     let col = try scratch.floats(count)
///
/// Worker threads' buffers are taken by the calling thread before the threads start, one per
/// chunk, not by the threads themselves: a call then holds the same buffers however its chunks
/// overlap in time, so a repeated call allocates nothing new. One thread at a time.
final class CPUScratch {
    let pool: MemoryPool
    private var taken: [RawBuffer] = []

    init(_ pool: MemoryPool) {
        precondition((pool.allocator as? any Backend)?.underlying is CPUBackend,
                     "CPUScratch: the pool of \(pool.deviceName) does not hand out host memory")
        self.pool = pool
    }

    deinit {
        precondition(taken.isEmpty, "CPUScratch: \(taken.count) buffers were never released")
    }

    /// Room for `count` floats (uninitialised), valid until `release()`.
    func floats(_ count: Int) throws -> UnsafeMutablePointer<Float> {
        try take(count, of: Float.self)
    }

    /// Room for `count` 32-bit integers (uninitialised), valid until `release()`.
    func int32s(_ count: Int) throws -> UnsafeMutablePointer<Int32> {
        try take(count, of: Int32.self)
    }

    /// Give everything handed out back to the pool.
    func release() {
        for buffer in taken.reversed() { pool.release(buffer) }
        taken.removeAll()
    }

    private func take<T>(_ count: Int, of type: T.Type) throws -> UnsafeMutablePointer<T> {
        let bytes = count.multipliedReportingOverflow(by: MemoryLayout<T>.stride)
        precondition(count >= 0 && !bytes.overflow, "CPUScratch: room for \(count) values of \(T.self)")
        let buffer = try pool.allocate(bytes: bytes.partialValue)
        taken.append(buffer)
        // On the CPU backend the handle is the host pointer, 64-byte aligned.
        return buffer.handle.bindMemory(to: T.self, capacity: count)
    }
}
