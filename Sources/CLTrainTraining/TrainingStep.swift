import CLTrainNN
import CLTrainRuntime

/// One optimizer step: the model's forward in training mode, the loss, the backward pass and the
/// update. The Trainer runs it on every batch; `cltrain bench train` and Benchmarks/ time it on
/// synthetic data, so all three measure and run the same step.
public final class TrainingStep {
    public let model: Model
    public let optimizer: Optimizer
    let criterion = SoftmaxCrossEntropy()

    public init(model: Model, optimizer: Optimizer) {
        self.model = model
        self.optimizer = optimizer
    }

    /// The step of `options`' recipe (its optimizer and settings) for `model`.
    public convenience init(model: Model, options: TrainingOptions) throws {
        self.init(model: model, optimizer: try options.makeOptimizer(model.parameters))
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
        try optimizer.step()
        return result
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
