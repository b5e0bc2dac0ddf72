import Dispatch

/// Splits a loop over the backend's threads when there is enough work to pay for it.
struct CPUParallel {
    let threads: Int
    /// Below this much work (items x cost) a loop runs on the calling thread.
    static let minimumWork = 1 << 15

    /// Calls `body` on disjoint, ordered chunks that together cover `0..<count`; `cost` is the
    /// rough work per item. Chunks may run concurrently, so `body` must write disjoint memory.
    func forChunks(_ count: Int, cost: Int = 1, _ body: (Range<Int>) -> Void) {
        guard count > 0 else { return }
        let work = count.multipliedReportingOverflow(by: max(cost, 1))
        let wanted = work.overflow ? threads : work.partialValue / Self.minimumWork
        let chunks = min(threads, count, max(wanted, 1))
        if chunks <= 1 {
            body(0..<count)
            return
        }
        DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
            body(count * chunk / chunks ..< count * (chunk + 1) / chunks)
        }
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
