import CLTrainData
import CLTrainNN
import CLTrainRuntime

/// Which optimizer a run uses.
public enum OptimizerKind: String, Codable, CaseIterable, Sendable {
    /// `adamw`: Adam with decoupled weight decay (`torch.optim.AdamW`).
    case sgd, adam, adamw
}

/// The part of a model that a run does not train (`--freeze`).
public enum FrozenPart: String, Codable, CaseIterable, Sendable {
    /// Everything trains.
    case none
    /// Only the classifier trains (Keras' `trainable = False` on the base model): the features run
    /// in inference mode, their batch norms using and keeping their running statistics; their
    /// parameters never change (the optimizer, weight decay and EMA skip them), and the backward
    /// pass stops at the head.
    case features

    /// The parameters of `model` that train.
    public func trainableParameters(of model: Model) -> [Parameter] {
        switch self {
        case .none: return model.parameters
        case .features:
            let (weight, bias, _) = model.classifier
            return [weight] + (bias.map { [$0] } ?? [])
        }
    }
}

/// Everything that defines a training run: what the CLI flags set, and what a checkpoint keeps
/// so a resumed run continues with its original settings.
public struct TrainingOptions: Codable, Equatable, Sendable {
    /// The defaults of `cltrain train`. Model and epochs are chosen so that `cltrain train` with no
    /// arguments finishes in under 15 minutes on a 2-core CPU and passes 90% test accuracy on
    /// Fashion-MNIST: measured 9:26 and 91.36% (2026-11-23); densenet-bc-40 for 2 epochs took
    /// 10:58 for 90.05%, too close to the bar.
    public var model = "densenet-bc-28"
    public var dataset: DatasetKind = .fashionMNIST
    /// Folder of the data set files; nil means the data set's default folder.
    public var dataDirectory: String?
    public var epochs = 3
    public var batchSize = 64
    public var optimizer: OptimizerKind = .sgd
    public var learningRate: Float = 0.1
    public var momentum: Float = 0.9
    public var nesterov = true
    public var weightDecay: Float = 1e-4
    public var schedule: LearningRateSchedule = .step
    /// Epochs of linear warm-up before the schedule (fractions allowed); see `LearningRateCurve`.
    public var warmupEpochs = 0.0
    /// Cosine's floor (PyTorch's eta_min).
    public var minLearningRate: Float = 0
    /// Where `multistep` multiplies the rate by 0.1, in epochs of the run (fractions allowed).
    public var milestones: [Double] = []
    public var augment = true
    public var shuffle = true
    /// Use only the first N training images.
    public var limit: Int?
    /// Stop after this many optimizer steps.
    public var steps: Int?
    public var seed: UInt64 = 0
    public var device: DeviceChoice = .auto
    /// Per-channel normalisation overriding the training set's statistics.
    public var mean: [Float]?
    public var std: [Float]?
    /// IDX and CIFAR: resize images to N x N before augmentation. A folder: the shorter side to
    /// N and the center N x N, once at load (see `DataSource`).
    public var resize: Int?
    /// A folder: the model's input size, a random resized crop (training) or center crop
    /// (testing) of the loaded images (nil: `resize`, else their shorter side).
    public var crop: Int?
    /// Convert every image to 1 or 3 channels (nil: the data's own).
    public var channels: Int?
    /// A folder without val/ or test/: hold out this fraction of train as the test split.
    public var valSplit: Double?
    /// Normalise with these known statistics instead of the training set's (`--normalize`).
    public var normalize: NormalizationPreset?
    /// Dropout rate after each dense layer (DenseNet models only).
    public var dropout: Float = 0
    /// Write `best.safetensors` after each tested epoch whose test accuracy beats every earlier one.
    public var keepBest = false
    /// Clip the global L2 norm of all gradients to this before each update; nil: no clipping.
    public var gradientClip: Float?
    /// Decay of an exponential moving average of the weights, evaluated and saved beside them; nil: none.
    public var ema: Float?
    /// The training loss's label smoothing ε (`F.cross_entropy(label_smoothing=ε)`); 0: none.
    public var labelSmoothing: Float = 0
    /// The part of the model that does not train (`--freeze`).
    public var freeze: FrozenPart = .none
    /// Batch norm in training uses the statistics of the global batch of all ranks (`--sync-bn`);
    /// one process has nothing to synchronise.
    public var syncBatchNorm = false
    /// The weights the run started from (`--init`; an absolute path, recorded for the record: a
    /// resumed run takes its weights from its checkpoint, never from this file).
    public var initialWeights: String?
    /// The epochs the learning-rate schedule spans when the run was extended past them
    /// (`--resume DIR --epochs N`): the schedule keeps the length it was planned with, and the
    /// added epochs continue at its last rate. nil: `epochs`.
    public var scheduleEpochs: Int?

    // What the run writes besides its folder's files. None changes the run's arithmetic; each is
    // kept in the checkpoint so that every resume honours it, and a resume may change it.

    /// Also write the final weights to this file (`--save`; an absolute path, so that a resume
    /// from another folder writes the same file).
    public var save: String?
    /// Also write a checkpoint every N steps (`--checkpoint-every`).
    public var checkpointEvery: Int?
    /// Log the training loss and accuracy to TensorBoard every N steps (`--log-every`; nil: the
    /// log's default).
    public var logEvery: Int?

    /// More epochs than any run needs; the cap keeps a run's step count (epochs x batches) far
    /// from overflowing.
    public static let maximumEpochs = 1_000_000

    public init() {}

    /// Check the values a user can get wrong; each error is one line saying what to do.
    public func validate() throws {
        guard epochs > 0, epochs <= Self.maximumEpochs else {
            throw UsageError("--epochs must be between 1 and \(Self.maximumEpochs) (got \(epochs))")
        }
        guard batchSize > 0 else { throw UsageError("--batch-size must be at least 1 (got \(batchSize))") }
        guard learningRate.isFinite, learningRate > 0 else { throw UsageError("--lr must be a positive number (got \(learningRate))") }
        guard momentum.isFinite, momentum >= 0, momentum < 1 else { throw UsageError("--momentum must be in [0, 1) (got \(momentum))") }
        guard weightDecay.isFinite, weightDecay >= 0 else { throw UsageError("--weight-decay must be zero or positive (got \(weightDecay))") }
        try validateSchedule()
        if let limit, limit <= 0 { throw UsageError("--limit must be at least 1 (got \(limit))") }
        if let steps, steps <= 0 { throw UsageError("--steps must be at least 1 (got \(steps))") }
        if let resize, resize < 8 { throw UsageError("--resize must be at least 8 pixels (got \(resize))") }
        try validateData()
        guard dropout.isFinite, dropout >= 0, dropout < 1 else { throw UsageError("--dropout must be in [0, 1) (got \(dropout))") }
        if let gradientClip, !(gradientClip.isFinite && gradientClip > 0) {
            throw UsageError("--grad-clip must be a positive number, the largest gradient norm (got \(gradientClip))")
        }
        if let checkpointEvery, checkpointEvery <= 0 { throw UsageError("--checkpoint-every must be at least 1 (got \(checkpointEvery))") }
        if let logEvery, logEvery <= 0 { throw UsageError("--log-every must be at least 1 (got \(logEvery))") }
        if let ema, !(ema > 0 && ema < 1) { throw UsageError("--ema must be a decay in (0, 1), e.g. 0.9998 (got \(ema))") }
        guard labelSmoothing >= 0, labelSmoothing < 1 else { throw UsageError("--label-smoothing must be in [0, 1), e.g. 0.1 (got \(labelSmoothing))") }
        if (mean == nil) != (std == nil) { throw UsageError("--mean and --std go together: give both, one value per channel") }
        guard let entry = ModelCatalog.entry(named: model) else {
            throw UsageError("unknown model '\(model)': see `cltrain models` for the list")
        }
        if dropout > 0, freeze == .features {
            throw UsageError("--dropout acts inside the features, which --freeze features runs in inference mode (no dropout): drop one of them")
        }
        if dropout > 0, !entry.takesDropout {
            throw UsageError("--dropout applies to DenseNet models (torchvision's drop_rate); \(model) has no dropout")
        }
    }
}

extension TrainingOptions {
    /// What the run reads, as the data module takes it.
    public var dataSource: DataSource {
        DataSource(kind: dataset, directory: dataDirectory, channels: channels, resize: resize, crop: crop, valSplit: valSplit)
    }

    func validateData() throws {
        if let channels, channels != 1 && channels != 3 { throw UsageError("--channels must be 1 (grayscale) or 3 (RGB) (got \(channels))") }
        if let crop, crop < 8 { throw UsageError("--crop must be at least 8 pixels (got \(crop))") }
        if let crop, let resize, crop > resize { throw UsageError("--crop \(crop) must not exceed --resize \(resize): the crop is taken from the resized image") }
        if dataset != .folder, crop != nil { throw UsageError("--crop goes with --dataset folder (for \(dataset.rawValue), --resize N sets the size)") }
        if dataset != .folder, valSplit != nil { throw UsageError("--val-split goes with --dataset folder (\(dataset.rawValue) has its own test split)") }
        if let valSplit, !(valSplit > 0 && valSplit < 1) { throw UsageError("--val-split must be a fraction between 0 and 1, e.g. 0.1 (got \(valSplit))") }
        if normalize != nil, mean != nil { throw UsageError("--normalize and --mean/--std both set the normalisation: give one of them") }
    }

    func validateSchedule() throws {
        guard warmupEpochs.isFinite, warmupEpochs >= 0, warmupEpochs < Double(epochs) else {
            throw UsageError("--warmup-epochs must be at least 0 and less than --epochs (\(epochs)) (got \(warmupEpochs))")
        }
        guard minLearningRate.isFinite, minLearningRate >= 0 else { throw UsageError("--min-lr must be zero or positive (got \(minLearningRate))") }
        if minLearningRate > learningRate { throw UsageError("--min-lr (\(minLearningRate)) must not exceed --lr (\(learningRate))") }
        if minLearningRate > 0, schedule != .cosine { throw UsageError("--min-lr is cosine's floor: add --schedule cosine, or drop --min-lr") }
        if !milestones.isEmpty, schedule != .multistep { throw UsageError("--milestones go with --schedule multistep") }
        if schedule == .multistep, milestones.isEmpty { throw UsageError("--schedule multistep needs --milestones (epochs, e.g. --milestones 150 225)") }
        for (earlier, later) in zip(milestones, milestones.dropFirst()) where !(later > earlier) {
            throw UsageError("--milestones must increase (got \(earlier) then \(later))")
        }
        if let bad = milestones.first(where: { !($0.isFinite && $0 > 0 && $0 < Double(epochs)) }) {
            throw UsageError("--milestones must lie inside the run, between 0 and --epochs (\(epochs)) (got \(bad))")
        }
        let firstMilestone = schedule == .step ? 0.5 * Double(epochs) : schedule == .multistep ? milestones[0] : nil
        if let firstMilestone, warmupEpochs > firstMilestone {
            throw UsageError("--warmup-epochs (\(warmupEpochs)) must end by the schedule's first decay, at epoch \(firstMilestone)")
        }
    }
}

extension TrainingOptions {
    /// Decoding keeps checkpoints written before a field existed readable: a missing newer field
    /// takes its default.
    public init(from decoder: Decoder) throws {
        self.init()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        model = try c.decode(String.self, forKey: .model)
        dataset = try c.decode(DatasetKind.self, forKey: .dataset)
        dataDirectory = try c.decodeIfPresent(String.self, forKey: .dataDirectory)
        epochs = try c.decode(Int.self, forKey: .epochs)
        batchSize = try c.decode(Int.self, forKey: .batchSize)
        optimizer = try c.decode(OptimizerKind.self, forKey: .optimizer)
        learningRate = try c.decode(Float.self, forKey: .learningRate)
        momentum = try c.decode(Float.self, forKey: .momentum)
        nesterov = try c.decode(Bool.self, forKey: .nesterov)
        weightDecay = try c.decode(Float.self, forKey: .weightDecay)
        schedule = try c.decode(LearningRateSchedule.self, forKey: .schedule)
        warmupEpochs = try c.decodeIfPresent(Double.self, forKey: .warmupEpochs) ?? warmupEpochs
        minLearningRate = try c.decodeIfPresent(Float.self, forKey: .minLearningRate) ?? minLearningRate
        milestones = try c.decodeIfPresent([Double].self, forKey: .milestones) ?? milestones
        augment = try c.decode(Bool.self, forKey: .augment)
        shuffle = try c.decode(Bool.self, forKey: .shuffle)
        limit = try c.decodeIfPresent(Int.self, forKey: .limit)
        steps = try c.decodeIfPresent(Int.self, forKey: .steps)
        seed = try c.decode(UInt64.self, forKey: .seed)
        device = try c.decode(DeviceChoice.self, forKey: .device)
        mean = try c.decodeIfPresent([Float].self, forKey: .mean)
        std = try c.decodeIfPresent([Float].self, forKey: .std)
        resize = try c.decodeIfPresent(Int.self, forKey: .resize)
        crop = try c.decodeIfPresent(Int.self, forKey: .crop)
        channels = try c.decodeIfPresent(Int.self, forKey: .channels)
        valSplit = try c.decodeIfPresent(Double.self, forKey: .valSplit)
        normalize = try c.decodeIfPresent(NormalizationPreset.self, forKey: .normalize)
        dropout = try c.decode(Float.self, forKey: .dropout)
        keepBest = try c.decodeIfPresent(Bool.self, forKey: .keepBest) ?? keepBest
        gradientClip = try c.decodeIfPresent(Float.self, forKey: .gradientClip)
        ema = try c.decodeIfPresent(Float.self, forKey: .ema)
        labelSmoothing = try c.decodeIfPresent(Float.self, forKey: .labelSmoothing) ?? labelSmoothing
        freeze = try c.decodeIfPresent(FrozenPart.self, forKey: .freeze) ?? freeze
        syncBatchNorm = try c.decodeIfPresent(Bool.self, forKey: .syncBatchNorm) ?? syncBatchNorm
        initialWeights = try c.decodeIfPresent(String.self, forKey: .initialWeights)
        scheduleEpochs = try c.decodeIfPresent(Int.self, forKey: .scheduleEpochs)
        save = try c.decodeIfPresent(String.self, forKey: .save)
        checkpointEvery = try c.decodeIfPresent(Int.self, forKey: .checkpointEvery)
        logEvery = try c.decodeIfPresent(Int.self, forKey: .logEvery)
    }
}

/// A flag or argument that cannot work, with what to do instead.
public struct UsageError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
