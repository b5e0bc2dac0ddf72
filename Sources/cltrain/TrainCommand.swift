import ArgumentParser
import CLTrainData
import CLTrainDistributed
import CLTrainReport
import CLTrainRuntime
import CLTrainTraining
import Foundation
import Logging

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a model (with no arguments: DenseNet-BC on Fashion-MNIST on the best device)."
    )

    // Every setting of the run is optional here: a flag left out takes `TrainingOptions`' default
    // in a new run, and the checkpoint's value when resuming (`apply(to:)` sets only the flags
    // given), so a resume can tell a flag typed from a default and refuse those that would
    // change the run.

    @Option(name: .long, help: "Model name (see `cltrain models`) (default: \(Train.defaults.model)).")
    var model: String?

    @OptionGroup var data: DataOptions

    @Option(name: .long, help: "Epochs to train (default: \(Train.defaults.epochs)); with --resume, more than the run's extends it.")
    var epochs: Int?

    @Option(name: .long, help: "Images per batch (default: \(Train.defaults.batchSize)).")
    var batchSize: Int?

    @Option(name: .long, help: "Base learning rate (default: \(Train.defaults.learningRate)).")
    var lr: Float?

    @Option(name: .long, help: "sgd, adam (L2 weight decay) or adamw (decoupled weight decay, as torch.optim.AdamW) (default: \(Train.defaults.optimizer.rawValue)).", transform: { text in
        guard let kind = OptimizerKind(rawValue: text.lowercased()) else { throw ValidationError("unknown optimizer '\(text)': use sgd, adam or adamw") }
        return kind
    })
    var optimizer: OptimizerKind?

    @Option(name: .long, help: "SGD momentum (default: \(Train.defaults.momentum)).")
    var momentum: Float?

    @Flag(name: .long, inversion: .prefixedNo, help: "Nesterov momentum (default: on).")
    var nesterov: Bool?

    @Option(name: .long, help: "Weight decay: L2 for sgd and adam, decoupled for adamw (default: \(Train.defaults.weightDecay)).")
    var weightDecay: Float?

    @Option(name: .long, help: "Learning-rate schedule, set every step: step (x0.1 at 50% and 75% of the steps), multistep (x0.1 at each of --milestones), cosine (to --min-lr) or constant (default: \(Train.defaults.schedule.rawValue)).", transform: { text in
        guard let schedule = LearningRateSchedule(rawValue: text.lowercased()) else {
            throw ValidationError("unknown schedule '\(text)': use step, multistep, cosine or constant")
        }
        return schedule
    })
    var schedule: LearningRateSchedule?

    @Option(name: .long, help: "Epochs (fractions allowed) of linear warm-up from 0.01 x --lr to --lr before the schedule (default: 0).")
    var warmupEpochs: Double?

    @Option(name: .long, help: "The rate cosine ends at (PyTorch's eta_min) (default: 0).")
    var minLr: Float?

    @Option(name: .long, parsing: .upToNextOption, help: "Epochs (fractions allowed) at which multistep multiplies the rate by 0.1.")
    var milestones: [Double] = []

    @Flag(name: .long, inversion: .prefixedNo, help: "Random crop after 4-pixel padding and horizontal flip; --dataset folder: random resized crop and flip (default: on).")
    var augment: Bool?

    @Flag(name: .long, inversion: .prefixedNo, help: "Shuffle the training set each epoch (default: on).")
    var shuffle: Bool?

    @Option(name: .long, help: "Use only the first N training images.")
    var limit: Int?

    @Option(name: .long, help: "Stop after N optimizer steps.")
    var steps: Int?

    @Option(name: .long, help: "Fashion-MNIST, MNIST, CIFAR: resize images to N x N. --dataset folder: resize each image's shorter side to N (bilinear, antialiased as Pillow) and keep its center N x N, once at load (needed when the images' sizes differ).")
    var resize: Int?

    @Option(name: .long, help: "--dataset folder: the model's input N x N (default: --resize, else the images' shorter side): a center crop for testing; for training with --augment, torchvision's RandomResizedCrop (scale 0.08-1, ratio 3/4-4/3) of the resized square (not of the original image) and a flip.")
    var crop: Int?

    @Option(name: .long, help: "imagenet: normalise with torchvision's ImageNet mean and std (one channel: their luma-weighted values) instead of the training set's.", transform: { text in
        guard let preset = NormalizationPreset(rawValue: text.lowercased()) else { throw ValidationError("unknown --normalize '\(text)': use imagenet (or --mean/--std)") }
        return preset
    })
    var normalize: NormalizationPreset?

    @Option(name: .long, help: "Dropout rate after each dense layer (DenseNet only; 0, the default, turns it off).")
    var dropout: Float?

    @Option(name: .long, help: "Clip the global L2 norm of the gradients to NORM before each update (torch.nn.utils.clip_grad_norm_).")
    var gradClip: Float?

    @Option(name: .long, help: "Keep an exponential moving average of the weights with this decay (e.g. 0.9998): tested each epoch and saved as weights-ema.safetensors.")
    var ema: Float?

    @Option(name: .long, help: "Label smoothing of the training loss, as F.cross_entropy(label_smoothing=E) (0, the default, turns it off).")
    var labelSmoothing: Float?

    @Flag(name: .long, help: "Also write best.safetensors in --out: the weights of the epoch with the best test accuracy so far.")
    var keepBest = false

    @Option(name: .long, help: "Seed of initialisation, shuffling and augmentation (default: \(Train.defaults.seed)).")
    var seed: UInt64?

    @OptionGroup var deviceOptions: DeviceOptions

    @Option(name: .customLong("init"), help: "Start from the weights in this safetensors file (e.g. a torchvision model converted by scripts/torchvision-to-safetensors.py): every tensor must fit the model by name and shape, except a classifier of another class count, which is re-initialised.")
    var initialWeights: String?

    @Option(name: .long, help: "none, or features: train only the classifier. The features run in inference mode (their batch norms use and keep their running statistics, as Keras' trainable = False), their weights never change and get no gradient work (default: none).", transform: { text in
        guard let part = FrozenPart(rawValue: text.lowercased()) else { throw ValidationError("unknown --freeze '\(text)': use none or features") }
        return part
    })
    var freeze: FrozenPart?

    @Flag(name: .long, help: "Under mpirun: batch norm in training uses the statistics of the global batch (all ranks' shares; one all-reduce per batch norm forward and backward), so that the run equals one process up to float rounding. Default: each rank's own share, as PyTorch DDP. No effect in one process; a resume keeps it.")
    var syncBn = false

    @Option(name: .long, help: "Also write the final weights to this safetensors file.")
    var save: String?

    @Option(name: .long, help: "Folder for metrics.csv, plot.svg, TensorBoard events, weights and checkpoints (default: runs/MODEL-DATASET-TIME).")
    var out: String?

    @Option(name: .long, help: "Also write a checkpoint every N steps (one is always written at the end of each epoch).")
    var checkpointEvery: Int?

    @Option(name: .long, help: "Continue the run whose --out folder is DIR with its original settings and outputs (--save, --checkpoint-every, ...); only the device, the outputs, --data and more --epochs may be given with it.")
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

    @Option(name: .long, help: "Log the training loss and accuracy to TensorBoard every N steps (default: \(TensorBoardLog.defaultEvery)).")
    var logEvery: Int?

    /// For tests: `R:S`, rank R kills itself (SIGKILL) after step S.
    @Option(name: .long, help: .hidden)
    var killRank: String?

    /// Every flag's default is `TrainingOptions`' own: one home for them.
    static let defaults = TrainingOptions()

    /// Set the settings given on the command line, and only those, in `o`.
    func apply(to o: inout TrainingOptions) {
        if let model { o.model = model.lowercased() }
        if let dataset = data.datasetChoice { o.dataset = dataset }
        if let directory = data.dataDirectory { o.dataDirectory = directory }
        if let epochs { o.epochs = epochs }
        if let batchSize { o.batchSize = batchSize }
        if let optimizer { o.optimizer = optimizer }
        if let lr { o.learningRate = lr }
        if let momentum { o.momentum = momentum }
        if let nesterov { o.nesterov = nesterov }
        if let weightDecay { o.weightDecay = weightDecay }
        if let schedule { o.schedule = schedule }
        if let warmupEpochs { o.warmupEpochs = warmupEpochs }
        if let minLr { o.minLearningRate = minLr }
        if !milestones.isEmpty { o.milestones = milestones }
        if let augment { o.augment = augment }
        if let shuffle { o.shuffle = shuffle }
        if let limit { o.limit = limit }
        if let steps { o.steps = steps }
        if let resize { o.resize = resize }
        if let crop { o.crop = crop }
        if let channels = data.channels { o.channels = channels }
        if let valSplit = data.valSplit { o.valSplit = valSplit }
        if let normalize { o.normalize = normalize }
        if let dropout { o.dropout = dropout }
        if keepBest { o.keepBest = true }
        if let gradClip { o.gradientClip = gradClip }
        if let ema { o.ema = ema }
        if let labelSmoothing { o.labelSmoothing = labelSmoothing }
        if let seed { o.seed = seed }
        if let device = deviceOptions.deviceChoice { o.device = device }
        if !data.mean.isEmpty { o.mean = data.mean }
        if !data.std.isEmpty { o.std = data.std }
        if let save { o.save = save }
        if let initialWeights { o.initialWeights = initialWeights }
        if let freeze { o.freeze = freeze }
        if syncBn { o.syncBatchNorm = true }
        if let checkpointEvery { o.checkpointEvery = checkpointEvery }
        if let logEvery { o.logEvery = logEvery }
    }

    /// A new run's settings: the defaults with the flags given.
    func options() -> TrainingOptions {
        var o = TrainingOptions()
        apply(to: &o)
        return o
    }

    /// A new run's settings are checked here; a resumed run's once they are applied over its
    /// checkpoint's (`TrainingRun`).
    func validate() throws {
        guard resume == nil else { return }
        do { try options().validate() } catch let error as UsageError { throw ValidationError(error.message) }
    }

    func run() throws {
        // Under mpirun or srun this process is one rank of several; chosen before any device.
        let communicator = try openCommunicator()
        let rank = communicator.rank
        // Rank 0 shows the run; the others only their warnings and errors, named.
        let quiet = self.quiet || rank > 0
        let killAt = killRank.flatMap { text -> (rank: Int, step: Int)? in
            let parts = text.split(separator: ":").compactMap { Int($0) }
            return parts.count == 2 ? (parts[0], parts[1]) : nil
        }
        try reportingRankErrors(communicator) {
            var request = TrainingRun.Request(options: options())
            request.communicator = communicator
            request.out = out
            request.resume = resume
            request.changes = apply(to:)
            request.tune = deviceOptions.tune
            request.onWriteError = onWriteError
            let run = try TrainingRun(request, logger: makeLogger(format: logFormat, quiet: quiet, rank: rank > 0 ? rank : nil))
            let reporter = RunReporter(directory: run.outDirectory, title: run.title)
            let events = run.writesFiles ? try TensorBoardLog(directory: run.outDirectory, every: run.options.logEvery ?? TensorBoardLog.defaultEvery,
                                                              resumedAfter: resume.map { _ in run.trainer.step }) : nil
            let progress = ProgressBarDisplay(enabled: !quiet)
            let stop = StopSignal()
            let start = Date()
            do {
                try run.run(stopRequested: { stop.receivedSignal != nil }, onProgress: {
                    progress.update($0)
                    try events?.record($0)
                    if let killAt, killAt.rank == rank, $0.step == killAt.step {
                        FileHandle.standardError.write(Data("rank \(rank) kills itself at \(Date().timeIntervalSince1970)\n".utf8))
                        kill(getpid(), SIGKILL)
                    }
                }, reportFiles: {
                    try reporter.write(run.trainer.metrics, curve: run.trainer.state.lossCurve.points)
                }) { metrics in
                    progress.finishLine()
                    if !quiet { print(RunReporter.line(metrics, epochs: run.options.epochs)) }
                    try events?.record(metrics)
                }
            } catch let failed as RunWriteFailed {
                progress.finishLine()
                FileHandle.standardError.write(Data("error: \(oneLine(failed))\n".utf8))
                throw ExitCode(74)  // EX_IOERR
            } catch is TrainingInterrupted {
                progress.finishLine()
                let folder = run.outDirectory.path
                if rank == 0 { print("stopped at step \(run.trainer.step); the checkpoint is in \(folder). Resume with: cltrain train --resume \(folder)") }
                throw ExitCode(stop.exitStatus)
            }
            if quiet { return }
            print("done in \(formatDuration(Date().timeIntervalSince(start))): test accuracy "
                  + (run.trainer.metrics.last?.testAccuracy.map { String(format: "%.2f%%", 100 * $0) } ?? "-")
                  + "; results in \(run.outDirectory.path)")
        }
    }
}

/// `reportingErrors` for a command that may run as one rank of several: an error is one line,
/// named by its rank; one that every rank raises alike (settings that differ) is printed by rank 0
/// alone. A rank that fails leaves at once without finalising MPI (which would wait for ranks
/// still inside a collective): its launcher sees it end first and ends the whole job.
func reportingRankErrors(_ communicator: any Communicator, _ body: () throws -> Void) throws {
    guard communicator.size > 1 else { return try reportingErrors(body) }
    do {
        try body()
    } catch let exit as ExitCode {
        throw exit
    } catch {
        let rank = communicator.rank
        if rank == 0 || (error as? MPIError)?.isRaisedByEveryRank != true {
            FileHandle.standardError.write(Data("error: \(rank > 0 ? "rank \(rank): " : "")\(oneLine(error))\n".utf8))
        }
        Foundation.exit(1)
    }
}
