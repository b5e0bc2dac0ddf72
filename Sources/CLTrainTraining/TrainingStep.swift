import CLTrainNN
import CLTrainRuntime

/// One optimizer step: the model's forward in training mode, the loss, the backward pass and the
/// update. The Trainer runs it on every batch; `cltrain bench train` and Benchmarks/ time it on
/// synthetic data, so all three measure and run the same step.
public final class TrainingStep {
    public let model: Model
    public let optimizer: Optimizer
    public let criterion: SoftmaxCrossEntropy
    /// Scale the gradients so that their global L2 norm is at most this before the update
    /// (`torch.nn.utils.clip_grad_norm_`); nil: no clipping.
    public var gradientClip: Float?
    /// The gradients' global L2 norm before clipping, of the last step (when clipping).
    public private(set) var lastGradientNorm: Double?

    public init(model: Model, optimizer: Optimizer, gradientClip: Float? = nil, labelSmoothing: Float = 0) {
        self.model = model
        self.optimizer = optimizer
        self.gradientClip = gradientClip
        criterion = SoftmaxCrossEntropy(labelSmoothing: labelSmoothing)
    }

    /// The step of `options`' recipe (its optimizer and settings) for `model`.
    public convenience init(model: Model, options: TrainingOptions) throws {
        self.init(model: model, optimizer: try options.makeOptimizer(model.parameters), gradientClip: options.gradientClip,
                  labelSmoothing: options.labelSmoothing)
    }

    /// Forward `input` [N, C, H, W] against `labels` [N]; when `accept` takes the loss, backward
    /// and update. Returns the forward's result either way (a rejected step leaves the weights as
    /// they were).
    @discardableResult
    public func callAsFunction(_ input: Tensor, labels: Tensor,
                               accept: (SoftmaxCrossEntropy.Result) throws -> Void = { _ in }) throws -> SoftmaxCrossEntropy.Result {
        let result = try criterion.forward(model.forward(input, training: true), labels: labels)
        try accept(result)
        try model.backward(criterion.backward())
        if let gradientClip { lastGradientNorm = try Self.clipGradients(model.parameters, maxNorm: gradientClip) }
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
