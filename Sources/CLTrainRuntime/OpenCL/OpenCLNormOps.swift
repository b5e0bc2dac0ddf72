// Launch code of Kernels/norm.cl (batch normalisation; ReLU lives in elementwise.cl).
import CLTrainKernels

extension OpenCLBackend {
    /// (N, C, P = H*W) of an NCHW tensor (or N x C, P = 1).
    private static func channelLayout(_ t: Tensor) -> (n: Int, c: Int, p: Int) {
        precondition(t.rank >= 2 && t.isSampleContiguous, "batch norm needs an N x C x ... tensor, got \(t.shape)")
        return (t.shape[0], t.shape[1], t.shape.dropFirst(2).reduce(1, *))
    }

    public func batchNormStatistics(input: Tensor, mean: Tensor, invStd: Tensor, unbiasedVariance: Tensor, epsilon: Float) throws {
        let (n, c, p) = Self.channelLayout(input)
        precondition(n * p > 1, "batch norm statistics need more than one value per channel, input \(input.shape)")
        let group = reductionGroupSize
        try launch(.norm, "batch_norm_statistics", global: [c * group], local: [group],
                   Self.args(Self.strided(input), [.tensor(mean), .tensor(invStd), .tensor(unbiasedVariance),
                                          .int(n), .int(c), .int(p), .float(epsilon), .localFloats(group)]))
    }

    /// `output = (input - mean) * invStd * weight + bias` (then `max(0, ·)` with `relu`), element-wise.
    public func batchNormApply(input: Tensor, output: Tensor, mean: Tensor, invStd: Tensor, weight: Tensor, bias: Tensor, relu: Bool) throws {
        precondition(input.shape == output.shape, "batch norm of \(input.shape) into \(output.shape)")
        let (n, c, p) = Self.channelLayout(input)
        try launchElements(.norm, "batch_norm_apply", count: n * c * p,
                           Self.args(Self.strided(input), Self.strided(output), [.tensor(mean), .tensor(invStd), .tensor(weight), .tensor(bias), .int(n), .int(c), .int(p), .int(relu ? 1 : 0)]))
    }

    /// One work-group per channel: the statistics, the running update, then the channel normalised.
    public func batchNormForwardTraining(input: Tensor, output: Tensor, weight: Tensor, bias: Tensor,
                                         runningMean: Tensor, runningVar: Tensor, saveMean: Tensor, saveInvStd: Tensor,
                                         momentum: Float, epsilon: Float, relu: Bool) throws {
        precondition(input.shape == output.shape, "batch norm of \(input.shape) into \(output.shape)")
        let (n, c, p) = Self.channelLayout(input)
        let group = reductionGroupSize
        try launch(.norm, "batch_norm_forward_training", global: [c * group], local: [group],
                   Self.args(Self.strided(input), Self.strided(output),
                             [.tensor(weight), .tensor(bias), .tensor(saveMean), .tensor(saveInvStd), .tensor(runningMean), .tensor(runningVar),
                              .int(n), .int(c), .int(p), .float(momentum), .float(epsilon), .int(relu ? 1 : 0), .localFloats(group)]))
    }

    public func batchNormForwardInference(input: Tensor, output: Tensor, weight: Tensor, bias: Tensor,
                                          runningMean: Tensor, runningVar: Tensor, epsilon: Float, relu: Bool) throws {
        precondition(input.shape == output.shape, "batch norm of \(input.shape) into \(output.shape)")
        let (n, c, p) = Self.channelLayout(input)
        try launchElements(.norm, "batch_norm_forward_inference", count: n * c * p,
                           Self.args(Self.strided(input), Self.strided(output), [.tensor(runningMean), .tensor(runningVar), .tensor(weight), .tensor(bias),
                              .int(n), .int(c), .int(p), .float(epsilon), .int(relu ? 1 : 0)]))
    }

    /// The mask arguments of the backward kernels: the saved ReLU output (or a placeholder), the
    /// kernels' `masked` mode (0 none, 1 read the output, 2 find it from the input) and the bias.
    static func maskArguments(_ relu: ReLUMask?, placeholder: Tensor) -> (output: [KernelArgument], mode: Int, bias: Tensor) {
        switch relu {
        case nil: return (strided(placeholder), 0, placeholder)
        case .output(let output): return (strided(output), 1, placeholder)
        case .input(let bias): return (strided(placeholder), 2, bias)
        }
    }

    /// One work-group per channel: Σdy and Σdy·xhat (`gradBias += Σdy`, `gradWeight += Σdy·xhat`),
    /// then `gradInput (+)= weight * invStd / M * (M * dy - Σdy - xhat * Σdy·xhat)` for the channel.
    public func batchNormBackward(input: Tensor, gradOutput: Tensor, gradInput: Tensor, weight: Tensor,
                                  saveMean: Tensor, saveInvStd: Tensor, gradWeight: Tensor, gradBias: Tensor, relu: ReLUMask?,
                                  accumulate: Bool) throws {
        precondition(input.shape == gradOutput.shape && input.shape == gradInput.shape, "batch norm backward shapes differ")
        switch relu {
        case .output(let output): precondition(output.shape == input.shape, "batch norm backward: ReLU output of another shape")
        case .input(let bias): precondition(bias.count == input.shape[1], "batch norm backward: bias of \(bias.count) channels")
        case nil: break
        }
        let (n, c, p) = Self.channelLayout(input)
        let group = reductionGroupSize
        let mask = Self.maskArguments(relu, placeholder: gradOutput)
        try launch(.norm, "batch_norm_backward", global: [c * group], local: [group],
                   Self.args(Self.strided(input), Self.strided(gradOutput), mask.output,
                             [.int(mask.mode), .tensor(mask.bias)], Self.strided(gradInput),
                             [.tensor(weight), .tensor(saveMean), .tensor(saveInvStd), .tensor(gradWeight), .tensor(gradBias),
                              .int(n), .int(c), .int(p), .int(accumulate ? 1 : 0), .localFloats(group)]))
    }
}
