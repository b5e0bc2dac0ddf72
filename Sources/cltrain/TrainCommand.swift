import ArgumentParser
import CLTrainData
import CLTrainIO
import CLTrainNN
import CLTrainReport
import CLTrainRuntime
import CLTrainTraining
import Foundation
import Logging

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a model (with no arguments: DenseNet-BC on Fashion-MNIST on the best device)."
    )

    @Option(name: .long, help: "Model name (see `cltrain models`).")
    var model = Train.defaults.model

    @OptionGroup var data: DataOptions

    @Option(name: .long, help: "Epochs to train.")
    var epochs = Train.defaults.epochs

    @Option(name: .long, help: "Images per batch.")
    var batchSize = Train.defaults.batchSize

    @Option(name: .long, help: "Base learning rate.")
    var lr = Train.defaults.learningRate

    @Option(name: .long, help: "sgd or adam.", transform: { text in
        guard let kind = OptimizerKind(rawValue: text.lowercased()) else { throw ValidationError("unknown optimizer '\(text)': use sgd or adam") }
        return kind
    })
    var optimizer = Train.defaults.optimizer

    @Option(name: .long, help: "SGD momentum.")
    var momentum = Train.defaults.momentum

    @Flag(name: .long, inversion: .prefixedNo, help: "Nesterov momentum.")
    var nesterov = Train.defaults.nesterov

    @Option(name: .long, help: "L2 weight decay.")
    var weightDecay = Train.defaults.weightDecay

    @Option(name: .long, help: "step (/10 at 50% and 75% of the epochs), cosine or constant.", transform: { text in
        guard let schedule = LearningRateSchedule(rawValue: text.lowercased()) else {
            throw ValidationError("unknown schedule '\(text)': use step, cosine or constant")
        }
        return schedule
    })
    var schedule = Train.defaults.schedule

    @Flag(name: .long, inversion: .prefixedNo, help: "Random crop after 4-pixel padding and horizontal flip.")
    var augment = Train.defaults.augment

    @Flag(name: .long, inversion: .prefixedNo, help: "Shuffle the training set each epoch.")
    var shuffle = Train.defaults.shuffle

    @Option(name: .long, help: "Use only the first N training images.")
    var limit: Int?

    @Option(name: .long, help: "Stop after N optimizer steps.")
    var steps: Int?

    @Option(name: .long, help: "Resize images to N x N.")
    var resize: Int?

    @Option(name: .long, help: "Dropout rate after each dense layer (DenseNet only; 0 turns it off).")
    var dropout = Train.defaults.dropout

    @Option(name: .long, help: "Seed of initialisation, shuffling and augmentation.")
    var seed = Train.defaults.seed

    @OptionGroup var deviceOptions: DeviceOptions

    @Option(name: .customLong("init"), help: "Start from the weights in this safetensors file.")
    var initialWeights: String?

    @Option(name: .long, help: "Also write the final weights to this safetensors file.")
    var save: String?

    @Option(name: .long, help: "Folder for metrics.csv, plot.svg, weights and checkpoints (default: runs/MODEL-DATASET-TIME).")
    var out: String?

    @Option(name: .long, help: "Also write a checkpoint every N steps (one is always written at the end of each epoch).")
    var checkpointEvery: Int?

    @Option(name: .long, help: "Continue the run whose --out folder is DIR, with its original settings.")
    var resume: String?

    /// Every flag's default is `TrainingOptions`' own: one home for them.
    static let defaults = TrainingOptions()

    func options() -> TrainingOptions {
        var o = TrainingOptions()
        o.model = model.lowercased()
        o.dataset = data.dataset
        o.dataDirectory = data.dataDirectory
        o.epochs = epochs
        o.batchSize = batchSize
        o.optimizer = optimizer
        o.learningRate = lr
        o.momentum = momentum
        o.nesterov = nesterov
        o.weightDecay = weightDecay
        o.schedule = schedule
        o.augment = augment
        o.shuffle = shuffle
        o.limit = limit
        o.steps = steps
        o.resize = resize
        o.dropout = dropout
        o.seed = seed
        o.device = deviceOptions.device
        o.mean = data.mean.isEmpty ? nil : data.mean
        o.std = data.std.isEmpty ? nil : data.std
        return o
    }

    func validate() throws {
        if let checkpointEvery, checkpointEvery <= 0 { throw ValidationError("--checkpoint-every must be at least 1 (got \(checkpointEvery))") }
        do { try options().validate() } catch let error as UsageError { throw ValidationError(error.message) }
    }

    func run() throws {
        try reportingErrors {
            let logger = makeLogger()
            var options = options()
            var saved: Checkpoint.Saved?
            if let resume {
                saved = try Checkpoint.read(from: URL(fileURLWithPath: resume, isDirectory: true))
                options = saved!.options
                logger.info("resuming \(resume) at epoch \(saved!.trainer.epoch + 1), step \(saved!.trainer.step), with its original settings")
            }
            let outDirectory = try prepareOutputDirectory(resume ?? out ?? defaultOutPath(options))
            if let save { try checkWritableFile(save) }

            let train = try DatasetLoader.load(kind: options.dataset, directory: options.dataDirectory, split: .train, limit: options.limit)
            let test = try DatasetLoader.load(kind: options.dataset, directory: options.dataDirectory, split: .test)
            var normalization = Normalization.compute(train)
            if let mean = options.mean, let std = options.std { normalization = Normalization(mean: mean, std: std) }
            if let saved { normalization = saved.normalization }
            try normalization.validate(channels: train.channels)
            logger.info("data: \(options.dataset.rawValue), \(train.count) training and \(test.count) test images of \(train.channels)x\(train.height)x\(train.width), \(train.classes) classes")
            logger.info("normalisation: mean \(normalization.mean) std \(normalization.std)")

            let device = try Device.open(options.device)
            let entry = ModelCatalog.entry(named: options.model)!
            let model = try entry.make(inputChannels: train.channels, classes: train.classes, device: device, seed: options.seed,
                                       dropout: options.dropout)
            if let initialWeights, saved == nil { try ModelWeights.load(URL(fileURLWithPath: initialWeights), into: model) }
            logger.info("model: \(options.model), \(model.parameterCount) parameters; device: \(device.name)")
            // Checkpoint (weights, BN statistics, one or two optimizer buffers per parameter) twice
            // over while it is replaced, plus the weights file.
            let stateBytes = 4 * (model.parameterCount + model.buffers.reduce(0) { $0 + $1.value.count })
            try checkFreeSpace(at: outDirectory, needed: 2 * (3 * stateBytes) + stateBytes + (1 << 20))

            let height = options.resize ?? train.height, width = options.resize ?? train.width
            let metadata = RunMetadata(model: options.model, dataset: options.dataset.rawValue, inputChannels: train.channels,
                                       classes: train.classes, height: height, width: width, normalization: normalization)
            let trainer = try Trainer(options: options, model: model, device: device, train: train, test: test,
                                      normalization: normalization, logger: logger)
            if let saved { try Checkpoint.restore(saved, into: trainer) }
            let reporter = RunReporter(directory: outDirectory, title: "\(options.model) on \(options.dataset.rawValue), \(device.name)")
            let progress = ProgressBarDisplay()
            let stop = StopSignal()
            trainer.checkpointEvery = checkpointEvery
            trainer.stopRequested = { stop.receivedSignal != nil }
            trainer.onCheckpoint = { try Checkpoint.write(trainer, to: outDirectory, metadata: metadata) }
            trainer.onProgress = { progress.update($0) }
            trainer.onEpochEnd = { metrics in
                progress.finishLine()
                print(RunReporter.line(metrics, epochs: options.epochs))
                try reporter.write(trainer.metrics)
                try ModelWeights.save(model, to: reporter.weightsURL, metadata: metadata.dictionary)
            }
            let start = Date()
            do {
                try trainer.run()
            } catch is TrainingInterrupted {
                progress.finishLine()
                print("stopped at step \(trainer.step); the checkpoint is in \(outDirectory.path). Resume with: cltrain train --resume \(outDirectory.path)")
                throw ExitCode(stop.exitStatus)
            }
            if let save { try ModelWeights.save(model, to: URL(fileURLWithPath: save), metadata: metadata.dictionary) }
            let last = trainer.metrics.last
            print("done in \(formatDuration(Date().timeIntervalSince(start))): test accuracy "
                  + (last?.testAccuracy.map { String(format: "%.2f%%", 100 * $0) } ?? "-")
                  + "; results in \(outDirectory.path)")
        }
    }

    func defaultOutPath(_ options: TrainingOptions) -> String {
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        return "runs/\(options.model)-\(options.dataset.rawValue)-\(formatter.string(from: Date()))"
    }
}

/// Fail before training when a file cannot be written where the user asked.
func checkWritableFile(_ path: String) throws {
    let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
    guard FileManager.default.isWritableFile(atPath: directory.isEmpty ? "." : directory) else {
        throw UsageError("cannot write \(path): its folder does not exist or is not writable")
    }
}

/// The CLI's logger: info and above, to stderr.
func makeLogger() -> Logger {
    var logger = Logger(label: "cltrain") { StreamLogHandler.standardError(label: $0) }
    logger.logLevel = .info
    return logger
}
