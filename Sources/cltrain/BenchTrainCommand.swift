import ArgumentParser
import CLTrainNN
import CLTrainCheck
import CLTrainDistributed
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

    @OptionGroup var shape: StepShapeOptions

    @Option(name: .long, help: "Timed steps (after two warm-up steps).")
    var steps = 5

    @Option(name: .long, help: "none, or features: time the steps of `cltrain train --freeze features` (only the classifier trains).", transform: { text in
        guard let part = FrozenPart(rawValue: text.lowercased()) else { throw ValidationError("unknown --freeze '\(text)': use none or features") }
        return part
    })
    var freeze: FrozenPart = .none

    @OptionGroup var deviceOptions: DeviceOptions

    @Flag(name: .long, help: "Print JSON.")
    var json = false

    func validate() throws {
        guard steps > 0 else { throw ValidationError("--steps must be at least 1") }
        guard ModelCatalog.entry(named: model) != nil else { throw ValidationError("unknown model '\(model)': see `cltrain models`") }
    }

    func run() throws {
        // Under mpirun every rank steps on its share of the batch and averages gradients; rank 0 prints.
        let communicator = try openCommunicator()
        try reportingRankErrors(communicator) {
            try communicator.checkSameSettings([("model", model), ("batch-size", "\(shape.batchSize)"), ("size", "\(shape.size)"),
                                                ("channels", "\(shape.channels)"), ("classes", "\(shape.classes)"), ("steps", "\(steps)"),
                                                ("freeze", freeze.rawValue)])
            let device = try Device.open(deviceOptions.device, tune: deviceOptions.tune, localRank: communicator.localRank,
                                         localSize: communicator.localSize)
            let report = try TrainBenchmark.run(model: model, batchSize: shape.batchSize, steps: steps, size: shape.size,
                                                channels: shape.channels, classes: shape.classes, freeze: freeze, on: device,
                                                communicator: communicator)
            if communicator.rank > 0 { return }
            if json {
                try printJSON(report)
                return
            }
            print("\(model) on \(report.device), batch \(shape.batchSize), \(steps) steps, \(report.parameters) parameters"
                  + (freeze == .none ? "" : ", --freeze \(freeze.rawValue)")
                  + (report.ranks.map { ", \($0) ranks (rank 0's device; img/s of the global batch, the rest per rank)" } ?? ""))
            if let milliseconds = report.averagingMilliseconds, let bandwidth = report.averagingGigabytesPerSecond {
                print(String(format: "  gradient averaging %.1f ms/step for %@ (%.2f GB/s: read, bucketed allreduce incl. waiting, write back)",
                             milliseconds, formatBytes(report.gradientBytes ?? 0), bandwidth))
            }
            print(String(format: "  %.1f img/s  %.1f ms/step  %.3f GFLOP/image  %.1f GFLOP/s  (%.0f%% of SGEMM %.1f GFLOP/s)",
                         report.imagesPerSecond, report.milliseconds, report.gflopPerImage, report.gflops, report.percentOfSgemm, report.sgemmGflops))
            let total = report.secondsByFamily.values.reduce(0, +)
            for (family, time) in report.secondsByFamily.sorted(by: { $0.value > $1.value }) {
                print("  " + pad(family, 16) + String(format: " %8.1f ms/step  %5.1f%%", 1000 * time, 100 * time / max(total, 1e-12)))
            }
            print("  peak memory \(formatBytes(report.peakBytes)); device allocations per step after the first: "
                  + String(format: "%.1f", report.allocationsPerStepAfterFirst))
            if let resident = report.firstStepResidentBytes {
                print("  host resident memory growth over the first step: \(formatBytes(resident))")
            }
            if let work = report.openCLPerStep {
                func count(_ value: Double) -> String { String(format: "%.1f", value) }
                print("  per step: \(count(work.kernelLaunches)) kernel launches + \(count(work.clblastCalls)) CLBlast calls; "
                      + "\(count(work.hostToDeviceWrites)) writes to the device (\(formatBytes(Int(work.hostToDeviceBytes.rounded())))), "
                      + "\(count(work.deviceToHostReads)) reads from it (\(formatBytes(Int(work.deviceToHostBytes.rounded()))))")
            }
        }
    }
}
