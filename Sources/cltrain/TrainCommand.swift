import ArgumentParser
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

    @Option(name: .long, help: "sgd, adam (L2 weight decay) or adamw (decoupled weight decay, as torch.optim.AdamW).", transform: { text in
        guard let kind = OptimizerKind(rawValue: text.lowercased()) else { throw ValidationError("unknown optimizer '\(text)': use sgd, adam or adamw") }
        return kind
    })
    var optimizer = Train.defaults.optimizer

    @Option(name: .long, help: "SGD momentum.")
    var momentum = Train.defaults.momentum

    @Flag(name: .long, inversion: .prefixedNo, help: "Nesterov momentum.")
    var nesterov = Train.defaults.nesterov

    @Option(name: .long, help: "Weight decay: L2 for sgd and adam, decoupled for adamw.")
    var weightDecay = Train.defaults.weightDecay

    @Option(name: .long, help: "Learning-rate schedule, set every step: step (x0.1 at 50% and 75% of the steps), multistep (x0.1 at each of --milestones), cosine (to --min-lr) or constant.", transform: { text in
        guard let schedule = LearningRateSchedule(rawValue: text.lowercased()) else {
            throw ValidationError("unknown schedule '\(text)': use step, multistep, cosine or constant")
        }
        return schedule
    })
    var schedule = Train.defaults.schedule

    @Option(name: .long, help: "Epochs (fractions allowed) of linear warm-up from 0.01 x --lr to --lr before the schedule.")
    var warmupEpochs = Train.defaults.warmupEpochs

    @Option(name: .long, help: "The rate cosine ends at (PyTorch's eta_min).")
    var minLr = Train.defaults.minLearningRate

    @Option(name: .long, parsing: .upToNextOption, help: "Epochs (fractions allowed) at which multistep multiplies the rate by 0.1.")
    var milestones = Train.defaults.milestones

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

    @Option(name: .long, help: "Clip the global L2 norm of the gradients to NORM before each update (torch.nn.utils.clip_grad_norm_).")
    var gradClip: Float?

    @Option(name: .long, help: "Keep an exponential moving average of the weights with this decay (e.g. 0.9998): tested each epoch and saved as weights-ema.safetensors.")
    var ema: Float?

    @Option(name: .long, help: "Label smoothing of the training loss, as F.cross_entropy(label_smoothing=E) (0 turns it off).")
    var labelSmoothing = Train.defaults.labelSmoothing

    @Flag(name: .long, help: "Also write best.safetensors in --out: the weights of the epoch with the best test accuracy so far.")
    var keepBest = Train.defaults.keepBest

    @Option(name: .long, help: "Seed of initialisation, shuffling and augmentation.")
    var seed = Train.defaults.seed

    @OptionGroup var deviceOptions: DeviceOptions

    @Option(name: .customLong("init"), help: "Start from the weights in this safetensors file.")
    var initialWeights: String?

    @Option(name: .long, help: "Also write the final weights to this safetensors file.")
    var save: String?

    @Option(name: .long, help: "Folder for metrics.csv, plot.svg, TensorBoard events, weights and checkpoints (default: runs/MODEL-DATASET-TIME).")
    var out: String?

    @Option(name: .long, help: "Also write a checkpoint every N steps (one is always written at the end of each epoch).")
    var checkpointEvery: Int?

    @Option(name: .long, help: "Continue the run whose --out folder is DIR, with its original settings.")
    var resume: String?

    @Option(name: .long, help: ArgumentHelp(
        "When a file of the run cannot be written (a full disk): stop (exit 74, keeping the last checkpoint to --resume from) "
            + "or continue (warn, and write it again at the next checkpoint).", valueName: "stop|continue"),
            transform: { text in
        guard let policy = WriteErrorPolicy(rawValue: text.lowercased()) else { throw ValidationError("unknown --on-write-error '\(text)': use stop or continue") }
        return policy
    })
    var onWriteError = WriteErrorPolicy.stop

    @Flag(name: .long, help: "Print only warnings, errors and how to resume a stopped run (no progress, no epoch lines).")
    var quiet = false

    @Option(name: .long, help: "plain (lines to read) or json (one object per line, with time and level) for the run log on stderr.")
    var logFormat = LogFormat.plain

    @Option(name: .long, help: "Log the training loss and accuracy to TensorBoard every N steps.")
    var logEvery = TensorBoardLog.defaultEvery

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
        o.warmupEpochs = warmupEpochs
        o.minLearningRate = minLr
        o.milestones = milestones
        o.augment = augment
        o.shuffle = shuffle
        o.limit = limit
        o.steps = steps
        o.resize = resize
        o.dropout = dropout
        o.keepBest = keepBest
        o.gradientClip = gradClip
        o.ema = ema
        o.labelSmoothing = labelSmoothing
        o.seed = seed
        o.device = deviceOptions.device
        o.mean = data.mean.isEmpty ? nil : data.mean
        o.std = data.std.isEmpty ? nil : data.std
        return o
    }

    func validate() throws {
        if let checkpointEvery, checkpointEvery <= 0 { throw ValidationError("--checkpoint-every must be at least 1 (got \(checkpointEvery))") }
        if logEvery <= 0 { throw ValidationError("--log-every must be at least 1 (got \(logEvery))") }
        do { try options().validate() } catch let error as UsageError { throw ValidationError(error.message) }
    }

    func run() throws {
        try reportingErrors {
            var request = TrainingRun.Request(options: options())
            request.out = out
            request.resume = resume
            request.initialWeights = initialWeights
            request.save = save
            request.checkpointEvery = checkpointEvery
            request.tune = deviceOptions.tune
            request.onWriteError = onWriteError
            let run = try TrainingRun(request, logger: makeLogger(format: logFormat, quiet: quiet))
            let reporter = RunReporter(directory: run.outDirectory, title: run.title)
            let events = try TensorBoardLog(directory: run.outDirectory, every: logEvery, resumedAfter: resume.map { _ in run.trainer.step })
            let progress = ProgressBarDisplay(enabled: !quiet)
            let stop = StopSignal()
            let start = Date()
            do {
                try run.run(stopRequested: { stop.receivedSignal != nil }, onProgress: {
                    progress.update($0)
                    try events.record($0)
                }, reportFiles: {
                    try reporter.write(run.trainer.metrics, curve: run.trainer.state.lossCurve.points)
                }) { metrics in
                    progress.finishLine()
                    if !quiet { print(RunReporter.line(metrics, epochs: run.options.epochs)) }
                    try events.record(metrics)
                }
            } catch let failed as RunWriteFailed {
                progress.finishLine()
                FileHandle.standardError.write(Data("error: \(oneLine(failed))\n".utf8))
                throw ExitCode(74)  // EX_IOERR
            } catch is TrainingInterrupted {
                progress.finishLine()
                let folder = run.outDirectory.path
                print("stopped at step \(run.trainer.step); the checkpoint is in \(folder). Resume with: cltrain train --resume \(folder)")
                throw ExitCode(stop.exitStatus)
            }
            if quiet { return }
            print("done in \(formatDuration(Date().timeIntervalSince(start))): test accuracy "
                  + (run.trainer.metrics.last?.testAccuracy.map { String(format: "%.2f%%", 100 * $0) } ?? "-")
                  + "; results in \(run.outDirectory.path)")
        }
    }
}
