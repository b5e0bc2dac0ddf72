import CLTrainDistributed
import CLTrainNN
import CLTrainRandom
import CLTrainRuntime
import CLTrainTraining
import Foundation

/// `cltrain bench train`: timed training steps of a model on synthetic data, through the
/// profiling backend, with the memory figures of the pool and of the process.
public enum TrainBenchmark {
    public struct Report: Codable, Sendable {
        public var model: String
        public var device: String
        public var batchSize: Int
        public var steps: Int
        public var imagesPerSecond: Double
        public var milliseconds: Double
        public var gflopPerImage: Double
        public var gflops: Double
        public var sgemmGflops: Double
        public var percentOfSgemm: Double
        public var secondsByFamily: [String: Double]
        public var peakBytes: Int
        /// Growth of the process's resident memory over the first step (Linux; nil elsewhere).
        public var firstStepResidentBytes: Int?
        public var allocationsPerStepAfterFirst: Double
        public var parameters: Int
        /// What a timed step enqueued, on an OpenCL device (nil on the CPU).
        public var openCLPerStep: OpenCLWork?
        /// Under mpirun: the ranks (each stepping on its share of `batchSize`; `imagesPerSecond` is
        /// the global batch's), and the time per step rank 0 spent averaging gradients (reading
        /// them from the device, the bucketed sums including any wait for a slower rank, writing
        /// the averages back) with its bandwidth, gradient bytes over that time.
        public var ranks: Int?
        public var gradientBytes: Int?
        public var averagingMilliseconds: Double?
        public var averagingGigabytesPerSecond: Double?
    }

    /// Kernel launches and host-device copies per step (averages over the timed steps).
    public struct OpenCLWork: Codable, Sendable {
        /// Our own kernels.
        public var kernelLaunches: Double
        /// CLBlast calls (each may enqueue more than one kernel inside CLBlast).
        public var clblastCalls: Double
        public var hostToDeviceWrites: Double
        public var hostToDeviceBytes: Double
        public var deviceToHostReads: Double
        public var deviceToHostBytes: Double

        init(_ counts: OpenCLBackend.Counters, steps: Int) {
            let s = Double(steps)
            kernelLaunches = Double(counts.kernelLaunches) / s
            clblastCalls = Double(counts.clblastCalls) / s
            hostToDeviceWrites = Double(counts.writes) / s
            hostToDeviceBytes = Double(counts.writeBytes) / s
            deviceToHostReads = Double(counts.reads) / s
            deviceToHostBytes = Double(counts.readBytes) / s
        }
    }

    /// Two warm-up steps of `model` at `batchSize` x `channels` x `size` x `size`, then `steps`
    /// timed ones, on `plain` seen through a `ProfiledBackend`; `freeze` as `cltrain train --freeze`.
    public static func run(model name: String, batchSize: Int, steps: Int, size: Int, channels: Int, classes: Int,
                           freeze: FrozenPart = .none, on plain: Device, communicator: (any Communicator)? = nil) throws -> Report {
        let profiled = ProfiledBackend(plain.backend)
        let device = Device(backend: profiled)
        let peak = try KernelBenchmark(minimumSeconds: 0.5).sgemmGflops(on: plain)
        let ranks = communicator?.size ?? 1
        // With several ranks, each steps on its share of the global batch.
        let share = communicator.map { BatchShard(count: batchSize, rank: $0.rank, ranks: $0.size).range.count } ?? batchSize
        guard share > 0 else { throw UsageError("--batch-size \(batchSize) cannot be shared by \(ranks) ranks: give each an image at least") }
        let step = try SyntheticTrainingStep(model: name, batchSize: share, channels: channels, height: size, width: size,
                                             classes: classes, device: device, freeze: freeze)
        if let communicator, ranks > 1 {
            step.step.dataParallel = DataParallel(communicator: communicator, parameters: step.step.trainableParameters)
        }
        let parallel = step.step.dataParallel
        let residentBefore = ResidentMemory.startPeakWindow()
        try step()
        let firstStepResident = ResidentMemory.peakGrowth(since: residentBefore)
        let allocationsAfterFirst = device.pool.statistics.deviceAllocations
        try step()
        try device.backend.synchronize()
        profiled.reset()
        let openCL = plain.backend.underlying as? OpenCLBackend
        let countsBefore = openCL?.counters
        let averagingBefore = parallel?.averagingSeconds ?? 0
        let start = Date()
        for _ in 0..<steps { try step() }
        try device.backend.synchronize()
        let seconds = Date().timeIntervalSince(start)
        let averaging = parallel.map { ($0.averagingSeconds - averagingBefore) / Double(steps) }
        let work = openCL.flatMap { cl in countsBefore.map { OpenCLWork(cl.counters - $0, steps: steps) } }
        let stats = device.pool.statistics
        let flopsPerStep = profiled.flops / Double(steps)
        return Report(
            model: name, device: plain.name, batchSize: batchSize, steps: steps,
            imagesPerSecond: Double(batchSize * steps) / seconds, milliseconds: 1000 * seconds / Double(steps),
            gflopPerImage: flopsPerStep / Double(share) / 1e9, gflops: flopsPerStep * Double(steps) / seconds / 1e9,
            sgemmGflops: peak, percentOfSgemm: 100 * flopsPerStep * Double(steps) / seconds / 1e9 / peak,
            secondsByFamily: Dictionary(uniqueKeysWithValues: profiled.secondsByFamily.map { ($0.key.rawValue, $0.value / Double(steps)) }),
            peakBytes: stats.peakLiveBytes, firstStepResidentBytes: firstStepResident,
            allocationsPerStepAfterFirst: Double(stats.deviceAllocations - allocationsAfterFirst) / Double(steps + 1),
            parameters: step.model.parameterCount, openCLPerStep: work,
            ranks: parallel.map(\.ranks), gradientBytes: parallel?.gradientBytes, averagingMilliseconds: averaging.map { 1000 * $0 },
            averagingGigabytesPerSecond: parallel.flatMap { p in averaging.map { Double(p.gradientBytes) / max($0, 1e-12) / 1e9 } })
    }
}
