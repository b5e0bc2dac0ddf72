import CLTrainNN
import CLTrainRuntime

/// Updates every parameter from its gradient, then zeroes the gradients.
public protocol Optimizer: AnyObject {
    var learningRate: Float { get set }
    /// Steps taken so far (set when a checkpoint is restored: Adam's bias correction uses it).
    var steps: Int { get set }
    func step() throws
    /// The optimizer's tensors by name (`<parameter>.momentum_buffer`, `.exp_avg`, `.exp_avg_sq`),
    /// for checkpoints.
    var state: [(name: String, tensor: Tensor)] { get }
}

/// SGD with momentum, optional Nesterov, and L2 weight decay (PyTorch's `torch.optim.SGD`).
public final class SGD: Optimizer {
    public var learningRate: Float
    public let momentum: Float
    public let weightDecay: Float
    public let nesterov: Bool
    public var steps = 0
    private let parameters: [Parameter]
    private let buffers: [Tensor]

    public init(parameters: [Parameter], learningRate: Float, momentum: Float, weightDecay: Float, nesterov: Bool) throws {
        self.parameters = parameters
        self.learningRate = learningRate
        self.momentum = momentum
        self.weightDecay = weightDecay
        self.nesterov = nesterov
        buffers = try parameters.map { try $0.value.device.zeros($0.shape) }
    }

    public func step() throws {
        for (p, buffer) in zip(parameters, buffers) {
            let hyper = SGDParameters(learningRate: learningRate, momentum: momentum, weightDecay: p.decays ? weightDecay : 0,
                                      nesterov: nesterov)
            let backend = p.value.device.backend
            try backend.sgdUpdate(parameter: p.value, gradient: p.gradient, momentumBuffer: buffer, hyper: hyper)
            try backend.fill(p.gradient, value: 0)
        }
        steps += 1
    }

    public var state: [(name: String, tensor: Tensor)] {
        zip(parameters, buffers).map { ("\($0.name).momentum_buffer", $1) }
    }
}

/// Adam with L2 weight decay (PyTorch's `torch.optim.Adam`), or with decoupled weight decay
/// (`torch.optim.AdamW`: `p -= lr * wd * p` before the Adam step, which then has no L2 term).
public final class Adam: Optimizer {
    public var learningRate: Float
    public let beta1: Float
    public let beta2: Float
    public let epsilon: Float
    public let weightDecay: Float
    /// AdamW: the decay shrinks the weights directly instead of entering the gradient.
    public let decoupled: Bool
    public var steps = 0
    private let parameters: [Parameter]
    private let moments: [(first: Tensor, second: Tensor)]

    public init(parameters: [Parameter], learningRate: Float, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8,
                weightDecay: Float = 0, decoupled: Bool = false) throws {
        self.parameters = parameters
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        self.decoupled = decoupled
        moments = try parameters.map { (try $0.value.device.zeros($0.shape), try $0.value.device.zeros($0.shape)) }
    }

    public func step() throws {
        steps += 1
        for (p, m) in zip(parameters, moments) {
            let decay = p.decays ? weightDecay : 0
            let hyper = AdamParameters(learningRate: learningRate, beta1: beta1, beta2: beta2, epsilon: epsilon,
                                       weightDecay: decoupled ? 0 : decay, step: steps)
            let backend = p.value.device.backend
            // AdamW's p *= 1 - lr * wd, as p += (-lr * wd) * p: an existing op, no kernel of its own.
            if decoupled, decay > 0 { try backend.axpy(alpha: -learningRate * decay, x: p.value, y: p.value) }
            try backend.adamUpdate(parameter: p.value, gradient: p.gradient, firstMoment: m.first, secondMoment: m.second, hyper: hyper)
            try backend.fill(p.gradient, value: 0)
        }
    }

    public var state: [(name: String, tensor: Tensor)] {
        zip(parameters, moments).flatMap { [("\($0.name).exp_avg", $1.first), ("\($0.name).exp_avg_sq", $1.second)] }
    }
}
