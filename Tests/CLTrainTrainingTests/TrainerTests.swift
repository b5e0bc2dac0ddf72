import CLTrainData
import CLTrainNN
import CLTrainRandom
import CLTrainRuntime
import CLTrainTestSupport
import Logging
import XCTest
@testable import CLTrainTraining

/// The training loop on a tiny synthetic data set: an easy two-class problem (bright left half
/// or bright right half), so a few steps must learn it.
final class TrainerTests: XCTestCase {
    static func dataset(count: Int, seed: UInt64) -> ImageDataset {
        var random = SeededRandom(seed: seed)
        var images: [UInt8] = []
        var labels: [Int32] = []
        for _ in 0..<count {
            let label = Int32(random.next() % 2)
            for _ in 0..<8 {
                for x in 0..<8 {
                    let bright = (x < 4) == (label == 0)
                    images.append(UInt8(bright ? 150 + random.next() % 100 : random.next() % 60))
                }
            }
            labels.append(label)
        }
        return ImageDataset(images: images, labels: labels, count: count, channels: 1, height: 8, width: 8, classes: 2)
    }

    func options(epochs: Int = 2, seed: UInt64 = 3) -> TrainingOptions {
        var o = TrainingOptions()
        o.model = "densenet-bc-10-k4"
        o.epochs = epochs
        o.batchSize = 32
        o.learningRate = 0.1
        o.augment = false  // a flip would swap the classes of this problem
        o.seed = seed
        return o
    }

    func train(_ options: TrainingOptions, device: Device) throws -> (Trainer, Model) {
        let train = Self.dataset(count: 320, seed: 1), test = Self.dataset(count: 64, seed: 2)
        let model = try ModelCatalog.entry(named: options.model)!.make(inputChannels: 1, classes: 2, device: device, seed: options.seed)
        let trainer = try Trainer(options: options, model: model, device: device, train: train, test: test,
                                  normalization: Normalization.compute(train), logger: Logger(label: "test"))
        try trainer.run()
        return (trainer, model)
    }

    func testTheSameSeedGivesTheSameRunOnTheCPU() throws {
        var o = options()
        o.augment = true  // shuffling and augmentation draw from the seed too
        let (first, a) = try train(o, device: Device(backend: CPUBackend()))
        let (second, b) = try train(o, device: Device(backend: CPUBackend()))
        for (x, y) in zip(try ModelWeights.stateTensors(of: a), try ModelWeights.stateTensors(of: b)) {
            XCTAssertEqual(x.values, y.values, "\(x.name) differs between two runs with the same seed")
        }
        XCTAssertEqual(first.metrics.map(\.trainLoss), second.metrics.map(\.trainLoss))
        o.seed = 4
        let (_, c) = try train(o, device: Device(backend: CPUBackend()))
        XCTAssertNotEqual(try ModelWeights.stateTensors(of: a)[0].values, try ModelWeights.stateTensors(of: c)[0].values)
    }

    /// metrics.csv and the checkpoint show the rate as the user wrote it, not float32's binary
    /// expansion of it (0.1 read as a float is 0.10000000149011612 as a double).
    func testTheBestEpochIsTheFirstWithTheHighestTestAccuracy() {
        func metrics(_ accuracies: [Double?]) -> [EpochMetrics] {
            accuracies.enumerated().map { EpochMetrics(epoch: $0.offset + 1, step: 0, learningRate: 0.1, trainLoss: 1, trainAccuracy: 0.5,
                                                       testAccuracy: $0.element, seconds: 1, imagesPerSecond: 1) }
        }
        XCTAssertTrue(TrainingRun.lastEpochIsBest(metrics([0.5])))
        XCTAssertTrue(TrainingRun.lastEpochIsBest(metrics([0.5, nil, 0.6])))
        XCTAssertFalse(TrainingRun.lastEpochIsBest(metrics([0.7, 0.6])))
        XCTAssertFalse(TrainingRun.lastEpochIsBest(metrics([0.6, 0.6])), "a tie keeps the earlier epoch")
        XCTAssertFalse(TrainingRun.lastEpochIsBest(metrics([0.6, nil])), "an untested epoch is never the best")
        XCTAssertFalse(TrainingRun.lastEpochIsBest([]))
    }

    func testTheMovingAverageFollowsItsFormula() throws {
        var o = options()
        o.ema = 0.75
        o.steps = 2
        let device = Device(backend: CPUBackend())
        let train = Self.dataset(count: 320, seed: 1)
        let model = try ModelCatalog.entry(named: o.model)!.make(inputChannels: 1, classes: 2, device: device, seed: o.seed)
        let trainer = try Trainer(options: o, model: model, device: device, train: train, test: nil,
                                  normalization: Normalization.compute(train), logger: Logger(label: "test"))
        func weights() throws -> [[Float]] { try model.parameters.map { try device.read($0.value) } }
        var seen = [try weights()]
        trainer.onProgress = { _ in seen.append(try weights()) }
        try trainer.run()
        XCTAssertEqual(seen.count, 3)
        let ema = try XCTUnwrap(trainer.ema)
        let d = 0.75
        for (i, average) in ema.state.enumerated() {
            // ema_2 = d (d w0 + (1 - d) w1) + (1 - d) w2, from ema_0 = w0.
            let expected = (0..<seen[0][i].count).map { j in Float(d * (d * Double(seen[0][i][j]) + (1 - d) * Double(seen[1][i][j])) + (1 - d) * Double(seen[2][i][j])) }
            let values = try device.read(average.tensor)
            let error = zip(values, expected).map { abs($0 - $1) }.max()! / expected.map(abs).max()!
            XCTAssertLessThanOrEqual(error, 1e-6, average.name)
            XCTAssertNotEqual(values, seen[2][i], "the average differs from the weights")
        }
        // The averaged weights stand in for the model's while a closure runs, and go back after.
        let inside = try ema.withAveragedWeights { try weights() }
        XCTAssertEqual(inside, try ema.state.map { try device.read($0.tensor) })
        XCTAssertEqual(try weights(), seen[2])
    }

    func testOptionsWrittenBeforeTheRecipeFlagsStillDecode() throws {
        var o = options()
        o.optimizer = .adamw
        o.keepBest = true
        o.gradientClip = 2
        o.ema = 0.999
        o.labelSmoothing = 0.1
        XCTAssertEqual(try JSONDecoder().decode(TrainingOptions.self, from: JSONEncoder().encode(o)), o)
        var fields = try XCTUnwrap(JSONSerialization.jsonObject(with: JSONEncoder().encode(o)) as? [String: Any])
        for key in ["keepBest", "gradientClip", "ema", "labelSmoothing"] {
            XCTAssertNotNil(fields.removeValue(forKey: key), key)
        }
        fields["optimizer"] = "sgd"
        let old = try JSONDecoder().decode(TrainingOptions.self, from: JSONSerialization.data(withJSONObject: fields))
        XCTAssertEqual(old, options(), "a checkpoint written before the recipe flags resumes with them off")
    }

    func testMetricsKeepTheRateAsWritten() {
        XCTAssertEqual(Trainer.decimal(0.1), 0.1)
        XCTAssertEqual(Trainer.decimal(0.01), 0.01)
        XCTAssertEqual(Trainer.decimal(1e-5), 1e-5)
        XCTAssertNotEqual(Double(Float(0.1)), 0.1)
    }

    /// A checkpoint written before the loss curve existed still resumes, with an empty curve.
    func testStateWithoutALossCurveDecodes() throws {
        let old = #"{"epoch":1,"position":64,"step":12,"metrics":[],"epochLossSum":3.5,"epochCorrect":40,"epochSeen":64,"epochSeconds":2}"#
        let state = try JSONDecoder().decode(TrainerState.self, from: Data(old.utf8))
        XCTAssertEqual(state.step, 12)
        XCTAssertEqual(state.lossCurve, LossCurve())
    }

    /// One point per 1/25 of an epoch, each the mean of its steps' losses.
    func testTheLossCurveAveragesRunsOfSteps() {
        var curve = LossCurve()
        for step in 0..<100 { curve.add(loss: Double(step), epoch: Double(step + 1) / 50, stepsPerEpoch: 50) }
        XCTAssertEqual(curve.points.count, 50)
        XCTAssertEqual(curve.points[0], LossCurve.Point(epoch: 0.04, loss: 0.5))
        XCTAssertEqual(curve.points[49].epoch, 2)
        XCTAssertEqual(curve.pendingSteps, 0)
    }

    func testItLearnsAnEasyProblemAndRecordsEveryEpoch() throws {
        let (trainer, _) = try train(options(epochs: 3), device: Device(backend: CPUBackend()))
        XCTAssertEqual(trainer.metrics.map(\.epoch), [1, 2, 3])
        XCTAssertEqual(trainer.metrics.last?.step, 3 * 10)
        XCTAssertGreaterThan(trainer.metrics.last?.testAccuracy ?? 0, 0.9)
        // The step schedule divides by 10 from the step at 50% of the run's 30 steps (step 15) and
        // again from 75% (step ceil(22.5) = 23); an epoch records the rate of its last step
        // (steps 9, 19 and 29).
        let rates = trainer.metrics.map(\.learningRate)
        XCTAssertEqual(rates[0], 0.1, accuracy: 1e-6)
        XCTAssertEqual(rates[1], 0.01, accuracy: 1e-6)
        XCTAssertEqual(rates[2], 0.001, accuracy: 1e-6)
    }

    func testStepsStopTheRunAndSkipTheTestPass() throws {
        var o = options(epochs: 5)
        o.steps = 2
        let (trainer, _) = try train(o, device: Device(backend: CPUBackend()))
        XCTAssertEqual(trainer.step, 2)
        XCTAssertEqual(trainer.metrics.count, 1)
        XCTAssertNil(trainer.metrics[0].testAccuracy)
    }

    func testMemoryDoesNotCreepOverManySteps() throws {
        let device = Device(backend: CPUBackend())
        var o = options(epochs: 6)
        o.augment = true
        let train = Self.dataset(count: 320, seed: 1)
        let model = try ModelCatalog.entry(named: o.model)!.make(inputChannels: 1, classes: 2, device: device, seed: 0)
        let trainer = try Trainer(options: o, model: model, device: device, train: train, test: nil,
                                  normalization: Normalization.compute(train), logger: Logger(label: "test"))
        var early: MemoryStatistics?
        var late: MemoryStatistics?
        trainer.onProgress = { progress in
            if progress.step == 1 { early = device.pool.statistics }
            late = device.pool.statistics
        }
        try trainer.run()
        XCTAssertEqual(trainer.step, 60)
        let first = try XCTUnwrap(early), last = try XCTUnwrap(late)
        XCTAssertEqual(last.liveBytes, first.liveBytes, "live bytes grew between step 1 and step 60")
        XCTAssertEqual(last.peakLiveBytes, first.peakLiveBytes, "peak bytes grew between step 1 and step 60")
        XCTAssertEqual(last.deviceAllocations, first.deviceAllocations, "steps after the first allocated device memory")
    }

    func testANonFiniteLossStopsTheRunNamingTheStep() throws {
        let device = Device(backend: CPUBackend())
        let train = Self.dataset(count: 64, seed: 1)
        let model = try ModelCatalog.entry(named: "densenet-bc-10-k4")!.make(inputChannels: 1, classes: 2, device: device, seed: 0)
        // Inputs of 1e38 overflow the first convolution: the loss is NaN at the first step.
        let trainer = try Trainer(options: options(), model: model, device: device, train: train, test: nil,
                                  normalization: Normalization(mean: [0], std: [1e-38]), logger: Logger(label: "test"))
        XCTAssertThrowsError(try trainer.run()) { error in
            guard let nan = error as? NonFiniteLossError else { return XCTFail("unexpected \(error)") }
            XCTAssertEqual(nan.step, 1)
            XCTAssertTrue(nan.description.contains("step 1"), nan.description)
        }
        XCTAssertEqual(trainer.step, 0, "no step was taken with a non-finite loss")
    }

    func testBadOptionsAreOneLineErrors() {
        var o = options()
        o.batchSize = 0
        XCTAssertThrowsError(try o.validate()) { XCTAssertTrue("\($0)".contains("--batch-size")) }
        o = options(); o.learningRate = .nan
        XCTAssertThrowsError(try o.validate()) { XCTAssertTrue("\($0)".contains("--lr")) }
        o = options(); o.learningRate = -1
        XCTAssertThrowsError(try o.validate())
        o = options(); o.epochs = 0
        XCTAssertThrowsError(try o.validate()) { XCTAssertTrue("\($0)".contains("--epochs")) }
        o = options(); o.model = "resnet-19"
        XCTAssertThrowsError(try o.validate()) { XCTAssertTrue("\($0)".contains("cltrain models")) }
    }

    func testRunMetadataRoundTrips() {
        let metadata = RunMetadata(model: "densenet-bc-40", dataset: "fashion-mnist", inputChannels: 1, classes: 10, height: 28, width: 28,
                                   normalization: Normalization(mean: [0.286], std: [0.353]))
        XCTAssertEqual(RunMetadata(metadata.dictionary), metadata)
        XCTAssertNil(RunMetadata(["format": "pt"]))

        // Class names travel as a JSON array (names may hold commas, slashes, quotes).
        var named = metadata
        named.classNames = DatasetKind.fashionMNIST.classNames
        named.classNames[1] = "a \"quoted\", name"
        XCTAssertEqual(named.dictionary["cltrain.class_names"]?.hasPrefix("[\"T-shirt\\/top\""), true)
        XCTAssertEqual(RunMetadata(named.dictionary), named)
        // Names that do not fit the class count are dropped, not guessed.
        var wrong = named.dictionary
        wrong["cltrain.class_names"] = "[\"one\"]"
        XCTAssertEqual(RunMetadata(wrong)?.classNames, [])
        XCTAssertEqual(DatasetKind.allCases.map { $0.classNames.count }, DatasetKind.allCases.map(\.classes))
    }
}
