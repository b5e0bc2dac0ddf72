import CLTrainData
import CLTrainDistributed
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
/// `save` file at the end). A resumed run keeps all of it: the settings and outputs live in its
/// checkpoint. What a person
/// sees (progress, epoch lines, plots) is the caller's: it gets each step's progress and each
/// epoch's metrics.
public final class TrainingRun {
    /// What the user asked for.
    public struct Request {
        /// A new run's settings (ignored when resuming: see `changes`).
        public var options: TrainingOptions
        /// Folder for the run's files (nil: `runs/MODEL-DATASET-TIME`).
        public var out: String?
        /// Continue the run whose folder is this, with its original settings and outputs.
        public var resume: String?
        /// When resuming: the settings this invocation gives, applied over the checkpoint's. Those
        /// that would change the run are refused by name; the device, the outputs and more epochs
        /// (extending the run) are taken (`TrainingOptions.resumed`).
        public var changes: (inout TrainingOptions) -> Void = { _ in }
        /// How the device's convolutions choose their algorithms (`--tune`): a setting of this
        /// invocation, not of the run, so it is never checkpointed and a resumed run takes the
        /// resuming command's.
        public var tune: TuneMode = .cached
        /// What to do when a file the run keeps cannot be written (`--on-write-error`).
        public var onWriteError: WriteErrorPolicy = .stop
        /// A device already opened, used instead of opening `options.device` (tests wrap one to
        /// inject faults).
        public var device: Device?
        /// The processes training together (`communicatorFromEnvironment()`): each opens its own
        /// device and trains on its share of every batch; rank 0 alone writes the run's files.
        public var communicator: any Communicator = SingleProcess()

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
    /// The run's claim on its folder, held as long as the run lives (by rank 0 alone when
    /// several processes train together).
    public let folderLock: RunFolderLock?
    /// The processes training together; rank 0 writes the files.
    public let communicator: any Communicator
    /// True in the process that writes the run's files (rank 0; the only one without MPI).
    public var writesFiles: Bool { communicator.rank == 0 }
    /// True when the run continues from a checkpoint.
    public let resumed: Bool
    let writes: RunFileWrites
    /// The step of the checkpoint in the folder (nil: none yet).
    private(set) var checkpointStep: Int?

    /// Prepare the run; every check that can fail before training happens here, in the order a
    /// user meets them (checkpoint, folders, data, device, weights, free space).
    public init(_ request: Request, logger: Logger) throws {
        var options = request.options
        var saved: Checkpoint.Saved?
        let communicator = request.communicator
        let writesFiles = communicator.rank == 0
        if let resume = request.resume, !FileManager.default.fileExists(atPath: resume) {
            throw UsageError("\(resume) holds no checkpoint (\(Checkpoint.fileName)): nothing to resume; start a run with --out")
        }
        // The folder is locked before anything in it is read or written (by rank 0, the writer).
        // The other ranks take rank 0's folder name (the default one has the time in it).
        let outPath = try communicator.broadcast(request.resume ?? request.out ?? Self.defaultOutPath(options))
        let (outDirectory, folderLock) = writesFiles ? try Self.prepareOutputDirectory(outPath)
            : (URL(fileURLWithPath: outPath, isDirectory: true), nil)
        if let holder = folderLock?.tookOverFrom {
            logger.notice("\(outDirectory.path) was locked by a run that is gone (\(holder)); taking it over")
        }
        if let resume = request.resume {
            try Self.checkResumeRequest(request, folder: resume)
            let checkpoint = try Checkpoint.read(from: URL(fileURLWithPath: resume, isDirectory: true))
            if let fallback = checkpoint.fallback { logger.warning("\(fallback)") }
            options = try TrainingOptions.resumed(checkpoint.options, changes: request.changes, state: checkpoint.trainer, folder: resume)
            try options.validate()
            saved = checkpoint
            let extended = options.epochs > checkpoint.options.epochs ? ", extended to \(options.epochs) epochs" : ""
            logger.info("resuming \(resume) at epoch \(checkpoint.trainer.epoch + 1), step \(checkpoint.trainer.step), with its original settings\(extended)")
        }
        options.save = options.save.map { URL(fileURLWithPath: $0).path }
        options.initialWeights = options.initialWeights.map { URL(fileURLWithPath: $0).path }
        if let save = options.save, writesFiles { try checkWritableFile(save) }

        let source = options.dataSource
        let loadStart = Date()
        let (train, test) = try source.loadTrainAndTest(limit: options.limit)
        let loadSeconds = Date().timeIntervalSince(loadStart)
        var normalization = Normalization.compute(train)
        if let mean = options.mean, let std = options.std { normalization = Normalization(mean: mean, std: std) }
        if let preset = options.normalize { normalization = preset.normalization(channels: train.channels) }
        if let saved { normalization = saved.normalization }
        try normalization.validate(channels: train.channels)
        let geometry = source.geometry(of: train)
        var loaded = "data: \(source.describe()), \(train.count) training and \(test.count) test images of "
            + "\(train.channels)x\(train.height)x\(train.width), \(train.classes) classes"
        if options.dataset == .folder {
            let count = train.count + test.count
            loaded += String(format: "; decoded in %.1f s (%.0f images/s); model input %dx%d (%@)", loadSeconds,
                             Double(count) / max(loadSeconds, 1e-9), geometry.height, geometry.width,
                             options.augment ? "random resized crops and flips for training, center crops for testing" : "center crops")
        }
        logger.info("\(loaded)")
        logger.info("normalisation: mean \(normalization.mean) std \(normalization.std)")

        guard let entry = ModelCatalog.entry(named: options.model) else {
            throw UsageError("unknown model '\(options.model)': see `cltrain models` for the list")
        }
        try entry.checkInputSize(height: geometry.height, width: geometry.width) {
            "\(options.resize == nil ? "add" : "use") --resize \($0) (or choose a model for small images: see `cltrain models`)"
        }
        let device = try request.device ?? Device.open(options.device, tune: request.tune, localRank: communicator.localRank,
                                                       localSize: communicator.localSize)
        let model = try entry.make(inputChannels: train.channels, classes: train.classes, device: device, seed: options.seed,
                                   dropout: options.dropout)
        // A resumed run's weights are its checkpoint's: its --init file served its start only.
        if let initialWeights = options.initialWeights, saved == nil {
            try Self.loadInitialWeights(initialWeights, into: model, logger: logger)
        }
        logger.info("model: \(options.model), \(model.parameterCount) parameters; device: \(device.name)")
        // Checkpoint (weights, BN statistics, one or two optimizer buffers per parameter) three
        // times over while it is replaced (the previous, the current, the new), plus the weights file.
        let stateBytes = 4 * (model.parameterCount + model.buffers.reduce(0) { $0 + $1.value.count })
        // With --ema: one more copy in the checkpoint, and its weights file.
        let extraCopies = options.ema == nil ? 0 : 1
        if writesFiles {
            try Self.checkFreeSpace(at: outDirectory, needed: 3 * ((3 + extraCopies) * stateBytes) + (1 + extraCopies) * stateBytes + (1 << 20))
        }
        if communicator.size > 1 {
            // Every rank must train the same run on the same data: one clear error, not a silent mess.
            try communicator.checkSameSettings(try Self.settingFields(options) + [
                ("model", "\(options.model), \(model.parameterCount) parameters"),
                ("training data", DataParallel.fingerprint(train)), ("test data", DataParallel.fingerprint(test)),
                ("resumed at step", saved.map { "\($0.trainer.step)" } ?? "none"),
            ])
            logger.info("data-parallel: \(communicator.size) ranks, batch \(options.batchSize) shared among them; rank 0 writes the files")
        }

        metadata = RunMetadata(model: options.model, dataset: options.dataset.rawValue, inputChannels: train.channels,
                               classes: train.classes, height: geometry.height, width: geometry.width, normalization: normalization,
                               classNames: train.classNames, resize: options.dataset == .folder ? options.resize : nil)
        let trainer = try Trainer(options: options, model: model, device: device, train: train, test: test,
                                  normalization: normalization, logger: logger, communicator: communicator)
        self.trainer = trainer
        let rates = trainer.learningRates
        let added = options.scheduleEpochs.map { ", then \(Float(rates.rate(atStep: rates.totalSteps))) in the epochs added after its \($0)" } ?? ""
        logger.info("learning rate: \(rates)\(added)")
        if let saved { try Checkpoint.restore(saved, into: trainer) }
        try Self.checkStepMemory(trainer, logger: logger)
        if saved != nil, trainer.isFinished, writesFiles {
            let step = trainer.step
            let byItsSteps = options.steps.map { step >= $0 } ?? false
            let extend = byItsSteps ? "" : "; --epochs N with N above \(options.epochs) continues it"
            logger.warning("the run in \(outDirectory.path) is finished: nothing to train\(extend)")
        }
        trainer.checkpointEvery = options.checkpointEvery
        self.options = options
        self.outDirectory = outDirectory
        self.device = device
        self.model = model
        self.folderLock = folderLock
        self.communicator = communicator
        self.resumed = saved != nil
        writes = RunFileWrites(policy: request.onWriteError, logger: logger) {
            RunWriteFailed(failure: $0, step: trainer.step, folder: outDirectory.path)
        }
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
    /// checkpoint and before its weights are written; `reportFiles` (re)writes the caller's files
    /// from the run's state (metrics.csv, plot.svg) after each epoch's weights. When
    /// `stopRequested` turns true the run writes a checkpoint and throws `TrainingInterrupted`.
    /// A file that cannot be written (a full disk) stops the run with `RunWriteFailed`, or with
    /// `--on-write-error continue` is written again at the next checkpoint; the callbacks' own
    /// write failures (`FileWriteFailure`, e.g. TensorBoard's) are handled the same way.
    @discardableResult
    public func run(stopRequested: @escaping () -> Bool = { false }, onProgress: ((TrainingProgress) throws -> Void)? = nil,
                    reportFiles: (() throws -> Void)? = nil,
                    onEpochEnd: ((EpochMetrics) throws -> Void)? = nil) throws -> [EpochMetrics] {
        trainer.stopRequested = stopRequested
        // The caller's closures often hold the run itself: let go of them when the run returns or
        // throws, so the run (and its folder's lock) ends with its last reference.
        defer {
            trainer.stopRequested = { false }
            trainer.onProgress = nil
            trainer.onCheckpoint = nil
            trainer.onEpochEnd = nil
        }
        trainer.onProgress = onProgress.map { onProgress in { [unowned self] progress in try callerWrites { try onProgress(progress) } } }
        trainer.onCheckpoint = { [unowned self] in
            guard writesFiles else { return }
            try writes.retryPending()
            try writes.write(Checkpoint.url(in: outDirectory).path) { [unowned self] in
                try Checkpoint.write(trainer, to: outDirectory, metadata: metadata)
            }
            checkpointStep = trainer.step
        }
        trainer.onEpochEnd = { [unowned self] metrics in
            try callerWrites { try onEpochEnd?(metrics) }
            if writesFiles { try writeEpochFiles(reportFiles) }
        }
        // Resumed at the end of an epoch: that epoch's files are written again (the same bytes
        // when they were written before), in case the run stopped because one could not be.
        if resumed, trainer.position == 0, trainer.epoch > 0, writesFiles { try writeEpochFiles(reportFiles) }
        do {
            try trainer.run()
        } catch var failure as TrainingFailed {
            if writesFiles { failure.outcome = checkpoint(after: failure) }
            throw failure
        }
        if let save = options.save, writesFiles {
            let bytes = try ModelWeights.encode(model, metadata: metadata.dictionary)
            try writes.write(save) { try AtomicFile.write(bytes, to: URL(fileURLWithPath: save)) }
        }
        try writes.finish()
        return trainer.metrics
    }

    /// The files of the epoch just ended: its weights (and EMA weights), best.safetensors when
    /// it is the best so far, and the caller's report. The weights are snapshotted in memory, so
    /// a write tried again later writes the epoch's weights, not those of a later step.
    func writeEpochFiles(_ reportFiles: (() throws -> Void)?) throws {
        let weights = try ModelWeights.encode(model, metadata: metadata.dictionary)
        try writes.write(weightsURL.path) { [weightsURL] in try AtomicFile.write(weights, to: weightsURL) }
        if let ema = trainer.ema {
            let averaged = try ema.withAveragedWeights { try ModelWeights.encode(model, metadata: metadata.dictionary) }
            try writes.write(emaWeightsURL.path) { [emaWeightsURL] in try AtomicFile.write(averaged, to: emaWeightsURL) }
        }
        if options.keepBest, Self.lastEpochIsBest(trainer.metrics) {
            try writes.write(bestWeightsURL.path) { [bestWeightsURL] in try AtomicFile.write(weights, to: bestWeightsURL) }
        }
        if let reportFiles { try writes.write("the run's report (metrics.csv, plot.svg)", reportFiles) }
    }

    /// Run a caller's callback; a file it fails to write is handled by the run's policy.
    func callerWrites(_ body: () throws -> Void) throws {
        do {
            try body()
        } catch let error as FileWriteFailure where error.failedWritePath != nil {
            try writes.failed(error.failedWritePath!, error)
        }
    }

    /// Load `--init`'s file: every tensor that fits; a classifier of another class count keeps
    /// its initialisation, which the log says. An input stem made for another number of channels
    /// says how to convert the data.
    static func loadInitialWeights(_ path: String, into model: Model, logger: Logger) throws {
        let loaded: ModelWeights.FittingLoad
        do {
            loaded = try ModelWeights.loadFitting(URL(fileURLWithPath: path), into: model)
        } catch let WeightsFileError.shapeMismatch(file, tensor, expected, found, _)
                    where tensor == model.parameters.first?.name && expected.count == 4 && found.count == 4
                    && found[0] == expected[0] && found[2...] == expected[2...] {
            throw UsageError("\(file): tensor '\(tensor)' is an input stem for \(found[1])-channel images but the data has \(expected[1]) "
                             + "channel\(expected[1] == 1 ? "" : "s"): add --channels \(found[1]) to convert the images")
        }
        if let fileClasses = loaded.fileClasses {
            logger.info("classifier: file has \(fileClasses) classes, model \(model.classes): re-initialised")
        }
        logger.info("initial weights: \(path)")
    }

    /// What a resume cannot take: a new run's starting weights, another folder.
    static func checkResumeRequest(_ request: Request, folder: String) throws {
        var given = TrainingOptions()
        request.changes(&given)
        if given.initialWeights != nil {
            throw UsageError("--init starts a new run, and --resume continues the run in \(folder) from its checkpoint: drop --init")
        }
        if let out = request.out, URL(fileURLWithPath: out).standardizedFileURL != URL(fileURLWithPath: folder).standardizedFileURL {
            throw UsageError("--resume continues the run in its own folder \(folder): drop --out")
        }
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

    /// The run's settings as the ranks compare them: each field by name, its value as JSON.
    static func settingFields(_ options: TrainingOptions) throws -> [(name: String, value: String)] {
        let object = try JSONSerialization.jsonObject(with: JSONEncoder().encode(options)) as? [String: Any] ?? [:]
        return try object.keys.sorted().map { key in
            let value = try JSONSerialization.data(withJSONObject: object[key]!, options: [.fragmentsAllowed, .sortedKeys])
            return (key, String(decoding: value, as: UTF8.self))
        }
    }

    static func defaultOutPath(_ options: TrainingOptions) -> String {
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        return "runs/\(options.model)-\(options.dataset.rawValue)-\(formatter.string(from: Date()))"
    }

    /// A folder that results go into: created if missing, locked for this run, and checked
    /// writable before any work.
    static func prepareOutputDirectory(_ path: String) throws -> (URL, RunFolderLock) {
        let url = URL(fileURLWithPath: path, isDirectory: true)
        do {
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        } catch {
            throw UsageError("cannot create the output folder \(path) (a file is in its way, or no permission); choose another --out")
        }
        let lock = try RunFolderLock(folder: url)
        let probe = url.appendingPathComponent(".cltrain-write-test-\(getpid())")
        guard FileManager.default.createFile(atPath: probe.path, contents: Data("ok".utf8)) else {
            throw UsageError("the output folder \(path) is not writable; choose another --out")
        }
        try? FileManager.default.removeItem(at: probe)
        return (url, lock)
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
        if let warning = try memory.check(device: device.name, available: available, deviceIsHost: isHost) {
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
