import CLTrainRuntime

/// Max pooling; keeps its input for the backward pass.
public final class MaxPool2d {
    public let geometry: Pool2dGeometry
    private var savedInput: Tensor?

    public init(_ geometry: Pool2dGeometry) { self.geometry = geometry }

    public func forward(_ input: Tensor, training: Bool) throws -> Tensor {
        let output = try input.device.makeTensor([input.n, input.c, geometry.outputHeight(input.h), geometry.outputWidth(input.w)])
        try input.device.backend.maxPool2dForward(input: input, output: output, geometry: geometry)
        savedInput = training ? input : nil
        return output
    }

    public func backward(_ gradOutput: Tensor) throws -> Tensor {
        guard let input = savedInput else { preconditionFailure("max pool: backward without a training forward") }
        savedInput = nil
        let gradInput = try input.device.makeTensor(input.shape)
        try input.device.backend.maxPool2dBackward(input: input, gradOutput: gradOutput, gradInput: gradInput,
                                                   geometry: geometry, accumulate: false)
        return gradInput
    }

    public func release() { savedInput = nil }
}

/// Average pooling (padding counts in the divisor, as PyTorch's default).
public final class AvgPool2d {
    public let geometry: Pool2dGeometry
    private var inputShape: [Int]?

    public init(_ geometry: Pool2dGeometry) { self.geometry = geometry }

    public func forward(_ input: Tensor, into output: Tensor? = nil, training: Bool) throws -> Tensor {
        let out = try output ?? input.device.makeTensor([input.n, input.c, geometry.outputHeight(input.h), geometry.outputWidth(input.w)])
        try input.device.backend.avgPool2dForward(input: input, output: out, geometry: geometry)
        inputShape = input.shape
        return out
    }

    public func backward(_ gradOutput: Tensor) throws -> Tensor {
        guard let shape = inputShape else { preconditionFailure("avg pool: backward without a forward") }
        let gradInput = try gradOutput.device.makeTensor(shape)
        try gradOutput.device.backend.avgPool2dBackward(gradOutput: gradOutput, gradInput: gradInput, geometry: geometry, accumulate: false)
        return gradInput
    }
}

/// Global average pooling to N x C.
public final class GlobalAvgPool {
    private var inputShape: [Int]?

    public init() {}

    public func forward(_ input: Tensor) throws -> Tensor {
        let output = try input.device.makeTensor([input.n, input.c])
        try input.device.backend.globalAvgPoolForward(input: input, output: output)
        inputShape = input.shape
        return output
    }

    public func backward(_ gradOutput: Tensor) throws -> Tensor {
        guard let shape = inputShape else { preconditionFailure("global avg pool: backward without a forward") }
        let gradInput = try gradOutput.device.makeTensor(shape)
        try gradOutput.device.backend.globalAvgPoolBackward(gradOutput: gradOutput, gradInput: gradInput, accumulate: false)
        return gradInput
    }
}

/// ReLU in place; keeps its output (the mask) for the backward pass.
public final class ReLU {
    private var savedOutput: Tensor?

    public init() {}

    /// Rectify `x` in place and return it.
    public func forward(_ x: Tensor, training: Bool) throws -> Tensor {
        try x.device.backend.reluForward(input: x, output: x)
        savedOutput = training ? x : nil
        return x
    }

    /// The input gradient, computed in place in `gradOutput`.
    public func backward(_ gradOutput: Tensor) throws -> Tensor {
        guard let output = savedOutput else { preconditionFailure("relu: backward without a training forward") }
        savedOutput = nil
        try gradOutput.device.backend.reluBackward(output: output, gradOutput: gradOutput, gradInput: gradOutput, accumulate: false)
        return gradOutput
    }

    public func release() { savedOutput = nil }
}
