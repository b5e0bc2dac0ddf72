/// Which parameters share a bucket: gradient sizes (in elements) in the order backward finishes
/// them, that is the reverse of `state_dict` order, cut greedily into runs of at most `bucketBytes`
/// each (a parameter larger than that has a bucket of its own). Pure arithmetic.
public struct BucketLayout: Equatable, Sendable {
    /// The default bucket: 4 MiB. PyTorch DDP takes 25 MiB (and 1 MiB for the first), Horovod fuses
    /// up to 64 MiB; the models here are smaller (DenseNet-BC-100 has 3.2 MB of gradients in all,
    /// DRN-C-26 84 MB), so 25 MiB would leave most of them one bucket sent after backward, with
    /// nothing to overlap. At 4 MiB a bucket still costs far more in bandwidth than in latency
    /// (4 MiB takes ~3 ms at 10 Gb/s, an allreduce's start ~0.01-0.05 ms).
    public static let defaultBucketBytes = 4 << 20

    /// `buckets[b]` lists the indices (into the sizes given) of bucket b's gradients, in order.
    public let buckets: [[Int]]
    /// For each gradient index: its bucket and its offset (in elements) in that bucket.
    public let bucketOf: [Int]
    public let offsetOf: [Int]
    /// Elements per bucket.
    public let bucketElements: [Int]

    public init(sizes: [Int], bucketBytes: Int = BucketLayout.defaultBucketBytes) {
        precondition(bucketBytes > 0 && sizes.allSatisfy { $0 >= 0 })
        let capacity = max(1, bucketBytes / MemoryLayout<Float>.size)
        var buckets: [[Int]] = [], elements: [Int] = []
        var bucketOf = [Int](repeating: 0, count: sizes.count), offsetOf = bucketOf
        for (index, size) in sizes.enumerated() {
            if buckets.isEmpty || (elements[elements.count - 1] > 0 && elements[elements.count - 1] + size > capacity) {
                buckets.append([])
                elements.append(0)
            }
            bucketOf[index] = buckets.count - 1
            offsetOf[index] = elements[elements.count - 1]
            buckets[buckets.count - 1].append(index)
            elements[elements.count - 1] += size
        }
        self.buckets = buckets
        self.bucketOf = bucketOf
        self.offsetOf = offsetOf
        self.bucketElements = elements
    }
}

/// Averages parameter gradients over the ranks in buckets, each sent as soon as backward has
/// finished all of its gradients, so that sending overlaps the rest of backward.
///
/// Each step: `markReady(index:values:)` once for every gradient (indices as in the sizes given,
/// normally in that order), then `finish()`, then `gradient(_:)` reads each averaged gradient. A
/// bucket's sum starts when its last gradient is marked, and only after every bucket before it has
/// started, so that all ranks start the same sums in the same order whatever order gradients come
/// in. Averaged, not summed: the update is then a single process's (each rank's loss is its mean,
/// weighted by `BatchShard.lossWeight`), as PyTorch DDP does.
///
/// Host memory only: the staging buffers are allocated once, so a step allocates nothing.
public final class GradientBuckets {
    public let layout: BucketLayout
    private let communicator: any Communicator
    private let sizes: [Int]
    private var staging: [UnsafeMutableBufferPointer<Float>]
    private var missing: [Int]
    private var marked: [Bool]
    private var pending: [PendingAllreduce?]
    private var started = 0

    public init(sizes: [Int], bucketBytes: Int = BucketLayout.defaultBucketBytes, communicator: any Communicator) {
        self.sizes = sizes
        self.layout = BucketLayout(sizes: sizes, bucketBytes: bucketBytes)
        self.communicator = communicator
        staging = layout.bucketElements.map { count in
            let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: max(count, 1))
            buffer.initialize(repeating: 0)
            return buffer
        }
        missing = layout.buckets.map(\.count)
        marked = [Bool](repeating: false, count: sizes.count)
        pending = [PendingAllreduce?](repeating: nil, count: layout.buckets.count)
    }

    deinit {
        pending = []  // wait for (and drop) every sum in flight before its buffer goes
        staging.forEach { $0.deallocate() }
    }

    /// Gradient `index` is final: copy it to its bucket, start every bucket that is now complete
    /// (in bucket order), and let the sums already in flight progress.
    public func markReady(index: Int, values: UnsafeBufferPointer<Float>) throws {
        precondition(values.count == sizes[index], "gradient \(index) has \(values.count) values, not \(sizes[index])")
        if let source = values.baseAddress, values.count > 0 {
            staging(index).baseAddress!.update(from: source, count: values.count)
        }
        try markReady(index: index)
    }

    /// Where gradient `index` goes in its bucket: a device read may land there directly (then
    /// `markReady(index:)` once the read is complete), saving a copy. Not to be written while
    /// the bucket's sum is in flight.
    public func staging(_ index: Int) -> UnsafeMutableBufferPointer<Float> {
        let start = layout.offsetOf[index]
        return UnsafeMutableBufferPointer(rebasing: staging[layout.bucketOf[index]][start..<(start + sizes[index])])
    }

    /// Gradient `index` is in `staging(index)`: as `markReady(index:values:)` without the copy.
    public func markReady(index: Int) throws {
        precondition(!marked[index], "gradient \(index) marked twice in one step")
        marked[index] = true
        let bucket = layout.bucketOf[index]
        missing[bucket] -= 1
        while started < layout.buckets.count && missing[started] == 0 {
            let count = layout.bucketElements[started]
            pending[started] = try communicator.startAllreduceSum(UnsafeMutableBufferPointer(rebasing: staging[started][0..<count]))
            started += 1
        }
        for request in pending.prefix(started) { _ = try request?.test() }
    }

    /// `markReady` with an array.
    public func markReady(index: Int, values: [Float]) throws {
        try values.withUnsafeBufferPointer { try markReady(index: index, values: $0) }
    }

    /// Wait for every bucket's sum and divide it by the number of ranks; then reset for the next
    /// step. Every gradient must have been marked.
    public func finish() throws {
        precondition(started == layout.buckets.count, "finish() before every gradient was marked ready")
        for request in pending { try request?.wait() }
        let ranks = Float(communicator.size)
        if ranks != 1 {
            for (bucket, count) in layout.bucketElements.enumerated() {
                let buffer = staging[bucket]
                for i in 0..<count { buffer[i] /= ranks }
            }
        }
        pending = pending.map { _ in nil }
        missing = layout.buckets.map(\.count)
        marked = marked.map { _ in false }
        started = 0
    }

    /// The averaged gradient `index`, valid after `finish()` until the next `markReady`.
    public func gradient(_ index: Int) -> UnsafeBufferPointer<Float> {
        UnsafeBufferPointer(staging(index))
    }
}
