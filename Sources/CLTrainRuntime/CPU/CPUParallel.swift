/// Splits a loop over the backend's threads when there is enough work to pay for it.
struct CPUParallel {
    /// The workers that run the chunks; nil: every loop on the calling thread.
    private let pool: CPUThreadPool?
    var threads: Int { pool?.threads ?? 1 }

    /// Loops split over `pool`'s threads.
    init(pool: CPUThreadPool) {
        self.pool = pool
    }

    /// Every loop on the calling thread (the runner of loops nested in a thread's chunk).
    static let serial = CPUParallel()

    private init() {
        pool = nil
    }

    /// Below this much work (items x cost) a loop runs on the calling thread.
    static let minimumWork = 1 << 15

    /// How many chunks `forChunks` splits `count` items of rough work `cost` each into (0 for no items).
    func chunkCount(_ count: Int, cost: Int = 1) -> Int {
        guard count > 0 else { return 0 }
        let work = count.multipliedReportingOverflow(by: max(cost, 1))
        let wanted = work.overflow ? threads : work.partialValue / Self.minimumWork
        return min(threads, count, max(wanted, 1))
    }

    /// Calls `body` on disjoint, ordered chunks that together cover `0..<count`; `cost` is the
    /// rough work per item. Chunks may run concurrently, so `body` must write disjoint memory.
    func forChunks(_ count: Int, cost: Int = 1, _ body: (Range<Int>) -> Void) {
        forChunks(count, chunks: chunkCount(count, cost: cost)) { _, range in body(range) }
    }

    /// Calls `body(chunk, range)` for chunks `0..<chunks` (as `chunkCount` gives them, so a caller
    /// can prepare something per chunk first), chunk `i` covering `count * i / chunks ..< count * (i + 1) / chunks`.
    func forChunks(_ count: Int, chunks: Int, _ body: (_ chunk: Int, Range<Int>) -> Void) {
        guard count > 0 else { return }
        precondition(chunks >= 1 && chunks <= count, "forChunks: \(chunks) chunks of \(count) items")
        if chunks == 1 {
            body(0, 0..<count)
            return
        }
        run(chunks) { chunk in
            body(chunk, count * chunk / chunks ..< count * (chunk + 1) / chunks)
        }
    }

    /// `body(i)` for every i in `0..<count`, on the pool's threads where there is one.
    func run(_ count: Int, _ body: (Int) -> Void) {
        if let pool {
            pool.run(count, body)
        } else {
            for i in 0..<count { body(i) }
        }
    }

    /// `p[0..<count] = 0`, split over the threads where it is large (a thread's gradient buffers:
    /// cleared on one thread, they were a serial stretch of every weight gradient).
    func zero(_ p: UnsafeMutablePointer<Float>, count: Int) {
        forChunks(count) { range in (p + range.lowerBound).update(repeating: 0, count: range.count) }
    }

    /// Calls `body` once per index of `0..<count`, possibly concurrently.
    func forEach(_ count: Int, cost: Int = 1, _ body: (Int) -> Void) {
        forChunks(count, cost: cost) { range in
            for index in range { body(index) }
        }
    }

    /// An element-wise loop over `rows` rows of `length` elements split evenly by elements:
    /// `body(row, columns)` for pieces of rows.
    func forRows(_ rows: Int, length: Int, _ body: (Int, Range<Int>) -> Void) {
        guard rows > 0, length > 0 else { return }
        forChunks(rows * length) { range in
            var index = range.lowerBound
            while index < range.upperBound {
                let row = index / length
                let column = index - row * length
                let end = min(range.upperBound - row * length, length)
                body(row, column..<end)
                index = row * length + end
            }
        }
    }
}
