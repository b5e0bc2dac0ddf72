import CLTrainRandom
import CLTrainRuntime

/// A trainable tensor with its gradient, named as in PyTorch's `state_dict`.
public final class Parameter {
    public let name: String
    public let value: Tensor
    /// Accumulated by backward passes; zeroed by the optimizer after each step.
    public let gradient: Tensor
    /// Weight decay applies (PyTorch applies it to every parameter by default).
    public var decays = true
    /// Told once backward has accumulated the whole of this step's gradient (the owning layer
    /// calls `gradientIsFinal()`), so that a data-parallel run can start summing it while the
    /// rest of backward runs; nil: nobody listens.
    public var onGradientFinal: (() throws -> Void)?

    init(name: String, value: Tensor) throws {
        self.name = name
        self.value = value
        self.gradient = try value.device.zeros(value.shape)
    }

    public var shape: [Int] { value.shape }
    public var count: Int { value.count }

    /// Called by the owning layer's backward after its last accumulation into `gradient`.
    public func gradientIsFinal() throws { try onGradientFinal?() }
}

/// A non-trainable tensor of the state, e.g. batch norm's running mean.
public final class Buffer {
    public let name: String
    public let value: Tensor

    init(name: String, value: Tensor) {
        self.name = name
        self.value = value
    }
}

/// Collects a model's state in creation order (which the models keep equal to PyTorch's
/// `state_dict` order) and draws initial values from one seeded generator.
public final class ModelBuilder {
    public let device: Device
    public var random: SeededRandom
    public private(set) var parameters: [Parameter] = []
    public private(set) var buffers: [Buffer] = []
    public private(set) var batchNorms: [BatchNorm2d] = []

    public init(device: Device, seed: UInt64) {
        self.device = device
        self.random = SeededRandom(seed: seed)
    }

    func parameter(_ name: String, shape: [Int], values: [Float]) throws -> Parameter {
        let p = try Parameter(name: name, value: device.tensor(values, shape: shape))
        parameters.append(p)
        return p
    }

    func buffer(_ name: String, shape: [Int], value: Float) throws -> Buffer {
        let b = Buffer(name: name, value: try device.full(shape, value: value))
        buffers.append(b)
        return b
    }

    func register(_ norm: BatchNorm2d) { batchNorms.append(norm) }

    /// `count` draws of N(0, std^2).
    func normal(_ count: Int, std: Float) -> [Float] { (0..<count).map { _ in random.normal() * std } }

    /// `count` draws of U(-bound, bound).
    func uniform(_ count: Int, bound: Float) -> [Float] { random.uniforms(count, -bound, bound) }
}

/// Joins the parts of a state_dict name, skipping empty prefixes.
func join(_ parts: String...) -> String { parts.filter { !$0.isEmpty }.joined(separator: ".") }
