import CLTrainRuntime
import Foundation

/// A backend that runs another and times every op by family (waiting for each op to finish, so
/// GPU time lands on the op that spent it): what `cltrain bench train` reports.
public final class ProfiledBackend: Backend, @unchecked Sendable {
    public enum Family: String, CaseIterable, Codable, Sendable {
        case convolution, batchNorm = "batch norm", activation, concatenation, pooling, linearAndLoss = "linear and loss",
             optimizer, other
    }

    public let inner: any Backend
    private let lock = NSLock()
    private var seconds: [Family: Double] = [:]
    private var flopCount = 0.0

    public init(_ inner: any Backend) { self.inner = inner }

    public var info: DeviceInfo { inner.info }
    public var underlying: any Backend { inner.underlying }
    public var tuner: Autotuner { inner.tuner }

    /// Seconds spent per family since the last reset.
    public var secondsByFamily: [Family: Double] {
        lock.lock()
        defer { lock.unlock() }
        return seconds
    }

    /// Floating-point operations of the convolutions, linear layers and GEMMs run since the
    /// last reset (2 per multiply-add).
    public var flops: Double {
        lock.lock()
        defer { lock.unlock() }
        return flopCount
    }

    public func reset() {
        lock.lock()
        seconds = [:]
        flopCount = 0
        lock.unlock()
    }

    private func count(_ flops: Double) {
        lock.lock()
        flopCount += flops
        lock.unlock()
    }

    /// 2 x N x Cout x Ho x Wo x Cin x kh x kw: one pass of a convolution.
    private func convolutionFlops(input: Tensor, weight: Tensor, output: Tensor) -> Double {
        2 * Double(output.count) * Double(weight.count / weight.shape[0])
    }

    private func timed(_ family: Family, _ body: () throws -> Void) throws {
        let start = DispatchTime.now().uptimeNanoseconds
        try body()
        try inner.synchronize()
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        lock.lock()
        seconds[family, default: 0] += elapsed
        lock.unlock()
    }

    // MARK: Memory (not timed)

    public func allocate(bytes: Int) throws -> RawBuffer { try inner.allocate(bytes: bytes) }
    public func deallocate(_ buffer: RawBuffer) { inner.deallocate(buffer) }
    public func write(from source: UnsafeRawPointer, to buffer: RawBuffer, offset: Int, bytes: Int) throws {
        try timed(.other) { try inner.write(from: source, to: buffer, offset: offset, bytes: bytes) }
    }
    public func read(from buffer: RawBuffer, offset: Int, bytes: Int, into destination: UnsafeMutableRawPointer) throws {
        try timed(.other) { try inner.read(from: buffer, offset: offset, bytes: bytes, into: destination) }
    }
    public func synchronize() throws { try inner.synchronize() }

    // MARK: Ops

    public func fill(_ tensor: Tensor, value: Float) throws { try timed(.other) { try inner.fill(tensor, value: value) } }
    public func add(_ a: Tensor, _ b: Tensor, output: Tensor) throws { try timed(.other) { try inner.add(a, b, output: output) } }
    public func axpy(alpha: Float, x: Tensor, y: Tensor) throws { try timed(.other) { try inner.axpy(alpha: alpha, x: x, y: y) } }
    public func channelCopy(from source: Tensor, to destination: Tensor, accumulate: Bool) throws {
        try timed(.concatenation) { try inner.channelCopy(from: source, to: destination, accumulate: accumulate) }
    }
    public func sgemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                      a: Tensor, lda: Int, b: Tensor, ldb: Int, beta: Float, c: Tensor, ldc: Int) throws {
        count(2 * Double(m) * Double(n) * Double(k))
        try timed(.other) {
            try inner.sgemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
                            a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
        }
    }
    public func conv2dForward(input: Tensor, weight: Tensor, bias: Tensor?, output: Tensor, geometry: Conv2dGeometry,
                              inputNorm: BatchNormReLU?) throws {
        count(convolutionFlops(input: input, weight: weight, output: output))
        try timed(.convolution) {
            try inner.conv2dForward(input: input, weight: weight, bias: bias, output: output, geometry: geometry, inputNorm: inputNorm)
        }
    }
    public func conv2dBackwardData(gradOutput: Tensor, weight: Tensor, gradInput: Tensor, geometry: Conv2dGeometry, accumulate: Bool) throws {
        count(convolutionFlops(input: gradInput, weight: weight, output: gradOutput))
        try timed(.convolution) {
            try inner.conv2dBackwardData(gradOutput: gradOutput, weight: weight, gradInput: gradInput, geometry: geometry, accumulate: accumulate)
        }
    }
    public func conv2dBackwardWeight(input: Tensor, gradOutput: Tensor, gradWeight: Tensor, gradBias: Tensor?, geometry: Conv2dGeometry,
                                     inputNorm: BatchNormReLU?) throws {
        count(convolutionFlops(input: input, weight: gradWeight, output: gradOutput))
        try timed(.convolution) {
            try inner.conv2dBackwardWeight(input: input, gradOutput: gradOutput, gradWeight: gradWeight, gradBias: gradBias, geometry: geometry,
                                           inputNorm: inputNorm)
        }
    }
    public func conv2dBackwardDataBatchNormReLU(gradOutput: Tensor, weight: Tensor, geometry: Conv2dGeometry, input: Tensor,
                                                norm: BatchNormReLU, gradInput: Tensor, gradWeight: Tensor, gradBias: Tensor,
                                                deferredScale: Tensor, deferredShift: Tensor) throws -> Bool {
        count(convolutionFlops(input: input, weight: weight, output: gradOutput))
        var deferred = false
        // Its time is the convolution's and the batch norm's together: counted as convolution.
        try timed(.convolution) {
            deferred = try inner.conv2dBackwardDataBatchNormReLU(
                gradOutput: gradOutput, weight: weight, geometry: geometry, input: input, norm: norm, gradInput: gradInput,
                gradWeight: gradWeight, gradBias: gradBias, deferredScale: deferredScale, deferredShift: deferredShift)
        }
        return deferred
    }
    public func maxPool2dForward(input: Tensor, output: Tensor, geometry: Pool2dGeometry) throws {
        try timed(.pooling) { try inner.maxPool2dForward(input: input, output: output, geometry: geometry) }
    }
    public func maxPool2dBackward(input: Tensor, gradOutput: Tensor, gradInput: Tensor, geometry: Pool2dGeometry, accumulate: Bool) throws {
        try timed(.pooling) {
            try inner.maxPool2dBackward(input: input, gradOutput: gradOutput, gradInput: gradInput, geometry: geometry, accumulate: accumulate)
        }
    }
    public func avgPool2dForward(input: Tensor, output: Tensor, geometry: Pool2dGeometry) throws {
        try timed(.pooling) { try inner.avgPool2dForward(input: input, output: output, geometry: geometry) }
    }
    public func avgPool2dBackward(gradOutput: Tensor, gradInput: Tensor, geometry: Pool2dGeometry, accumulate: Bool) throws {
        try timed(.pooling) { try inner.avgPool2dBackward(gradOutput: gradOutput, gradInput: gradInput, geometry: geometry, accumulate: accumulate) }
    }
    public func globalAvgPoolForward(input: Tensor, output: Tensor) throws {
        try timed(.pooling) { try inner.globalAvgPoolForward(input: input, output: output) }
    }
    public func globalAvgPoolBackward(gradOutput: Tensor, gradInput: Tensor, accumulate: Bool) throws {
        try timed(.pooling) { try inner.globalAvgPoolBackward(gradOutput: gradOutput, gradInput: gradInput, accumulate: accumulate) }
    }
    public func batchNormForwardTraining(input: Tensor, output: Tensor, weight: Tensor, bias: Tensor, runningMean: Tensor, runningVar: Tensor,
                                         saveMean: Tensor, saveInvStd: Tensor, momentum: Float, epsilon: Float, relu: Bool) throws {
        try timed(.batchNorm) {
            try inner.batchNormForwardTraining(input: input, output: output, weight: weight, bias: bias, runningMean: runningMean,
                                               runningVar: runningVar, saveMean: saveMean, saveInvStd: saveInvStd,
                                               momentum: momentum, epsilon: epsilon, relu: relu)
        }
    }
    public func batchNormStatistics(input: Tensor, mean: Tensor, invStd: Tensor, unbiasedVariance: Tensor, epsilon: Float) throws {
        try timed(.batchNorm) {
            try inner.batchNormStatistics(input: input, mean: mean, invStd: invStd, unbiasedVariance: unbiasedVariance, epsilon: epsilon)
        }
    }
    public func batchNormApply(input: Tensor, output: Tensor, mean: Tensor, invStd: Tensor, weight: Tensor, bias: Tensor, relu: Bool) throws {
        try timed(.batchNorm) {
            try inner.batchNormApply(input: input, output: output, mean: mean, invStd: invStd, weight: weight, bias: bias, relu: relu)
        }
    }
    public func batchNormForwardInference(input: Tensor, output: Tensor, weight: Tensor, bias: Tensor, runningMean: Tensor,
                                          runningVar: Tensor, epsilon: Float, relu: Bool) throws {
        try timed(.batchNorm) {
            try inner.batchNormForwardInference(input: input, output: output, weight: weight, bias: bias, runningMean: runningMean,
                                                runningVar: runningVar, epsilon: epsilon, relu: relu)
        }
    }
    public func batchNormBackward(input: Tensor, gradOutput: Tensor, gradInput: Tensor, weight: Tensor, saveMean: Tensor, saveInvStd: Tensor,
                                  gradWeight: Tensor, gradBias: Tensor, relu: ReLUMask?, accumulate: Bool) throws {
        try timed(.batchNorm) {
            try inner.batchNormBackward(input: input, gradOutput: gradOutput, gradInput: gradInput, weight: weight, saveMean: saveMean,
                                        saveInvStd: saveInvStd, gradWeight: gradWeight, gradBias: gradBias, relu: relu,
                                        accumulate: accumulate)
        }
    }
    public func reluForward(input: Tensor, output: Tensor) throws { try timed(.activation) { try inner.reluForward(input: input, output: output) } }
    public func reluBackward(output: Tensor, gradOutput: Tensor, gradInput: Tensor, accumulate: Bool) throws {
        try timed(.activation) { try inner.reluBackward(output: output, gradOutput: gradOutput, gradInput: gradInput, accumulate: accumulate) }
    }
    public func dropoutForward(input: Tensor, output: Tensor, probability: Float, seed: UInt32) throws {
        try timed(.activation) { try inner.dropoutForward(input: input, output: output, probability: probability, seed: seed) }
    }
    public func dropoutBackward(gradOutput: Tensor, gradInput: Tensor, probability: Float, seed: UInt32, accumulate: Bool) throws {
        try timed(.activation) {
            try inner.dropoutBackward(gradOutput: gradOutput, gradInput: gradInput, probability: probability, seed: seed, accumulate: accumulate)
        }
    }
    public func linearForward(input: Tensor, weight: Tensor, bias: Tensor?, output: Tensor) throws {
        count(2 * Double(output.count) * Double(weight.shape[1]))
        try timed(.linearAndLoss) { try inner.linearForward(input: input, weight: weight, bias: bias, output: output) }
    }
    public func linearBackwardData(gradOutput: Tensor, weight: Tensor, gradInput: Tensor, accumulate: Bool) throws {
        count(2 * Double(gradOutput.count) * Double(weight.shape[1]))
        try timed(.linearAndLoss) { try inner.linearBackwardData(gradOutput: gradOutput, weight: weight, gradInput: gradInput, accumulate: accumulate) }
    }
    public func linearBackwardWeight(input: Tensor, gradOutput: Tensor, gradWeight: Tensor, gradBias: Tensor?) throws {
        count(2 * Double(gradOutput.count) * Double(gradWeight.shape[1]))
        try timed(.linearAndLoss) { try inner.linearBackwardWeight(input: input, gradOutput: gradOutput, gradWeight: gradWeight, gradBias: gradBias) }
    }
    public func softmaxCrossEntropyForward(logits: Tensor, labels: Tensor, probabilities: Tensor, losses: Tensor, labelSmoothing: Float) throws {
        try timed(.linearAndLoss) {
            try inner.softmaxCrossEntropyForward(logits: logits, labels: labels, probabilities: probabilities, losses: losses,
                                                 labelSmoothing: labelSmoothing)
        }
    }
    public func softmaxCrossEntropyBackward(probabilities: Tensor, labels: Tensor, gradLogits: Tensor, scale: Float, labelSmoothing: Float) throws {
        try timed(.linearAndLoss) {
            try inner.softmaxCrossEntropyBackward(probabilities: probabilities, labels: labels, gradLogits: gradLogits, scale: scale,
                                                  labelSmoothing: labelSmoothing)
        }
    }
    public func sgdUpdate(parameter: Tensor, gradient: Tensor, momentumBuffer: Tensor, hyper: SGDParameters) throws {
        try timed(.optimizer) { try inner.sgdUpdate(parameter: parameter, gradient: gradient, momentumBuffer: momentumBuffer, hyper: hyper) }
    }
    public func adamUpdate(parameter: Tensor, gradient: Tensor, firstMoment: Tensor, secondMoment: Tensor, hyper: AdamParameters) throws {
        try timed(.optimizer) {
            try inner.adamUpdate(parameter: parameter, gradient: gradient, firstMoment: firstMoment, secondMoment: secondMoment, hyper: hyper)
        }
    }
}
