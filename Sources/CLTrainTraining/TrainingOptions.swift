import CLTrainData
import CLTrainNN
import CLTrainRuntime

/// Which optimizer a run uses.
public enum OptimizerKind: String, Codable, CaseIterable, Sendable {
    case sgd, adam
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
    /// Resize images to N x N before augmentation.
    public var resize: Int?
    /// Dropout rate after each dense layer (DenseNet models only).
    public var dropout: Float = 0

    public init() {}

    /// Check the values a user can get wrong; each error is one line saying what to do.
    public func validate() throws {
        guard epochs > 0 else { throw UsageError("--epochs must be at least 1 (got \(epochs))") }
        guard batchSize > 0 else { throw UsageError("--batch-size must be at least 1 (got \(batchSize))") }
        guard learningRate.isFinite, learningRate > 0 else { throw UsageError("--lr must be a positive number (got \(learningRate))") }
        guard momentum.isFinite, momentum >= 0, momentum < 1 else { throw UsageError("--momentum must be in [0, 1) (got \(momentum))") }
        guard weightDecay.isFinite, weightDecay >= 0 else { throw UsageError("--weight-decay must be zero or positive (got \(weightDecay))") }
        if let limit, limit <= 0 { throw UsageError("--limit must be at least 1 (got \(limit))") }
        if let steps, steps <= 0 { throw UsageError("--steps must be at least 1 (got \(steps))") }
        if let resize, resize < 8 { throw UsageError("--resize must be at least 8 pixels (got \(resize))") }
        guard dropout.isFinite, dropout >= 0, dropout < 1 else { throw UsageError("--dropout must be in [0, 1) (got \(dropout))") }
        if (mean == nil) != (std == nil) { throw UsageError("--mean and --std go together: give both, one value per channel") }
        guard let entry = ModelCatalog.entry(named: model) else {
            throw UsageError("unknown model '\(model)': see `cltrain models` for the list")
        }
        if dropout > 0, !entry.takesDropout {
            throw UsageError("--dropout applies to DenseNet models (torchvision's drop_rate); \(model) has no dropout")
        }
    }
}

/// A flag or argument that cannot work, with what to do instead.
public struct UsageError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
