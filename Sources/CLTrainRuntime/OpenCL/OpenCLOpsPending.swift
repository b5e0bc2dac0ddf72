// Temporary: the OpenCL ops land with the kernels.

extension OpenCLBackend: Backend {
    public func fill(_ tensor: Tensor, value: Float) throws { throw OpenCLError("fill (not yet implemented)", -59) }
    public func add(_ a: Tensor, _ b: Tensor, output: Tensor) throws { throw OpenCLError("add (not yet implemented)", -59) }
    public func axpy(alpha: Float, x: Tensor, y: Tensor) throws { throw OpenCLError("axpy (not yet implemented)", -59) }
    public func channelCopy(from source: Tensor, to destination: Tensor, accumulate: Bool) throws { throw OpenCLError("channelCopy (not yet implemented)", -59) }
    public func conv2dForward(input: Tensor, weight: Tensor, bias: Tensor?, output: Tensor, geometry: Conv2dGeometry) throws { throw OpenCLError("conv2dForward (not yet implemented)", -59) }
    public func conv2dBackwardData(gradOutput: Tensor, weight: Tensor, gradInput: Tensor, geometry: Conv2dGeometry, accumulate: Bool) throws { throw OpenCLError("conv2dBackwardData (not yet implemented)", -59) }
    public func conv2dBackwardWeight(input: Tensor, gradOutput: Tensor, gradWeight: Tensor, gradBias: Tensor?, geometry: Conv2dGeometry) throws { throw OpenCLError("conv2dBackwardWeight (not yet implemented)", -59) }
    public func maxPool2dForward(input: Tensor, output: Tensor, geometry: Pool2dGeometry) throws { throw OpenCLError("maxPool2dForward (not yet implemented)", -59) }
    public func maxPool2dBackward(input: Tensor, gradOutput: Tensor, gradInput: Tensor, geometry: Pool2dGeometry, accumulate: Bool) throws { throw OpenCLError("maxPool2dBackward (not yet implemented)", -59) }
    public func avgPool2dForward(input: Tensor, output: Tensor, geometry: Pool2dGeometry) throws { throw OpenCLError("avgPool2dForward (not yet implemented)", -59) }
    public func avgPool2dBackward(gradOutput: Tensor, gradInput: Tensor, geometry: Pool2dGeometry, accumulate: Bool) throws { throw OpenCLError("avgPool2dBackward (not yet implemented)", -59) }
    public func globalAvgPoolForward(input: Tensor, output: Tensor) throws { throw OpenCLError("globalAvgPoolForward (not yet implemented)", -59) }
    public func globalAvgPoolBackward(gradOutput: Tensor, gradInput: Tensor, accumulate: Bool) throws { throw OpenCLError("globalAvgPoolBackward (not yet implemented)", -59) }
    public func batchNormForwardTraining(input: Tensor, output: Tensor, weight: Tensor, bias: Tensor,
                                  runningMean: Tensor, runningVar: Tensor, saveMean: Tensor, saveInvStd: Tensor,
                                  momentum: Float, epsilon: Float) throws { throw OpenCLError("batchNormForwardTraining (not yet implemented)", -59) }
    public func batchNormForwardInference(input: Tensor, output: Tensor, weight: Tensor, bias: Tensor,
                                   runningMean: Tensor, runningVar: Tensor, epsilon: Float) throws { throw OpenCLError("batchNormForwardInference (not yet implemented)", -59) }
    public func batchNormBackward(input: Tensor, gradOutput: Tensor, gradInput: Tensor, weight: Tensor,
                           saveMean: Tensor, saveInvStd: Tensor, gradWeight: Tensor, gradBias: Tensor, accumulate: Bool) throws { throw OpenCLError("batchNormBackward (not yet implemented)", -59) }
    public func reluForward(input: Tensor, output: Tensor) throws { throw OpenCLError("reluForward (not yet implemented)", -59) }
    public func reluBackward(output: Tensor, gradOutput: Tensor, gradInput: Tensor, accumulate: Bool) throws { throw OpenCLError("reluBackward (not yet implemented)", -59) }
    public func linearForward(input: Tensor, weight: Tensor, bias: Tensor?, output: Tensor) throws { throw OpenCLError("linearForward (not yet implemented)", -59) }
    public func linearBackwardData(gradOutput: Tensor, weight: Tensor, gradInput: Tensor, accumulate: Bool) throws { throw OpenCLError("linearBackwardData (not yet implemented)", -59) }
    public func linearBackwardWeight(input: Tensor, gradOutput: Tensor, gradWeight: Tensor, gradBias: Tensor?) throws { throw OpenCLError("linearBackwardWeight (not yet implemented)", -59) }
    public func softmaxCrossEntropyForward(logits: Tensor, labels: Tensor, probabilities: Tensor, losses: Tensor) throws { throw OpenCLError("softmaxCrossEntropyForward (not yet implemented)", -59) }
    public func softmaxCrossEntropyBackward(probabilities: Tensor, labels: Tensor, gradLogits: Tensor, scale: Float) throws { throw OpenCLError("softmaxCrossEntropyBackward (not yet implemented)", -59) }
    public func sgdUpdate(parameter: Tensor, gradient: Tensor, momentumBuffer: Tensor, hyper: SGDParameters) throws { throw OpenCLError("sgdUpdate (not yet implemented)", -59) }
    public func adamUpdate(parameter: Tensor, gradient: Tensor, firstMoment: Tensor, secondMoment: Tensor, hyper: AdamParameters) throws { throw OpenCLError("adamUpdate (not yet implemented)", -59) }
}
