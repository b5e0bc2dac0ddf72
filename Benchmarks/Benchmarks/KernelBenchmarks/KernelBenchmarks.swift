import Benchmark
import CLTrainCheck
import CLTrainRuntime
import Foundation

/// Every op of `cltrain bench kernels` (DenseNet-BC-100 and DRN-C-26 shapes, batch 64) on the
/// device `CLTRAIN_DEVICE` names (default: auto).
let benchmarks: @Sendable () -> Void = {
    let choice = (try? DeviceChoice(parsing: ProcessInfo.processInfo.environment["CLTRAIN_DEVICE"] ?? "auto")) ?? .auto
    guard let device = try? Device.open(choice) else { return }
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .throughput], maxDuration: .seconds(2), maxIterations: 50)
    for (index, opCase) in KernelSuites.benchmark(batch: 64).enumerated() {
        Benchmark("\(index) \(opCase.op) \(opCase.shape)") { benchmark in
            let prepared = try opCase.prepare(on: device)
            try prepared.run()
            try device.backend.synchronize()
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                try prepared.run()
            }
            try device.backend.synchronize()
            benchmark.stopMeasurement()
        }
    }
}
