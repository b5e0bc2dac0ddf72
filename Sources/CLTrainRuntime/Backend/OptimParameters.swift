/// Hyper-parameters of one SGD step (PyTorch's `torch.optim.SGD` semantics, dampening 0).
public struct SGDParameters: Sendable {
    public var learningRate: Float
    public var momentum: Float
    public var weightDecay: Float
    public var nesterov: Bool

    public init(learningRate: Float, momentum: Float = 0.9, weightDecay: Float = 1e-4, nesterov: Bool = true) {
        self.learningRate = learningRate
        self.momentum = momentum
        self.weightDecay = weightDecay
        self.nesterov = nesterov
    }
}

/// Hyper-parameters of one Adam step (PyTorch's `torch.optim.Adam`, L2 weight decay).
public struct AdamParameters: Sendable {
    public var learningRate: Float
    public var beta1: Float
    public var beta2: Float
    public var epsilon: Float
    public var weightDecay: Float
    /// The step number, starting at 1, for bias correction.
    public var step: Int

    public init(learningRate: Float, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8, weightDecay: Float = 0, step: Int) {
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        self.step = step
    }
}
