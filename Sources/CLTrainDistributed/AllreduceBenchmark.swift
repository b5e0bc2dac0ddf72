import Foundation

/// `cltrain bench allreduce`: times in-place float sums over all ranks and checks them exactly.
public struct AllreduceBenchmark {
    public struct Measurement: Codable, Equatable {
        public var bytes: Int
        public var repetitions: Int
        /// Rank 0's median over the repetitions (each starts after a barrier).
        public var medianSeconds: Double
        public var minimumSeconds: Double
        /// bytes / time.
        public var algorithmGigabytesPerSecond: Double
        /// 2 (N-1) / N x bytes / time, as NCCL's tests define it: what each link carries in a ring
        /// allreduce, comparable with the hardware's bandwidth whatever the number of ranks.
        public var busGigabytesPerSecond: Double
        /// nil without --check.
        public var checked: Bool?
    }

    public let communicator: any Communicator
    public var repetitions: Int
    public var warmup: Int
    public var check: Bool

    public init(communicator: any Communicator, repetitions: Int = 10, warmup: Int = 2, check: Bool = false) {
        self.communicator = communicator
        self.repetitions = repetitions
        self.warmup = warmup
        self.check = check
    }

    /// The value element i of rank r starts with: small integers, so that every partial sum over
    /// ranks is an integer below 2^24 and float sums are exact in any order.
    static func value(_ index: Int, rank: Int) -> Float { Float((index &+ 7 &* rank) % 1000) }

    /// The exact sum over `ranks` ranks of element `index`.
    static func expectedSum(_ index: Int, ranks: Int) -> Float {
        Float((0..<ranks).reduce(0) { $0 + (index &+ 7 &* $1) % 1000 })
    }

    /// Sum a buffer of `bytes` (rounded down to whole floats) `warmup + repetitions` times.
    /// `beforeRepetition(r)` runs before repetition r after the warm-up (the kill test's hook).
    public func measure(bytes: Int, beforeRepetition: (Int) throws -> Void = { _ in }) throws -> Measurement {
        let count = max(1, bytes / 4)
        let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: count)
        defer { buffer.deallocate() }
        let rank = communicator.rank, ranks = communicator.size
        var seconds: [Double] = []
        var passed = true
        for repetition in 0..<(warmup + repetitions) {
            for i in 0..<count { buffer[i] = Self.value(i, rank: rank) }
            if repetition >= warmup { try beforeRepetition(repetition - warmup) }
            try communicator.barrier()
            let start = DispatchTime.now().uptimeNanoseconds
            try communicator.allreduceSum(buffer)
            let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            if repetition >= warmup { seconds.append(elapsed) }
            if check && (repetition == 0 || repetition == warmup + repetitions - 1) {
                for i in 0..<count where buffer[i] != Self.expectedSum(i, ranks: ranks) { passed = false; break }
            }
        }
        if check { passed = try communicator.sum([passed ? 0 : 1])[0] == 0 }
        let median = seconds.sorted()[seconds.count / 2]
        let total = Double(count * 4)
        let busFactor = ranks > 1 ? 2 * Double(ranks - 1) / Double(ranks) : 0
        return Measurement(bytes: count * 4, repetitions: repetitions, medianSeconds: median, minimumSeconds: seconds.min() ?? 0,
                           algorithmGigabytesPerSecond: total / median / 1e9, busGigabytesPerSecond: busFactor * total / median / 1e9,
                           checked: check ? passed : nil)
    }

    /// What `GradientBuckets` did with gradients of `sizes` (backward order).
    public struct BucketRun: Codable, Equatable {
        public var gradients: Int
        public var bytes: Int
        public var buckets: Int
        public var bucketBytes: Int
        /// Rank 0's median from the first `markReady` to the end of `finish()`.
        public var medianSeconds: Double
        public var checked: Bool?
    }

    /// Simulate backward `repetitions` times: mark each gradient ready in order (rank r's element i
    /// of gradient g holds a value depending on r, g and i), finish, and with `check` compare every
    /// average exactly with its expected value.
    public func measureBuckets(sizes: [Int], bucketBytes: Int) throws -> BucketRun {
        let buckets = GradientBuckets(sizes: sizes, bucketBytes: bucketBytes, communicator: communicator)
        let rank = communicator.rank, ranks = communicator.size
        let gradients = sizes.map { [Float](repeating: 0, count: $0) }
        var local = gradients
        for (g, size) in sizes.enumerated() {
            for i in 0..<size { local[g][i] = Self.value(i &+ 31 &* g, rank: rank) }
        }
        var seconds: [Double] = []
        var passed = true
        for repetition in 0..<(warmup + repetitions) {
            try communicator.barrier()
            let start = DispatchTime.now().uptimeNanoseconds
            for g in sizes.indices { try buckets.markReady(index: g, values: local[g]) }
            try buckets.finish()
            let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            if repetition >= warmup { seconds.append(elapsed) }
            if check && repetition == 0 {
                for (g, size) in sizes.enumerated() {
                    let averaged = buckets.gradient(g)
                    for i in 0..<size where averaged[i] != Self.expectedSum(i &+ 31 &* g, ranks: ranks) / Float(ranks) {
                        passed = false
                        break
                    }
                }
            }
        }
        if check { passed = try communicator.sum([passed ? 0 : 1])[0] == 0 }
        return BucketRun(gradients: sizes.count, bytes: sizes.reduce(0, +) * 4, buckets: buckets.layout.buckets.count,
                         bucketBytes: bucketBytes, medianSeconds: seconds.sorted()[seconds.count / 2], checked: check ? passed : nil)
    }
}
