import CLTrainData
import CLTrainNN
import CLTrainRuntime
import CLTrainTestSupport
import Foundation
import Logging
import XCTest
@testable import CLTrainTraining

/// Stopping a run in the middle of an epoch and resuming it from its checkpoint must end with
/// exactly the weights of a run never interrupted (CPU backend, same seed: bitwise).
final class CheckpointTests: XCTestCase {
    /// Also CheckpointDamageTests' run.
    static func makeTrainer(_ options: TrainingOptions, device: Device) throws -> Trainer {
        let train = TrainerTests.dataset(count: 160, seed: 1), test = TrainerTests.dataset(count: 32, seed: 2)
        let model = try ModelCatalog.entry(named: options.model)!.make(inputChannels: 1, classes: 2, device: device, seed: options.seed,
                                                                               dropout: options.dropout)
        return try Trainer(options: options, model: model, device: device, train: train, test: test,
                           normalization: Normalization.compute(train), logger: Logger(label: "test"))
    }

    static func options(_ optimizer: OptimizerKind) -> TrainingOptions {
        var o = TrainingOptions()
        o.model = "densenet-bc-10-k4"
        o.epochs = 3
        o.batchSize = 32
        o.learningRate = optimizer == .sgd ? 0.1 : 0.01
        o.optimizer = optimizer
        o.seed = 9
        return o
    }

    func metadata() -> RunMetadata {
        RunMetadata(model: "densenet-bc-10-k4", dataset: "synthetic", inputChannels: 1, classes: 2, height: 8, width: 8,
                    normalization: Normalization(mean: [0.5], std: [0.25]))
    }

    /// The rate each step of `trainer` used, recorded as it runs.
    final class RateLog {
        var rates: [Float] = []
        init(_ trainer: Trainer) { trainer.onProgress = { [unowned self, unowned trainer] _ in rates.append(trainer.optimizer.learningRate) } }
    }

    func checkResumeIsExact(_ optimizer: OptimizerKind, stopAfter: Int, dropout: Float = 0,
                            configure: (inout TrainingOptions) -> Void = { _ in }) throws {
        let directory = try makeTemporaryDirectory()

        var settings = Self.options(optimizer)
        settings.dropout = dropout
        configure(&settings)
        let whole = try Self.makeTrainer(settings, device: Device(backend: CPUBackend()))
        let wholeRates = RateLog(whole)
        try whole.run()

        let first = try Self.makeTrainer(settings, device: Device(backend: CPUBackend()))
        let firstRates = RateLog(first)
        first.onCheckpoint = { try Checkpoint.write(first, to: directory, metadata: self.metadata()) }
        first.stopRequested = { first.step >= stopAfter }
        XCTAssertThrowsError(try first.run()) { XCTAssertTrue($0 is TrainingInterrupted, "\($0)") }
        XCTAssertEqual(first.step, stopAfter)

        let saved = try Checkpoint.read(from: directory)
        XCTAssertEqual(saved.options, settings)
        XCTAssertEqual(saved.trainer.step, stopAfter)
        let second = try Self.makeTrainer(saved.options, device: Device(backend: CPUBackend()))
        try Checkpoint.restore(saved, into: second)
        let secondRates = RateLog(second)
        try second.run()

        // The resumed run continues the rate curve where the first stopped: every step's rate is
        // the curve's at that step, interrupted or not.
        XCTAssertEqual(firstRates.rates + secondRates.rates, wholeRates.rates)
        XCTAssertEqual(wholeRates.rates, (0..<whole.step).map { Float(whole.learningRates.rate(atStep: $0)) })
        XCTAssertEqual(whole.metrics.map(\.learningRate), second.metrics.map(\.learningRate))

        XCTAssertEqual(second.step, whole.step)
        for (a, b) in zip(try ModelWeights.stateTensors(of: whole.model), try ModelWeights.stateTensors(of: second.model)) {
            XCTAssertEqual(a.values, b.values, "\(a.name) differs after stop and resume")
        }
        XCTAssertEqual(whole.metrics.map(\.testAccuracy), second.metrics.map(\.testAccuracy))
        XCTAssertEqual(whole.metrics.map(\.emaTestAccuracy), second.metrics.map(\.emaTestAccuracy))
        if let ema = whole.ema {
            XCTAssertNotNil(whole.metrics.last?.emaTestAccuracy)
            for (a, b) in zip(ema.state, try XCTUnwrap(second.ema).state) {
                XCTAssertEqual(try whole.device.read(a.tensor), try second.device.read(b.tensor), "EMA \(a.name) differs after stop and resume")
            }
        }
        XCTAssertEqual(whole.metrics.map(\.trainLoss), second.metrics.map(\.trainLoss))
        XCTAssertFalse(whole.state.lossCurve.points.isEmpty)
        XCTAssertEqual(whole.state.lossCurve, second.state.lossCurve, "the plot's per-step loss curve continues exactly")
        XCTAssertEqual(zip(whole.model.batchNorms, second.model.batchNorms).filter { $0.batchesTracked != $1.batchesTracked }.count, 0)
    }

    func testResumingMidEpochWithSGDIsExact() throws {
        try checkResumeIsExact(.sgd, stopAfter: 7)  // 5 steps per epoch: stopped inside the second
    }

    func testResumingWithDropoutIsExact() throws {
        // Dropout masks follow the step count that checkpoints keep.
        try checkResumeIsExact(.sgd, stopAfter: 6, dropout: 0.3)
    }

    func testAResumedRunContinuesTheLearningRateCurve() throws {
        // Cosine after a fractional warm-up changes the rate at every step (5 steps per epoch: a
        // warm-up of ceil(0.5 x 5) = 3 steps); stopped inside the warm-up.
        // Multistep's fractional milestones fall at steps 3, 7 and 11.
        let schedule: (inout TrainingOptions) -> Void = { $0.schedule = .cosine; $0.warmupEpochs = 0.5; $0.minLearningRate = 1e-3 }
        try checkResumeIsExact(.sgd, stopAfter: 2, configure: schedule)
        try checkResumeIsExact(.sgd, stopAfter: 8) { $0.schedule = .multistep; $0.milestones = [0.5, 1.4, 2.2] }
    }

    func testResumingWithAdamIsExact() throws {
        try checkResumeIsExact(.adam, stopAfter: 3)
        try checkResumeIsExact(.adamw, stopAfter: 3) { $0.weightDecay = 0.05 }
    }

    func testResumingWithTheRecipeOptionsIsExact() throws {
        try checkResumeIsExact(.sgd, stopAfter: 7) { $0.gradientClip = 0.5 }
        try checkResumeIsExact(.adamw, stopAfter: 7) { $0.ema = 0.9 }
    }

    func testAFolderWithoutCheckpointIsAClearError() throws {
        let directory = try makeTemporaryDirectory()
        XCTAssertThrowsError(try Checkpoint.read(from: directory)) { error in
            XCTAssertTrue("\(error)".contains("holds no checkpoint"), "\(error)")
        }
    }

    func testAFailedWriteLeavesThePreviousCheckpoint() throws {
        let directory = try makeTemporaryDirectory()
        let trainer = try Self.makeTrainer(Self.options(.sgd), device: Device(backend: CPUBackend()))
        try Checkpoint.write(trainer, to: directory, metadata: metadata())
        let before = try Data(contentsOf: Checkpoint.url(in: directory))
        // A checkpoint cannot be written where a directory stands in the way of the rename.
        let blocked = directory.appendingPathComponent("blocked")
        try FileManager.default.createDirectory(at: Checkpoint.url(in: blocked), withIntermediateDirectories: true)
        try Data("x".utf8).write(to: Checkpoint.url(in: blocked).appendingPathComponent("keep"))
        XCTAssertThrowsError(try Checkpoint.write(trainer, to: blocked, metadata: metadata()))
        XCTAssertEqual(try Data(contentsOf: Checkpoint.url(in: directory)), before)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: blocked.path).filter { $0 != Checkpoint.fileName }
        XCTAssertEqual(leftovers, [], "temporary files left behind")
    }
}
