import Benchmark
import CLTrainNN
import CLTrainRandom
import CLTrainRuntime
import CLTrainTraining
import Foundation

/// One SGD training step (forward, backward, Nesterov update) at batch 64 on 28x28x1 inputs,
/// for the models of the speed targets, on the device `CLTRAIN_DEVICE` names (default: auto).
let benchmarks: @Sendable () -> Void = {
    let choice = (try? DeviceChoice(parsing: ProcessInfo.processInfo.environment["CLTRAIN_DEVICE"] ?? "auto")) ?? .auto
    guard let device = try? Device.open(choice) else { return }
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .throughput, .peakMemoryResident], maxDuration: .seconds(10),
                                           maxIterations: 10)
    for name in ["densenet-bc-40", "densenet-bc-100", "drn-c-26"] {
        Benchmark("train step \(name) batch 64") { benchmark in
            let model = try ModelCatalog.entry(named: name)!.make(inputChannels: 1, classes: 10, device: device, seed: 0)
            var random = SeededRandom(seed: 1)
            let input = try device.tensor(random.uniforms(64 * 28 * 28), shape: [64, 1, 28, 28])
            let labels = try device.tensor((0..<64).map { Float($0 % 10) }, shape: [64])
            var recipe = TrainingOptions()
            recipe.learningRate = 0.01
            let trainingStep = try TrainingStep(model: model, options: recipe)
            func step() throws { try trainingStep(input, labels: labels) }
            try step()
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations { try step() }
            try device.backend.synchronize()
            benchmark.stopMeasurement()
        }
    }
}
