import Foundation

extension TrainingOptions {
    /// The settings of a run resumed from `original` (its checkpoint's) when the resuming command
    /// gives `changes`: the whole original invocation holds unless the command says otherwise, and
    /// what it says is taken only where it leaves the run the same run.
    ///
    /// Taken (and kept by the next checkpoints): the device, the data folder (the data may have
    /// moved; its kind and `--limit` may not change), what the run writes (`--save`,
    /// `--checkpoint-every`, `--log-every`, `--keep-best`), and more `--epochs` than the run
    /// had: the run is extended, its schedule keeping the length it was planned with and the
    /// added epochs continuing at its last rate (see `scheduleEpochs`). Refused, naming the flags:
    /// everything else, since it would change the arithmetic of the steps to come.
    public static func resumed(_ original: TrainingOptions, changes: (inout TrainingOptions) -> Void, state: TrainerState,
                               folder: String) throws -> TrainingOptions {
        var options = original
        changes(&options)
        let refused = options.settingsChangingTheRun(from: original)
        if !refused.isEmpty {
            throw UsageError("--resume continues the run in \(folder) with its own settings, and \(refused.joined(separator: ", ")) "
                             + "would change it: drop \(refused.count == 1 ? "it" : "them"), "
                             + "or start a new run from its weights with --init \(folder)/weights.safetensors")
        }
        if options.epochs < original.epochs {
            throw UsageError("--epochs \(options.epochs) is fewer than the \(original.epochs) of the run in \(folder): "
                             + "a resume can only extend a run; drop --epochs")
        }
        if options.epochs > original.epochs {
            if let steps = original.steps, state.step >= steps {
                throw UsageError("the run in \(folder) ended at its --steps \(steps), which --epochs cannot extend; "
                                 + "start a new run from its weights with --init \(folder)/weights.safetensors")
            }
            if original.schedule == .cosine, original.minLearningRate == 0 {
                throw UsageError("the run in \(folder) has a cosine schedule that ends at --min-lr 0, so epochs added after it would "
                                 + "not learn; start a new run from its weights with --init \(folder)/weights.safetensors and a schedule of its own")
            }
            options.scheduleEpochs = original.scheduleEpochs ?? original.epochs
        }
        return options
    }

    /// The flags of the settings in which these options differ from `original` that would change
    /// a run's arithmetic: all but the device, the data folder, epochs and what the run writes.
    public func settingsChangingTheRun(from original: TrainingOptions) -> [String] {
        runSettingChecks(from: original).filter(\.differs).map(\.flag)
    }

    /// Each setting that defines a run's arithmetic: its field, whether it differs, its flag.
    func runSettingChecks(from o: TrainingOptions) -> [(field: String, differs: Bool, flag: String)] {
        [
            ("model", model != o.model, "--model"),
            ("dataset", dataset != o.dataset, "--dataset"),
            ("limit", limit != o.limit, "--limit"),
            ("batchSize", batchSize != o.batchSize, "--batch-size"),
            ("optimizer", optimizer != o.optimizer, "--optimizer"),
            ("learningRate", learningRate != o.learningRate, "--lr"),
            ("momentum", momentum != o.momentum, "--momentum"),
            ("nesterov", nesterov != o.nesterov, nesterov ? "--nesterov" : "--no-nesterov"),
            ("weightDecay", weightDecay != o.weightDecay, "--weight-decay"),
            ("schedule", schedule != o.schedule, "--schedule"),
            ("warmupEpochs", warmupEpochs != o.warmupEpochs, "--warmup-epochs"),
            ("minLearningRate", minLearningRate != o.minLearningRate, "--min-lr"),
            ("milestones", milestones != o.milestones, "--milestones"),
            ("augment", augment != o.augment, augment ? "--augment" : "--no-augment"),
            ("shuffle", shuffle != o.shuffle, shuffle ? "--shuffle" : "--no-shuffle"),
            ("steps", steps != o.steps, "--steps"),
            ("seed", seed != o.seed, "--seed"),
            ("mean", mean != o.mean, "--mean"),
            ("std", std != o.std, "--std"),
            ("resize", resize != o.resize, "--resize"),
            ("crop", crop != o.crop, "--crop"),
            ("channels", channels != o.channels, "--channels"),
            ("valSplit", valSplit != o.valSplit, "--val-split"),
            ("normalize", normalize != o.normalize, "--normalize"),
            ("dropout", dropout != o.dropout, "--dropout"),
            ("gradientClip", gradientClip != o.gradientClip, "--grad-clip"),
            ("ema", ema != o.ema, "--ema"),
            ("labelSmoothing", labelSmoothing != o.labelSmoothing, "--label-smoothing"),
            ("freeze", freeze != o.freeze, "--freeze"),
            ("syncBatchNorm", syncBatchNorm != o.syncBatchNorm, "--sync-bn"),
            ("initialWeights", initialWeights != o.initialWeights, "--init"),
            ("scheduleEpochs", scheduleEpochs != o.scheduleEpochs, "the schedule's length"),
        ]
    }

    /// The settings a resume may change, by their fields' names: with those of `runSettingChecks`,
    /// every stored property (a test holds the two lists to all of them).
    static let settingsAResumeMayChange = ["device", "dataDirectory", "epochs", "keepBest", "save", "checkpointEvery", "logEvery"]
}
