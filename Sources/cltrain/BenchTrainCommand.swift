import ArgumentParser
import CLTrainNN
import CLTrainCheck
import CLTrainRandom
import CLTrainRuntime
import CLTrainTraining
import Foundation

struct BenchTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Time training steps of a model on synthetic data: img/s, GFLOP/s, time by op family, memory."
    )

    @Option(name: .long, help: "Model name (see `cltrain models`).")
    var model = "densenet-bc-100"

    @Option(name: .long, help: "Images per batch.")
    var batchSize = 64

    @Option(name: .long, help: "Timed steps (after two warm-up steps).")
    var steps = 5

    @Option(name: .long, help: "Input height and width.")
    var size = 28

    @Option(name: .long, help: "Input channels.")
    var channels = 1

    @Option(name: .long, help: "Classes.")
    var classes = 10

    @OptionGroup var deviceOptions: DeviceOptions

    @Flag(name: .long, help: "Print JSON.")
    var json = false

    func validate() throws {
        guard batchSize > 0, steps > 0, size >= 8, channels > 0, classes > 1 else {
            throw ValidationError("--batch-size and --steps must be at least 1, --size at least 8, --classes at least 2")
        }
        guard ModelCatalog.entry(named: model) != nil else { throw ValidationError("unknown model '\(model)': see `cltrain models`") }
    }

    struct Report: Codable {
        var model: String
        var device: String
        var batchSize: Int
        var steps: Int
        var imagesPerSecond: Double
        var milliseconds: Double
        var gflopPerImage: Double
        var gflops: Double
        var sgemmGflops: Double
        var percentOfSgemm: Double
        var secondsByFamily: [String: Double]
        var peakBytes: Int
        /// Growth of the process's resident memory over the first step (Linux; nil elsewhere).
        var firstStepResidentBytes: Int?
        var allocationsPerStepAfterFirst: Double
        var parameters: Int
    }

    func run() throws {
        try reportingErrors {
            let plain = try deviceOptions.open()
            let profiled = ProfiledBackend(plain.backend)
            let device = Device(backend: profiled)
            let peak = try KernelBenchmark(minimumSeconds: 0.5).sgemmGflops(on: plain)
            let network = try ModelCatalog.entry(named: model)!.make(inputChannels: channels, classes: classes, device: device, seed: 0)
            var random = SeededRandom(seed: 1)
            // Allocate on the device first: a batch too large fails here, with a clear error.
            let input = try device.makeTensor([batchSize, channels, size, size])
            try device.write(random.uniforms(input.count), to: input)
            let labels = try device.tensor((0..<batchSize).map { Float($0 % classes) }, shape: [batchSize])
            // The training recipe's optimizer (SGD, Nesterov) at a rate that keeps random data finite.
            var recipe = TrainingOptions()
            recipe.learningRate = 0.01
            let trainingStep = try TrainingStep(model: network, options: recipe)
            func step() throws { try trainingStep(input, labels: labels) }
            let residentBefore = ResidentMemory.startPeakWindow()
            try step()
            let firstStepResident = ResidentMemory.peakGrowth(since: residentBefore)
            let allocationsAfterFirst = device.pool.statistics.deviceAllocations
            try step()
            try device.backend.synchronize()
            profiled.reset()
            let start = Date()
            for _ in 0..<steps { try step() }
            try device.backend.synchronize()
            let seconds = Date().timeIntervalSince(start)
            let stats = device.pool.statistics
            let flopsPerStep = profiled.flops / Double(steps)
            let report = Report(
                model: model, device: plain.name, batchSize: batchSize, steps: steps,
                imagesPerSecond: Double(batchSize * steps) / seconds, milliseconds: 1000 * seconds / Double(steps),
                gflopPerImage: flopsPerStep / Double(batchSize) / 1e9, gflops: flopsPerStep * Double(steps) / seconds / 1e9,
                sgemmGflops: peak, percentOfSgemm: 100 * flopsPerStep * Double(steps) / seconds / 1e9 / peak,
                secondsByFamily: Dictionary(uniqueKeysWithValues: profiled.secondsByFamily.map { ($0.key.rawValue, $0.value / Double(steps)) }),
                peakBytes: stats.peakLiveBytes, firstStepResidentBytes: firstStepResident,
                allocationsPerStepAfterFirst: Double(stats.deviceAllocations - allocationsAfterFirst) / Double(steps + 1),
                parameters: network.parameterCount)
            if json {
                try printJSON(report)
                return
            }
            print("\(model) on \(plain.name), batch \(batchSize), \(steps) steps, \(report.parameters) parameters")
            print(String(format: "  %.1f img/s  %.1f ms/step  %.3f GFLOP/image  %.1f GFLOP/s  (%.0f%% of SGEMM %.1f GFLOP/s)",
                         report.imagesPerSecond, report.milliseconds, report.gflopPerImage, report.gflops, report.percentOfSgemm, peak))
            let total = report.secondsByFamily.values.reduce(0, +)
            for (family, time) in report.secondsByFamily.sorted(by: { $0.value > $1.value }) {
                print("  " + pad(family, 16) + String(format: " %8.1f ms/step  %5.1f%%", 1000 * time, 100 * time / max(total, 1e-12)))
            }
            print("  peak memory \(formatBytes(report.peakBytes)); device allocations per step after the first: "
                  + String(format: "%.1f", report.allocationsPerStepAfterFirst))
            if let resident = report.firstStepResidentBytes {
                print("  host resident memory growth over the first step: \(formatBytes(resident))")
            }
        }
    }
}
