import CLTrainRuntime

/// A fully connected layer (`name.weight` [out, in], `name.bias` [out]), initialised like
/// PyTorch's `nn.Linear` (U(-1/sqrt(in), 1/sqrt(in)) for both), the bias optionally zero.
public final class Linear {
    public let weight: Parameter
    public let bias: Parameter?
    public let inFeatures: Int
    public let outFeatures: Int
    private var savedInput: Tensor?

    init(_ builder: ModelBuilder, _ name: String, _ inFeatures: Int, _ outFeatures: Int, bias: Bool = true, zeroBias: Bool = false) throws {
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        let bound = 1 / Float(inFeatures).squareRoot()
        weight = try builder.parameter(join(name, "weight"), shape: [outFeatures, inFeatures],
                                       values: builder.uniform(outFeatures * inFeatures, bound: bound))
        let biasValues = zeroBias ? [Float](repeating: 0, count: outFeatures) : builder.uniform(outFeatures, bound: bound)
        self.bias = bias ? try builder.parameter(join(name, "bias"), shape: [outFeatures], values: biasValues) : nil
    }

    public func forward(_ input: Tensor, training: Bool) throws -> Tensor {
        precondition(input.rank == 2 && input.shape[1] == inFeatures, "\(weight.name): input \(input.shape), expected N x \(inFeatures)")
        let output = try input.device.makeTensor([input.shape[0], outFeatures])
        try input.device.backend.linearForward(input: input, weight: weight.value, bias: bias?.value, output: output)
        savedInput = training ? input : nil
        return output
    }

    @discardableResult
    public func backward(_ gradOutput: Tensor) throws -> Tensor {
        guard let input = savedInput else { preconditionFailure("\(weight.name): backward without a training forward") }
        savedInput = nil
        let backend = input.device.backend
        try backend.linearBackwardWeight(input: input, gradOutput: gradOutput, gradWeight: weight.gradient, gradBias: bias?.gradient)
        try weight.gradientIsFinal()
        try bias?.gradientIsFinal()
        let gradInput = try input.device.makeTensor(input.shape)
        try backend.linearBackwardData(gradOutput: gradOutput, weight: weight.value, gradInput: gradInput, accumulate: false)
        return gradInput
    }

    public func release() { savedInput = nil }
}
