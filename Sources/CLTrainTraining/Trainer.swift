import CLTrainData
import CLTrainDistributed
import CLTrainNN
import CLTrainRuntime
import Foundation
import Logging

/// A run stopped because the loss stopped being a number.
public struct NonFiniteLossError: Error, CustomStringConvertible {
    public let step: Int
    public let epoch: Int
    public let loss: Double
    public var description: String {
        "the loss became \(loss.isNaN ? "NaN" : "infinite") at step \(step) (epoch \(epoch)): lower --lr, or check the data; the last checkpoint is kept"
    }
}

/// A run stopped on request (Ctrl-C, SIGTERM) after writing a checkpoint.
public struct TrainingInterrupted: Error, CustomStringConvertible {
    public let step: Int
    public let epoch: Int
    public var description: String { "stopped at step \(step) (epoch \(epoch)) after writing a checkpoint" }
}

/// The trainer's counters: what a checkpoint must keep to continue a run exactly.
public struct TrainerState: Codable, Equatable, Sendable {
    /// The next epoch to run (0-based) and the images of it already consumed.
    public var epoch = 0
    public var position = 0
    /// Optimizer steps taken.
    public var step = 0
    public var metrics: [EpochMetrics] = []
    /// Running sums of the epoch in progress.
    public var epochLossSum = 0.0
    public var epochCorrect = 0
    public var epochSeen = 0
    public var epochSeconds = 0.0
    /// The training loss between epochs, for the plot: one point per `LossCurve.window` steps.
    public var lossCurve = LossCurve()

    public init() {}

    enum CodingKeys: String, CodingKey {
        case epoch, position, step, metrics, epochLossSum, epochCorrect, epochSeen, epochSeconds, lossCurve
    }

    /// Checkpoints written before the loss curve existed resume with an empty curve.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        epoch = try c.decode(Int.self, forKey: .epoch)
        position = try c.decode(Int.self, forKey: .position)
        step = try c.decode(Int.self, forKey: .step)
        metrics = try c.decode([EpochMetrics].self, forKey: .metrics)
        epochLossSum = try c.decode(Double.self, forKey: .epochLossSum)
        epochCorrect = try c.decode(Int.self, forKey: .epochCorrect)
        epochSeen = try c.decode(Int.self, forKey: .epochSeen)
        epochSeconds = try c.decode(Double.self, forKey: .epochSeconds)
        lossCurve = try c.decodeIfPresent(LossCurve.self, forKey: .lossCurve) ?? LossCurve()
    }
}

/// The training loss as the steps go, for the plot's per-step curve: the mean batch loss of each
/// run of steps, at the fraction of the run's epochs where the run ends.
public struct LossCurve: Codable, Equatable, Sendable {
    public struct Point: Codable, Equatable, Sendable {
        /// Epochs done when the point's steps ended (1.5: half-way through the second epoch).
        public var epoch: Double
        public var loss: Double

        public init(epoch: Double, loss: Double) {
            self.epoch = epoch
            self.loss = loss
        }
    }

    /// Points per epoch (fewer when an epoch has fewer steps).
    public static let pointsPerEpoch = 25

    public var points: [Point] = []
    /// The steps since the last point, and the sum of their losses.
    public var pendingSteps = 0
    public var pendingLossSum = 0.0

    public init() {}

    /// Add one step's loss; `stepsPerEpoch` sets the run of steps a point averages.
    mutating func add(loss: Double, epoch: Double, stepsPerEpoch: Int) {
        pendingSteps += 1
        pendingLossSum += loss
        if pendingSteps >= max(1, stepsPerEpoch / Self.pointsPerEpoch) {
            points.append(Point(epoch: epoch, loss: pendingLossSum / Double(pendingSteps)))
            pendingSteps = 0
            pendingLossSum = 0
        }
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
    /// The step's own batch: its mean loss, fraction correct and size.
    public var stepLoss: Double
    public var stepAccuracy: Double
    public var stepImages: Int
}

/// The training loop: epochs of shuffled, augmented batches, the learning rate set before every
/// step from the schedule, SGD or Adam, a test pass after each epoch, and metrics.
public final class Trainer {
    public let options: TrainingOptions
    public let model: Model
    public let device: Device
    public let normalization: Normalization
    public let logger: Logger
    public var optimizer: Optimizer { trainingStep.optimizer }
    /// The weights' moving average (`--ema`), updated after every step.
    public let ema: ModelEMA?
    let trainingStep: TrainingStep
    /// This rank's part when several processes train together (nil: one process).
    public var dataParallel: DataParallel? { trainingStep.dataParallel }
    let batcher: Batcher
    /// How batches (training and test) are made from the loaded images: resized or cropped.
    public let geometry: InputGeometry
    /// The BN statistics before the step in progress, for a step that fails before its update.
    let bufferBackup: BufferBackup
    let testSet: ImageDataset?
    /// The learning rate of every step of this run.
    public let learningRates: LearningRateCurve

    /// Epoch, position, step, metrics: everything a checkpoint needs besides tensors.
    public private(set) var state = TrainerState()
    public var step: Int { state.step }
    public var epoch: Int { state.epoch }
    public var position: Int { state.position }
    public var metrics: [EpochMetrics] { state.metrics }

    /// Write a checkpoint every this many steps (also at each epoch's end and on a stop request).
    public var checkpointEvery: Int?
    /// Writes a checkpoint of the trainer as it is now.
    public var onCheckpoint: (() throws -> Void)?
    /// Polled after every step; when it returns true the run writes a checkpoint and throws
    /// `TrainingInterrupted`.
    public var stopRequested: () -> Bool = { false }

    /// Called after every step; what it throws stops the run.
    public var onProgress: ((TrainingProgress) throws -> Void)?
    /// Called after every epoch with its metrics.
    public var onEpochEnd: ((EpochMetrics) throws -> Void)?

    /// `communicator`: the ranks of a data-parallel run; with more than one, each trains on its
    /// share of every global batch of `options.batchSize` (see `DataParallel`).
    public init(options: TrainingOptions, model: Model, device: Device, train: ImageDataset, test: ImageDataset?,
                normalization: Normalization, logger: Logger, communicator: (any Communicator)? = nil) throws {
        self.options = options
        self.model = model
        self.device = device
        self.normalization = normalization
        self.logger = logger
        self.testSet = test
        geometry = options.dataSource.geometry(of: train)
        batcher = try Batcher(dataset: train, normalization: normalization,
                              options: BatchOptions(batchSize: options.batchSize, shuffle: options.shuffle, augment: options.augment,
                                                    resize: geometry.resize, seed: options.seed, crop: geometry.crop))
        let trainingStep = try TrainingStep(model: model, options: options)
        if let communicator, communicator.size > 1 {
            let ranks = communicator.size, last = train.count % options.batchSize
            guard options.batchSize >= ranks, last == 0 || last >= ranks else {
                let which = options.batchSize < ranks ? "--batch-size \(options.batchSize)" : "the epoch's last batch (\(last) image\(last == 1 ? "" : "s"))"
                throw UsageError("\(which) cannot be shared by \(ranks) ranks (each needs an image): use a --batch-size of at least \(ranks) "
                                 + "that leaves no last batch of fewer images than ranks (or choose --limit)")
            }
            let dataParallel = DataParallel(communicator: communicator, parameters: trainingStep.trainableParameters)
            if options.syncBatchNorm { dataParallel.synchronizeBatchNorms(model) }
            trainingStep.dataParallel = dataParallel
        }
        self.trainingStep = trainingStep
        bufferBackup = try BufferBackup(model)
        ema = try options.ema.map { try ModelEMA(model, parameters: trainingStep.trainableParameters, decay: $0) }
        learningRates = LearningRateCurve(options: options, stepsPerEpoch: batcher.batchesPerEpoch)
        dataParallel?.stopVote = { [unowned self] in stopRequested() }
    }

    /// Continue from a checkpoint's counters (its tensors are loaded separately).
    public func restore(_ saved: TrainerState) {
        state = saved
        optimizer.steps = saved.step
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
        var start = Date()
        let total = batcher.dataset.count
        var part: (@Sendable (Int) -> Range<Int>)?
        if let dataParallel {
            let rank = dataParallel.rank, ranks = dataParallel.ranks
            part = { BatchShard(count: $0, rank: rank, ranks: ranks).range }
        }
        for batch in try batcher.prefetchingBatches(epoch: state.epoch, position: state.position, part: part) {
            let result = try trainStep(batch)
            // The global batch's figures (this rank's batch is a share of it when data-parallel).
            let images = trainingStep.lastGlobalImages
            state.epochLossSum += result.loss * Double(images)
            state.epochCorrect += result.correct
            state.epochSeen += images
            state.position = batch.position + images
            state.lossCurve.add(loss: result.loss, epoch: Double(state.epoch) + Double(state.position) / Double(max(total, 1)),
                                stepsPerEpoch: (total + options.batchSize - 1) / options.batchSize)
            let now = Date()
            state.epochSeconds += now.timeIntervalSince(start)
            start = now
            let seen = Double(state.epochSeen)
            try onProgress?(TrainingProgress(epoch: state.epoch + 1, epochs: options.epochs, imagesDone: state.position, imagesTotal: total,
                                         step: state.step, meanLoss: state.epochLossSum / seen, accuracy: Double(state.epochCorrect) / seen,
                                         imagesPerSecond: seen / max(state.epochSeconds, 1e-9), elapsedSeconds: state.epochSeconds,
                                             stepLoss: result.loss, stepAccuracy: Double(result.correct) / Double(images),
                                             stepImages: images))
            // Several ranks stop at the step they agreed on, or one would wait for the others forever.
            if dataParallel?.stopAgreed ?? stopRequested() {
                try checkpoint()
                throw TrainingInterrupted(step: state.step, epoch: state.epoch + 1)
            }
            if let limit = options.steps, state.step >= limit { break }
            if let every = checkpointEvery, state.step % every == 0, state.position < total { try checkpoint() }
        }
        var test: (loss: Double, accuracy: Double)?
        var emaTest: (loss: Double, accuracy: Double)?
        // A run stopped by --steps (a quick or debugging run) skips the test pass.
        let cutShort = state.position < total || (options.steps.map { state.step >= $0 } ?? false)
        if let testSet, !cutShort {
            try dataParallel?.averageBuffers(model)
            let evaluate = { [self] in
                if let dataParallel {
                    return try dataParallel.evaluate(model, on: device, dataset: testSet, normalization: normalization,
                                                     batchSize: options.batchSize, resize: geometry.resize, crop: geometry.crop)
                }
                return try Evaluation.evaluate(model, on: device, dataset: testSet, normalization: normalization,
                                               batchSize: options.batchSize, resize: geometry.resize, crop: geometry.crop)
            }
            // Testing changes no state, but with --ema the averaged weights stand in the model's place.
            do { test = try evaluate() } catch { throw failed(error, untrusted: nil, step: state.step) }
            do {
                emaTest = try ema?.withAveragedWeights(evaluate)
            } catch {
                throw failed(error, untrusted: "the failure came while the averaged weights (--ema) stood in for the model's", step: state.step)
            }
        }
        let seen = Double(max(state.epochSeen, 1))
        // The rate of the epoch's last step (a function of the step, so a resumed epoch records the same).
        let rate = Float(learningRates.rate(atStep: max(state.step - 1, 0)))
        let entry = EpochMetrics(epoch: state.epoch + 1, step: state.step, learningRate: Self.decimal(rate),
                                 trainLoss: state.epochLossSum / seen, trainAccuracy: Double(state.epochCorrect) / seen,
                                 testLoss: test?.loss, testAccuracy: test?.accuracy, seconds: state.epochSeconds,
                                 imagesPerSecond: Double(state.epochSeen) / max(state.epochSeconds, 1e-9),
                                 emaTestAccuracy: emaTest?.accuracy)
        state.metrics.append(entry)
        state.epoch += 1
        state.position = 0
        state.epochLossSum = 0
        state.epochCorrect = 0
        state.epochSeen = 0
        state.epochSeconds = 0
        try checkpoint()
        try onEpochEnd?(entry)
    }

    /// Write a checkpoint; with several ranks, their batch-norm statistics are first made one
    /// set (every rank takes part, whichever writes).
    private func checkpoint() throws {
        try dataParallel?.averageBuffers(model)
        try onCheckpoint?()
    }

    /// One optimizer step on `batch`.
    /// A device or host error during it throws `TrainingFailed`, saying whether the model and the
    /// optimizer are still those of the last finished step (BN statistics put back from before
    /// the forward): true unless the update had begun.
    func trainStep(_ batch: Batch) throws -> SoftmaxCrossEntropy.Result {
        let result: SoftmaxCrossEntropy.Result
        do {
            let input = try device.tensor(batch.images, shape: [batch.count, batch.channels, batch.height, batch.width])
            let labels = try device.tensor(batch.labels, shape: [batch.count])
            optimizer.learningRate = Float(learningRates.rate(atStep: state.step))
            try bufferBackup.save()
            result = try trainingStep(input, labels: labels) { result in
                guard result.loss.isFinite else {
                    throw NonFiniteLossError(step: state.step + 1, epoch: state.epoch + 1, loss: result.loss)
                }
            }
        } catch let error as NonFiniteLossError {
            throw error
        } catch {
            if trainingStep.updateBegan { throw failed(error, untrusted: TrainingFailed.halfUpdated) }
            do {
                try bufferBackup.restore()
            } catch let restoring {
                throw failed(error, untrusted: "the BN statistics could not be put back (\(oneLineDescription(restoring)))")
            }
            throw failed(error, untrusted: nil)
        }
        do {
            try ema?.update()
        } catch {
            throw failed(error, untrusted: "the failure came while averaging the weights (--ema), so the average may be half-updated")
        }
        state.step += 1
        return result
    }

    /// `error` of the step after `state.step` (or of `step`), as `TrainingFailed`.
    private func failed(_ error: Error, untrusted: String?, step: Int? = nil) -> TrainingFailed {
        TrainingFailed(error: error, step: step ?? state.step + 1, epoch: state.epoch + 1, untrustedBecause: untrusted)
    }

    /// A float rate as the decimal it prints as (0.1, not 0.10000000149011612): what the user
    /// wrote, in metrics.csv and the checkpoint alike.
    static func decimal(_ rate: Float) -> Double { Double(rate.description) ?? Double(rate) }
}
