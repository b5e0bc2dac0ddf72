import CLTrainData
import CLTrainNN
import CLTrainReport
import CLTrainRuntime
import Foundation
import Logging

/// A run stopped because the loss stopped being a number.
public struct NonFiniteLossError: Error, CustomStringConvertible {
    public let step: Int
    public let epoch: Int
    public let loss: Double
    public var description: String {
        "the loss became \(loss) at step \(step) (epoch \(epoch)): lower --lr, or check the data; the last checkpoint is kept"
    }
}

/// Where a run is inside an epoch, for progress displays.
public struct TrainingProgress: Sendable {
    public var epoch: Int
    public var epochs: Int
    public var imagesDone: Int
    public var imagesTotal: Int
    public var step: Int
    public var meanLoss: Double
    public var accuracy: Double
    public var imagesPerSecond: Double
    public var elapsedSeconds: Double
}

/// The training loop: epochs of shuffled, augmented batches, the learning-rate schedule, SGD or
/// Adam, a test pass after each epoch, and metrics.
public final class Trainer {
    public let options: TrainingOptions
    public let model: Model
    public let device: Device
    public let normalization: Normalization
    public let logger: Logger
    public let optimizer: Optimizer
    let batcher: Batcher
    let testSet: ImageDataset?
    let criterion = SoftmaxCrossEntropy()

    /// Optimizer steps taken.
    public private(set) var step = 0
    /// The next epoch to run (0-based) and the images of it already consumed.
    public private(set) var epoch = 0
    public private(set) var position = 0
    public private(set) var metrics: [EpochMetrics] = []

    /// Called after every step.
    public var onProgress: ((TrainingProgress) -> Void)?
    /// Called after every epoch with its metrics.
    public var onEpochEnd: ((EpochMetrics) throws -> Void)?

    public init(options: TrainingOptions, model: Model, device: Device, train: ImageDataset, test: ImageDataset?,
                normalization: Normalization, logger: Logger) throws {
        self.options = options
        self.model = model
        self.device = device
        self.normalization = normalization
        self.logger = logger
        self.testSet = test
        batcher = try Batcher(dataset: train, normalization: normalization,
                              options: BatchOptions(batchSize: options.batchSize, shuffle: options.shuffle, augment: options.augment,
                                                    resize: options.resize, seed: options.seed))
        switch options.optimizer {
        case .sgd:
            optimizer = try SGD(parameters: model.parameters, learningRate: options.learningRate, momentum: options.momentum,
                                weightDecay: options.weightDecay, nesterov: options.nesterov)
        case .adam:
            optimizer = try Adam(parameters: model.parameters, learningRate: options.learningRate, weightDecay: options.weightDecay)
        }
    }

    /// True once the run has done all its epochs or its `--steps`.
    public var isFinished: Bool {
        epoch >= options.epochs || (options.steps.map { step >= $0 } ?? false)
    }

    /// Train until the run is finished; returns the metrics of every epoch.
    @discardableResult
    public func run() throws -> [EpochMetrics] {
        while !isFinished { try runEpoch() }
        return metrics
    }

    /// Train the rest of the current epoch (all of it unless resumed), then evaluate.
    public func runEpoch() throws {
        let rate = options.schedule.learningRate(base: options.learningRate, epoch: epoch, epochs: options.epochs)
        optimizer.learningRate = rate
        let start = Date()
        var lossSum = 0.0, correct = 0, seen = 0
        let total = batcher.dataset.count
        for batch in try batcher.prefetchingBatches(epoch: epoch, position: position) {
            let result = try trainStep(batch)
            lossSum += result.loss * Double(batch.count)
            correct += result.correct
            seen += batch.count
            position = batch.position + batch.count
            let elapsed = Date().timeIntervalSince(start)
            onProgress?(TrainingProgress(epoch: epoch + 1, epochs: options.epochs, imagesDone: position, imagesTotal: total, step: step,
                                         meanLoss: lossSum / Double(seen), accuracy: Double(correct) / Double(seen),
                                         imagesPerSecond: Double(seen) / max(elapsed, 1e-9), elapsedSeconds: elapsed))
            if let limit = options.steps, step >= limit { break }
        }
        let seconds = Date().timeIntervalSince(start)
        var test: (loss: Double, accuracy: Double)?
        // An epoch cut short by --steps (a quick or debugging run) skips the test pass.
        let cutShort = position < total
        if let testSet, !cutShort {
            test = try Evaluation.evaluate(model, on: device, dataset: testSet, normalization: normalization,
                                           batchSize: options.batchSize, resize: options.resize)
        }
        let entry = EpochMetrics(epoch: epoch + 1, step: step, learningRate: Double(rate),
                                 trainLoss: lossSum / Double(max(seen, 1)), trainAccuracy: Double(correct) / Double(max(seen, 1)),
                                 testLoss: test?.loss, testAccuracy: test?.accuracy, seconds: seconds,
                                 imagesPerSecond: Double(seen) / max(seconds, 1e-9))
        metrics.append(entry)
        epoch += 1
        position = 0
        try onEpochEnd?(entry)
    }

    /// One optimizer step on `batch`.
    func trainStep(_ batch: Batch) throws -> SoftmaxCrossEntropy.Result {
        let input = try device.tensor(batch.images, shape: [batch.count, batch.channels, batch.height, batch.width])
        let labels = try device.tensor(batch.labels, shape: [batch.count])
        let result = try criterion.forward(model.forward(input, training: true), labels: labels)
        guard result.loss.isFinite else {
            throw NonFiniteLossError(step: step + 1, epoch: epoch + 1, loss: result.loss)
        }
        try model.backward(criterion.backward())
        try optimizer.step()
        step += 1
        return result
    }
}
