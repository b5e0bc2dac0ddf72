import CLTrainNN
import CLTrainRandom
import CLTrainRuntime

/// One optimizer step: the model's forward in training mode, the loss, the backward pass and the
/// update. The Trainer runs it on every batch; `cltrain bench train` and Benchmarks/ time it on
/// synthetic data, so all three measure and run the same step.
public final class TrainingStep {
    public let model: Model
    public let optimizer: Optimizer
    public let criterion: SoftmaxCrossEntropy
    /// The part of the model that does not train: with `.features`, they run in inference mode
    /// and the backward pass stops at the head.
    public let freeze: FrozenPart
    /// The parameters the step updates (and clips): all, or the classifier's with the features frozen.
    public let trainableParameters: [Parameter]
    /// Scale the gradients so that their global L2 norm is at most this before the update
    /// (`torch.nn.utils.clip_grad_norm_`); nil: no clipping.
    public var gradientClip: Float?
    /// The gradients' global L2 norm before clipping, of the last step (when clipping).
    public private(set) var lastGradientNorm: Double?
    /// One rank's part in a data-parallel run: the batch's loss is agreed over the ranks before
    /// backward and the gradients averaged after it (nil: one process).
    public var dataParallel: DataParallel?
    /// Images in the last call's global batch (the batch itself in one process).
    public private(set) var lastGlobalImages = 0
    /// True from the moment the last call began to update the weights: when that call threw,
    /// the weights and the optimizer's buffers may be half-updated.
    public private(set) var updateBegan = false

    /// `optimizer` must update `freeze.trainableParameters(of: model)`.
    public init(model: Model, optimizer: Optimizer, gradientClip: Float? = nil, labelSmoothing: Float = 0, freeze: FrozenPart = .none) {
        self.model = model
        self.optimizer = optimizer
        self.gradientClip = gradientClip
        self.freeze = freeze
        trainableParameters = freeze.trainableParameters(of: model)
        criterion = SoftmaxCrossEntropy(labelSmoothing: labelSmoothing)
    }

    /// The step of `options`' recipe (its optimizer and settings) for `model`.
    public convenience init(model: Model, options: TrainingOptions) throws {
        self.init(model: model, optimizer: try options.makeOptimizer(options.freeze.trainableParameters(of: model)),
                  gradientClip: options.gradientClip, labelSmoothing: options.labelSmoothing, freeze: options.freeze)
    }

    /// The training forward: the logits of `input`, keeping what `backward` needs. Frozen
    /// features run in inference mode (their batch norms use their running statistics and leave
    /// them as they are) and keep nothing.
    public func forward(_ input: Tensor) throws -> Tensor {
        switch freeze {
        case .none: return try model.forward(input, training: true)
        case .features: return try model.head(model.features(input, training: false), training: true)
        }
    }

    /// The training backward from the logits' gradient: the whole model's, or the head's alone
    /// when the features are frozen (they make no gradient work).
    public func backward(_ gradLogits: Tensor) throws {
        switch freeze {
        case .none: try model.backward(gradLogits)
        case .features: _ = try model.headBackward(gradLogits)
        }
    }

    /// Forward `input` [N, C, H, W] against `labels` [N]; when `accept` takes the loss, backward
    /// and update. Returns the forward's result either way (a rejected step leaves the weights as
    /// they were). In a data-parallel run `input` is this rank's share of the global batch, and
    /// the result (loss, correct count) is the global batch's.
    @discardableResult
    public func callAsFunction(_ input: Tensor, labels: Tensor,
                               accept: (SoftmaxCrossEntropy.Result) throws -> Void = { _ in }) throws -> SoftmaxCrossEntropy.Result {
        updateBegan = false
        var result = try criterion.forward(forward(input), labels: labels)
        let images = input.shape[0]
        // Rank r's mean loss weighs ranks x n_r / B (`BatchShard.lossWeight`), so that the average
        // of the ranks' gradients is the gradient of the global batch's mean loss.
        var lossWeight: Float = 1
        if let dataParallel {
            let global = try dataParallel.reduceStep(result, images: images)
            result = global.result
            lastGlobalImages = global.images
            lossWeight = Float(dataParallel.ranks * images) / Float(max(global.images, 1))
        } else {
            lastGlobalImages = images
        }
        try accept(result)
        dataParallel?.beginBackward()
        try backward(criterion.backward(weight: lossWeight))
        try dataParallel?.averageGradients()
        if let gradientClip { lastGradientNorm = try Self.clipGradients(trainableParameters, maxNorm: gradientClip) }
        updateBegan = true
        try optimizer.step()
        return result
    }

    /// `torch.nn.utils.clip_grad_norm_`: every gradient times min(1, maxNorm / (norm + 1e-6)),
    /// where norm is the L2 norm of all gradients together; returns that norm. The norm is summed
    /// on the host (the backends have no reduction op yet: one read of the gradients per step);
    /// the scaling is the backend's axpy (g += (c - 1) g), skipped when c is 1.
    @discardableResult
    public static func clipGradients(_ parameters: [Parameter], maxNorm: Float) throws -> Double {
        var sumOfSquares = 0.0
        for p in parameters {
            for g in try p.value.device.read(p.gradient) { sumOfSquares += Double(g) * Double(g) }
        }
        let norm = sumOfSquares.squareRoot()
        let coefficient = Float(Double(maxNorm) / (norm + 1e-6))
        if coefficient < 1 {
            for p in parameters { try p.value.device.backend.axpy(alpha: coefficient - 1, x: p.gradient, y: p.gradient) }
        }
        return norm
    }
}

extension TrainingOptions {
    /// The optimizer these options choose, over `parameters`.
    public func makeOptimizer(_ parameters: [Parameter]) throws -> Optimizer {
        switch optimizer {
        case .sgd:
            return try SGD(parameters: parameters, learningRate: learningRate, momentum: momentum, weightDecay: weightDecay,
                           nesterov: nesterov)
        case .adam:
            return try Adam(parameters: parameters, learningRate: learningRate, weightDecay: weightDecay)
        case .adamw:
            return try Adam(parameters: parameters, learningRate: learningRate, weightDecay: weightDecay, decoupled: true)
        }
    }
}

/// A catalogue model's training step on one seeded random batch of a run's shape: what
/// `cltrain tune` and `cltrain bench train` run (the recipe's optimizer, at a rate that keeps
/// random data finite), so both meet the shapes a run meets.
public struct SyntheticTrainingStep {
    public let model: Model
    public let step: TrainingStep
    public let input: Tensor
    public let labels: Tensor

    /// `name` (see `cltrain models`) on `batchSize` images of `channels` x `height` x `width` and
    /// `classes` classes, on `device`; the input is allocated first, so a batch too large for the
    /// device fails here with a clear error.
    public init(model name: String, batchSize: Int, channels: Int, height: Int, width: Int, classes: Int, device: Device,
                freeze: FrozenPart = .none) throws {
        guard let entry = ModelCatalog.entry(named: name) else {
            throw UsageError("unknown model '\(name)': see `cltrain models` for the list")
        }
        guard batchSize > 0, channels > 0, height > 0, width > 0, classes > 1 else {
            throw UsageError("batch size, channels and input size must be at least 1, classes at least 2")
        }
        try entry.checkInputSize(height: height, width: width) { "use --size \($0)" }
        var random = SeededRandom(seed: 1)
        input = try device.makeTensor([batchSize, channels, height, width])
        try device.write(random.uniforms(input.count), to: input)
        labels = try device.tensor((0..<batchSize).map { Float($0 % classes) }, shape: [batchSize])
        model = try entry.make(inputChannels: channels, classes: classes, device: device, seed: 0)
        var recipe = TrainingOptions()
        recipe.learningRate = 0.01
        recipe.freeze = freeze
        step = try TrainingStep(model: model, options: recipe)
    }

    /// One forward, loss, backward and update (enqueued; synchronise to wait for it).
    public func callAsFunction() throws { try step(input, labels: labels) }
}
