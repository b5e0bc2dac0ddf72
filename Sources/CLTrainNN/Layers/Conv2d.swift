import CLTrainRuntime
import Foundation

/// How a convolution's weights are drawn (He et al. normal, over fan-in or fan-out).
public enum ConvInit {
    /// std = sqrt(2 / (Cin kh kw)): torchvision's DenseNet (`kaiming_normal_`).
    case heFanIn
    /// std = sqrt(2 / (Cout kh kw)): torchvision's ResNet and fyu/drn.
    case heFanOut
}

/// A 2-D convolution (`name.weight` [Cout, Cin, kh, kw], optional `name.bias`).
public final class Conv2d {
    public let weight: Parameter
    public let bias: Parameter?
    public let geometry: Conv2dGeometry
    public let inChannels: Int
    public let outChannels: Int
    private var savedInput: Tensor?
    private var savedInputNorm: BatchNormReLU?

    init(_ builder: ModelBuilder, _ name: String, _ inChannels: Int, _ outChannels: Int, _ geometry: Conv2dGeometry,
         bias hasBias: Bool = false, initialization: ConvInit = .heFanIn) throws {
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.geometry = geometry
        let area = geometry.kernelH * geometry.kernelW
        let fan = Float((initialization == .heFanIn ? inChannels : outChannels) * area)
        let shape = [outChannels, inChannels, geometry.kernelH, geometry.kernelW]
        weight = try builder.parameter(join(name, "weight"), shape: shape,
                                       values: builder.normal(shape.reduce(1, *), std: (2 / fan).squareRoot()))
        // PyTorch's default bias: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
        bias = hasBias ? try builder.parameter(join(name, "bias"), shape: [outChannels],
                                            values: builder.uniform(outChannels, bound: 1 / Float(inChannels * area).squareRoot())) : nil
    }

    public func outputShape(_ input: [Int]) -> [Int] {
        [input[0], outChannels, geometry.outputHeight(input[2]), geometry.outputWidth(input[3])]
    }

    /// Convolve `input`, writing into `output` when given (e.g. a channel slice of a block).
    /// `normalizedBy`: convolve that batch norm + ReLU of `input` instead, applied as the
    /// convolution reads it (see `BatchNorm2d.normalization(of:statistics:)`).
    public func forward(_ input: Tensor, into output: Tensor? = nil, training: Bool, normalizedBy inputNorm: BatchNormReLU? = nil) throws -> Tensor {
        precondition(input.rank == 4 && input.c == inChannels, "conv \(weight.name): input \(input.shape), expected \(inChannels) channels")
        let out = try output ?? input.device.makeTensor(outputShape(input.shape))
        try input.device.backend.conv2dForward(input: input, weight: weight.value, bias: bias?.value, output: out, geometry: geometry,
                                               inputNorm: inputNorm)
        savedInput = training ? input : nil
        savedInputNorm = training ? inputNorm : nil
        return out
    }

    /// Accumulate the weight (and bias) gradients and return the input gradient, written into
    /// `gradInput` when given (added to it when `accumulate`).
    @discardableResult
    public func backward(_ gradOutput: Tensor, into gradInput: Tensor? = nil, accumulate: Bool = false) throws -> Tensor {
        let (input, inputNorm) = takeSaved()
        // The input gradient first: the weight gradient then reads the input, which the layer
        // before (a batch norm's backward, as in DenseNet) reads next, while it may still be cached.
        let gx = try gradInput ?? input.device.makeTensor(input.shape)
        try input.device.backend.conv2dBackwardData(gradOutput: gradOutput, weight: weight.value, gradInput: gx, geometry: geometry,
                                                    accumulate: gradInput != nil && accumulate)
        try accumulateParameterGradients(gradOutput, input: input, inputNorm: inputNorm)
        return gx
    }

    /// `backward` of a convolution that read `norm`'s BN-ReLU of its input (`forward(...,
    /// normalizedBy:)`), the input gradient carried on through `norm` into `gradInput` (added)
    /// in the same pass where the backend can (`BatchNorm2d.backward(fromConvolution:...)`).
    /// Returns whether part of it was left in `deferring` for the caller to apply.
    public func backward(_ gradOutput: Tensor, through norm: BatchNorm2d, addingInto gradInput: Tensor,
                         deferring: DeferredNormGradient) throws -> Bool {
        let (input, inputNorm) = takeSaved()
        let deferred = try norm.backward(fromConvolution: weight.value, geometry: geometry, gradOutput: gradOutput, addingInto: gradInput,
                                         deferring: deferring)
        try accumulateParameterGradients(gradOutput, input: input, inputNorm: inputNorm)
        return deferred
    }

    /// Accumulate the weight (and bias) gradients alone: the first layer of a network, whose
    /// input needs no gradient.
    public func backwardParameters(_ gradOutput: Tensor) throws {
        let (input, inputNorm) = takeSaved()
        try accumulateParameterGradients(gradOutput, input: input, inputNorm: inputNorm)
    }

    private func takeSaved() -> (Tensor, BatchNormReLU?) {
        guard let input = savedInput else { preconditionFailure("conv \(weight.name): backward without a training forward") }
        let inputNorm = savedInputNorm
        release()
        return (input, inputNorm)
    }

    private func accumulateParameterGradients(_ gradOutput: Tensor, input: Tensor, inputNorm: BatchNormReLU?) throws {
        try input.device.backend.conv2dBackwardWeight(input: input, gradOutput: gradOutput, gradWeight: weight.gradient,
                                                      gradBias: bias?.gradient, geometry: geometry, inputNorm: inputNorm)
        try weight.gradientIsFinal()
        try bias?.gradientIsFinal()
    }

    /// Forget what the last forward kept.
    public func release() {
        savedInput = nil
        savedInputNorm = nil
    }
}
