import CLTrainNN
import CLTrainRuntime

/// An exponential moving average of a model's parameters (timm's ModelEmaV2 without warm-up):
/// after every step `ema = decay * ema + (1 - decay) * w`. Buffers (BN running statistics) are
/// not averaged: the averaged model uses the model's own, as timm's ModelEmaV3 copies them. The
/// average lives beside the model; `withAveragedWeights` puts it in the model's place while a
/// closure evaluates or saves it.
public final class ModelEMA {
    public let decay: Float
    let parameters: [Parameter]
    let averages: [Tensor]

    /// Starts as a copy of `model`'s parameters (or of `parameters`, e.g. the ones that train:
    /// a frozen parameter's average is itself).
    public init(_ model: Model, parameters: [Parameter]? = nil, decay: Float) throws {
        self.decay = decay
        self.parameters = parameters ?? model.parameters
        averages = try self.parameters.map { try Self.duplicate($0.value) }
    }

    /// Fold the model's current parameters in: ema += (decay - 1) ema, then ema += (1 - decay) w,
    /// with the backend's axpy (no kernel of its own).
    public func update() throws {
        for (p, average) in zip(parameters, averages) {
            let backend = p.value.device.backend
            try backend.axpy(alpha: decay - 1, x: average, y: average)
            try backend.axpy(alpha: 1 - decay, x: p.value, y: average)
        }
    }

    /// Run `body` with the averaged parameters in the model, then put the model's own back (also
    /// when `body` throws).
    public func withAveragedWeights<T>(_ body: () throws -> T) throws -> T {
        let saved = try parameters.map { try Self.duplicate($0.value) }
        try Self.copy(averages, into: parameters.map(\.value))
        defer { try? Self.copy(saved, into: parameters.map(\.value)) }
        return try body()
    }

    /// A new tensor holding `tensor`'s values.
    private static func duplicate(_ tensor: Tensor) throws -> Tensor {
        let copy = try tensor.device.makeTensor(tensor.shape)
        try Self.copy([tensor], into: [copy])
        return copy
    }

    /// Each source's values into its destination, on the device (0, then + 1 x source: exact).
    private static func copy(_ sources: [Tensor], into destinations: [Tensor]) throws {
        for (source, destination) in zip(sources, destinations) {
            let backend = destination.device.backend
            try backend.fill(destination, value: 0)
            try backend.axpy(alpha: 1, x: source, y: destination)
        }
    }

    /// The averages by name (`<parameter>`), for checkpoints (stored as `ema.<parameter>`).
    public var state: [(name: String, tensor: Tensor)] {
        zip(parameters, averages).map { ($0.name, $1) }
    }
}
