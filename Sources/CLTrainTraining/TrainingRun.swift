import CLTrainData
import CLTrainIO
import CLTrainNN
import CLTrainRuntime
import Foundation
import Logging

/// A training run, new or resumed, as `cltrain train` runs it: the data sets, which normalisation
/// wins, the device, the model and its `--init` weights, the output folder and its checks, and
/// the files a run keeps up to date (a checkpoint after every epoch and every `checkpointEvery`
/// steps, `weights.safetensors` after every epoch (and `weights-ema.safetensors` with `--ema`),
/// `best.safetensors` with `--keep-best`, the
/// `save` file at the end). What a person
/// sees (progress, epoch lines, plots) is the caller's: it gets each step's progress and each
/// epoch's metrics.
public final class TrainingRun {
    /// What the user asked for.
    public struct Request {
        public var options: TrainingOptions
        /// Folder for the run's files (nil: `runs/MODEL-DATASET-TIME`).
        public var out: String?
        /// Continue the run whose folder is this, with its original settings (`options` is ignored).
        public var resume: String?
        /// Start from the weights in this safetensors file (a new run only).
        public var initialWeights: String?
        /// Also write the final weights here.
        public var save: String?
        /// Also write a checkpoint every N steps.
        public var checkpointEvery: Int?
        /// How the device's convolutions choose their algorithms (`--tune`): a setting of this
        /// invocation, not of the run, so it is never checkpointed and a resumed run takes the
        /// resuming command's.
        public var tune: TuneMode = .cached
        /// A device already opened, used instead of opening `options.device` (tests wrap one to
        /// inject faults).
        public var device: Device?

        public init(options: TrainingOptions) { self.options = options }
    }

    /// The run's settings: the request's, or the checkpoint's when resuming.
    public let options: TrainingOptions
    public let outDirectory: URL
    public let device: Device
    public let model: Model
    public let trainer: Trainer
    /// Stored in every weights file and checkpoint the run writes.
    public let metadata: RunMetadata
    let save: String?
    /// The step of the checkpoint in the folder (nil: none yet).
    private(set) var checkpointStep: Int?

    /// Prepare the run; every check that can fail before training happens here, in the order a
    /// user meets them (checkpoint, folders, data, device, weights, free space).
    public init(_ request: Request, logger: Logger) throws {
        var options = request.options
        var saved: Checkpoint.Saved?
        if let resume = request.resume {
            saved = try Checkpoint.read(from: URL(fileURLWithPath: resume, isDirectory: true))
            options = saved!.options
            logger.info("resuming \(resume) at epoch \(saved!.trainer.epoch + 1), step \(saved!.trainer.step), with its original settings")
        }
        let outDirectory = try Self.prepareOutputDirectory(request.resume ?? request.out ?? Self.defaultOutPath(options))
        if let save = request.save { try checkWritableFile(save) }

        let train = try DatasetLoader.load(kind: options.dataset, directory: options.dataDirectory, split: .train, limit: options.limit)
        let test = try DatasetLoader.load(kind: options.dataset, directory: options.dataDirectory, split: .test)
        var normalization = Normalization.compute(train)
        if let mean = options.mean, let std = options.std { normalization = Normalization(mean: mean, std: std) }
        if let saved { normalization = saved.normalization }
        try normalization.validate(channels: train.channels)
        logger.info("data: \(options.dataset.rawValue), \(train.count) training and \(test.count) test images of \(train.channels)x\(train.height)x\(train.width), \(train.classes) classes")
        logger.info("normalisation: mean \(normalization.mean) std \(normalization.std)")

        let device = try request.device ?? Device.open(options.device, tune: request.tune)
        guard let entry = ModelCatalog.entry(named: options.model) else {
            throw UsageError("unknown model '\(options.model)': see `cltrain models` for the list")
        }
        let model = try entry.make(inputChannels: train.channels, classes: train.classes, device: device, seed: options.seed,
                                   dropout: options.dropout)
        if let initialWeights = request.initialWeights, saved == nil {
            try ModelWeights.load(URL(fileURLWithPath: initialWeights), into: model)
        }
        logger.info("model: \(options.model), \(model.parameterCount) parameters; device: \(device.name)")
        // Checkpoint (weights, BN statistics, one or two optimizer buffers per parameter) twice
        // over while it is replaced, plus the weights file.
        let stateBytes = 4 * (model.parameterCount + model.buffers.reduce(0) { $0 + $1.value.count })
        // With --ema: one more copy in the checkpoint, and its weights file.
        let extraCopies = options.ema == nil ? 0 : 1
        try Self.checkFreeSpace(at: outDirectory, needed: 2 * ((3 + extraCopies) * stateBytes) + (1 + extraCopies) * stateBytes + (1 << 20))

        let height = options.resize ?? train.height, width = options.resize ?? train.width
        metadata = RunMetadata(model: options.model, dataset: options.dataset.rawValue, inputChannels: train.channels,
                               classes: train.classes, height: height, width: width, normalization: normalization)
        trainer = try Trainer(options: options, model: model, device: device, train: train, test: test,
                              normalization: normalization, logger: logger)
        logger.info("learning rate: \(trainer.learningRates)")
        if let saved { try Checkpoint.restore(saved, into: trainer) }
        try Self.checkStepMemory(trainer, logger: logger)
        trainer.checkpointEvery = request.checkpointEvery
        self.options = options
        self.outDirectory = outDirectory
        self.device = device
        self.model = model
        self.save = request.save
        checkpointStep = saved?.trainer.step
    }

    /// "densenet-bc-28 on fashion-mnist, cpu:..." for plots and logs.
    public var title: String { "\(options.model) on \(options.dataset.rawValue), \(device.name)" }

    /// Where each epoch's weights go.
    public var weightsURL: URL { outDirectory.appendingPathComponent("weights.safetensors") }

    /// Where `--ema` writes each epoch's averaged weights.
    public var emaWeightsURL: URL { outDirectory.appendingPathComponent("weights-ema.safetensors") }

    /// Where `--keep-best` keeps the weights of the epoch with the best test accuracy.
    public var bestWeightsURL: URL { outDirectory.appendingPathComponent("best.safetensors") }

    /// True when the last epoch was tested and its accuracy beats every earlier epoch's (ties keep
    /// the earlier). The metrics live in the trainer's state, so a resumed run compares with the
    /// epochs before the stop too.
    public static func lastEpochIsBest(_ metrics: [EpochMetrics]) -> Bool {
        guard let last = metrics.last?.testAccuracy else { return false }
        return metrics.dropLast().allSatisfy { ($0.testAccuracy ?? -1) < last }
    }

    /// Train until the run is finished. `onEpochEnd` sees each epoch's metrics after its
    /// checkpoint and before its weights are written. When `stopRequested` turns true the run
    /// writes a checkpoint and throws `TrainingInterrupted`.
    @discardableResult
    public func run(stopRequested: @escaping () -> Bool = { false }, onProgress: ((TrainingProgress) throws -> Void)? = nil,
                    onEpochEnd: ((EpochMetrics) throws -> Void)? = nil) throws -> [EpochMetrics] {
        trainer.stopRequested = stopRequested
        trainer.onProgress = onProgress
        trainer.onCheckpoint = { [unowned self] in
            try Checkpoint.write(trainer, to: outDirectory, metadata: metadata)
            checkpointStep = trainer.step
        }
        trainer.onEpochEnd = { [unowned self] metrics in
            try onEpochEnd?(metrics)
            try ModelWeights.save(model, to: weightsURL, metadata: metadata.dictionary)
            try trainer.ema?.withAveragedWeights { try ModelWeights.save(model, to: emaWeightsURL, metadata: metadata.dictionary) }
            if options.keepBest, Self.lastEpochIsBest(trainer.metrics) {
                try ModelWeights.save(model, to: bestWeightsURL, metadata: metadata.dictionary)
            }
        }
        // A run killed after its last checkpoint but before the last epoch's files were written
        // resumes finished: write them now, or weights.safetensors would stay an epoch behind.
        let finishedBefore = trainer.isFinished
        do {
            try trainer.run()
            if finishedBefore, let last = trainer.metrics.last { try trainer.onEpochEnd?(last) }
        } catch var failure as TrainingFailed {
            failure.outcome = checkpoint(after: failure)
            throw failure
        }
        if let save { try ModelWeights.save(model, to: URL(fileURLWithPath: save), metadata: metadata.dictionary) }
        return trainer.metrics
    }

    /// After a failed step: the checkpoint of the last good step when the weights are intact and
    /// can be read back (writing it reads every tensor, which also fails when the device is lost),
    /// else the folder's previous checkpoint stays.
    func checkpoint(after failure: TrainingFailed) -> TrainingFailed.Outcome {
        let folder = outDirectory.path
        if let why = failure.untrustedBecause { return .kept(folder: folder, step: checkpointStep, because: why) }
        do {
            try Checkpoint.write(trainer, to: outDirectory, metadata: metadata)
            return .wrote(folder: folder, step: trainer.step)
        } catch {
            return .kept(folder: folder, step: checkpointStep, because: "the weights could not be read back (\(oneLineDescription(error)))")
        }
    }

    static func defaultOutPath(_ options: TrainingOptions) -> String {
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        return "runs/\(options.model)-\(options.dataset.rawValue)-\(formatter.string(from: Date()))"
    }

    /// A folder that results go into: created if missing, and checked writable before any work.
    static func prepareOutputDirectory(_ path: String) throws -> URL {
        let url = URL(fileURLWithPath: path, isDirectory: true)
        do {
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        } catch {
            throw UsageError("cannot create the output folder \(path) (a file is in its way, or no permission); choose another --out")
        }
        let probe = url.appendingPathComponent(".cltrain-write-test-\(getpid())")
        guard FileManager.default.createFile(atPath: probe.path, contents: Data("ok".utf8)) else {
            throw UsageError("the output folder \(path) is not writable; choose another --out")
        }
        try? FileManager.default.removeItem(at: probe)
        return url
    }

    /// Say at start, in one line with the figures, when a step will not fit in the device's memory
    /// (on the CPU backend: the host's available memory) rather than fail or be killed mid-run.
    static func checkStepMemory(_ trainer: Trainer, logger: Logger) throws {
        let memory = try trainer.estimateStepMemory()
        let device = trainer.device
        let isHost = device.info.backend == "cpu"
        let available = isHost ? StepMemory.hostAvailableBytes() ?? device.info.globalMemoryBytes : device.info.globalMemoryBytes
        let figures = "memory: about \(formatBytes(memory.deviceBytes)) of \(isHost ? "host" : "device") memory per step, "
            + "\(formatBytes(memory.batchBytes)) of host memory for the batches in flight"
        logger.info("\(figures)")
        if let warning = memory.warning(device: device.name, available: available, deviceIsHost: isHost) {
            logger.warning("\(warning)")
        }
    }

    /// Fail before training when the output folder's disk cannot hold what the run will write
    /// (a checkpoint beside its temporary copy, and the weights).
    static func checkFreeSpace(at url: URL, needed: Int) throws {
        guard let attributes = try? FileManager.default.attributesOfFileSystem(forPath: url.path),
              let free = (attributes[.systemFreeSize] as? NSNumber)?.int64Value else { return }
        if free < Int64(needed) {
            throw UsageError("\(url.path) has \(formatBytes(Int(free))) free but the run needs about \(formatBytes(needed)) "
                             + "for its checkpoints and weights; free some space or choose another --out")
        }
    }
}

/// Fail before any work when a file cannot be written where the user asked.
public func checkWritableFile(_ path: String) throws {
    let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
    guard FileManager.default.isWritableFile(atPath: directory.isEmpty ? "." : directory) else {
        throw UsageError("cannot write \(path): its folder does not exist or is not writable")
    }
}
