// Placeholder replaced by the CPU backend implementation (branch cpu-backend).

public final class CPUBackend: Backend {
    public init() {}
    public var info: DeviceInfo { DeviceInfo(backend: "cpu", name: "CPU", vendor: "", driver: "", kind: .cpu, computeUnits: 1, globalMemoryBytes: 1 << 30, maxAllocationBytes: 1 << 30, maxWorkGroupSize: 1) }
    public func allocate(bytes: Int) throws -> RawBuffer { throw AllocationFailure(bytes: bytes, reason: "stub") }
    public func deallocate(_ buffer: RawBuffer) {}
    public func write(from source: UnsafeRawPointer, to buffer: RawBuffer, offset: Int, bytes: Int) throws { throw AllocationFailure(bytes: 0, reason: "stub") }
    public func read(from buffer: RawBuffer, offset: Int, bytes: Int, into destination: UnsafeMutableRawPointer) throws { throw AllocationFailure(bytes: 0, reason: "stub") }
    public func synchronize() throws { throw AllocationFailure(bytes: 0, reason: "stub") }
    public func fill(_ tensor: Tensor, value: Float) throws { throw AllocationFailure(bytes: 0, reason: "stub") }
    public func add(_ a: Tensor, _ b: Tensor, output: Tensor) throws { throw AllocationFailure(bytes: 0, reason: "stub") }
    public func axpy(alpha: Float, x: Tensor, y: Tensor) throws { throw AllocationFailure(bytes: 0, reason: "stub") }
    public func channelCopy(from source: Tensor, to destination: Tensor, accumulate: Bool) throws { throw AllocationFailure(bytes: 0, reason: "stub") }
    public func sgemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
               a: Tensor, lda: Int, b: Tensor, ldb: Int, beta: Float, c: Tensor, ldc: Int) throws { throw AllocationFailure(bytes: 0, reason: "stub") }
    public func conv2dForward(input: Tensor, weight: Tensor, bias: Tensor?, output: Tensor, geometry: Conv2dGeometry) throws { throw AllocationFailure(bytes: 0, reason: "stub") }
    public func conv2dBackwardData(gradOutput: Tensor, weight: Tensor, gradInput: Tensor, geometry: Conv2dGeometry, accumulate: Bool) throws { throw AllocationFailure(bytes: 0, reason: "stub") }
    public func conv2dBackwardWeight(input: Tensor, gradOutput: Tensor, gradWeight: Tensor, gradBias: Tensor?, geometry: Conv2dGeometry) throws { throw AllocationFailure(bytes: 0, reason: "stub") }
    public func maxPool2dForward(input: Tensor, output: Tensor, geometry: Pool2dGeometry) throws { throw AllocationFailure(bytes: 0, reason: "stub") }
    public func maxPool2dBackward(input: Tensor, gradOutput: Tensor, gradInput: Tensor, geometry: Pool2dGeometry, accumulate: Bool) throws { throw AllocationFailure(bytes: 0, reason: "stub") }
    public func avgPool2dForward(input: Tensor, output: Tensor, geometry: Pool2dGeometry) throws { throw AllocationFailure(bytes: 0, reason: "stub") }
    public func avgPool2dBackward(gradOutput: Tensor, gradInput: Tensor, geometry: Pool2dGeometry, accumulate: Bool) throws { throw AllocationFailure(bytes: 0, reason: "stub") }
    public func globalAvgPoolForward(input: Tensor, output: Tensor) throws { throw AllocationFailure(bytes: 0, reason: "stub") }
    public func globalAvgPoolBackward(gradOutput: Tensor, gradInput: Tensor, accumulate: Bool) throws { throw AllocationFailure(bytes: 0, reason: "stub") }
    public func batchNormForwardTraining(input: Tensor, output: Tensor, weight: Tensor, bias: Tensor,
                                  runningMean: Tensor, runningVar: Tensor, saveMean: Tensor, saveInvStd: Tensor,
                                  momentum: Float, epsilon: Float) throws { throw AllocationFailure(bytes: 0, reason: "stub") }
    public func batchNormForwardInference(input: Tensor, output: Tensor, weight: Tensor, bias: Tensor,
                                   runningMean: Tensor, runningVar: Tensor, epsilon: Float) throws { throw AllocationFailure(bytes: 0, reason: "stub") }
    public func batchNormBackward(input: Tensor, gradOutput: Tensor, gradInput: Tensor, weight: Tensor,
                           saveMean: Tensor, saveInvStd: Tensor, gradWeight: Tensor, gradBias: Tensor, accumulate: Bool) throws { throw AllocationFailure(bytes: 0, reason: "stub") }
    public func reluForward(input: Tensor, output: Tensor) throws { throw AllocationFailure(bytes: 0, reason: "stub") }
    public func reluBackward(output: Tensor, gradOutput: Tensor, gradInput: Tensor, accumulate: Bool) throws { throw AllocationFailure(bytes: 0, reason: "stub") }
    public func linearForward(input: Tensor, weight: Tensor, bias: Tensor?, output: Tensor) throws { throw AllocationFailure(bytes: 0, reason: "stub") }
    public func linearBackwardData(gradOutput: Tensor, weight: Tensor, gradInput: Tensor, accumulate: Bool) throws { throw AllocationFailure(bytes: 0, reason: "stub") }
    public func linearBackwardWeight(input: Tensor, gradOutput: Tensor, gradWeight: Tensor, gradBias: Tensor?) throws { throw AllocationFailure(bytes: 0, reason: "stub") }
    public func softmaxCrossEntropyForward(logits: Tensor, labels: Tensor, probabilities: Tensor, losses: Tensor) throws { throw AllocationFailure(bytes: 0, reason: "stub") }
    public func softmaxCrossEntropyBackward(probabilities: Tensor, labels: Tensor, gradLogits: Tensor, scale: Float) throws { throw AllocationFailure(bytes: 0, reason: "stub") }
    public func sgdUpdate(parameter: Tensor, gradient: Tensor, momentumBuffer: Tensor, hyper: SGDParameters) throws { throw AllocationFailure(bytes: 0, reason: "stub") }
    public func adamUpdate(parameter: Tensor, gradient: Tensor, firstMoment: Tensor, secondMoment: Tensor, hyper: AdamParameters) throws { throw AllocationFailure(bytes: 0, reason: "stub") }
}
