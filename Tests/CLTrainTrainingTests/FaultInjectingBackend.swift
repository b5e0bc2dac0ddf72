import CLTrainRuntime
import Foundation

/// A backend that runs another and fails on cue, as a GPU that runs out of resources or is lost
/// mid-run would: once `failAt` names an op, that op's next call throws `error` instead of
/// running; with `lost`, every call after it (reads and writes too) throws the same.
final class FaultInjectingBackend: Backend, @unchecked Sendable {
    let inner: any Backend
    /// The op (by its name in `Backend`, e.g. "conv2dForward", "sgdUpdate") whose next call fails.
    var failAt: String?
    var error: Error = OpenCLError("clEnqueueNDRangeKernel", -5)
    /// After the fault, fail everything (a device lost) rather than only that call.
    var lost = false
    private(set) var failed = false

    init(_ inner: any Backend) { self.inner = inner }

    var info: DeviceInfo { inner.info }
    var underlying: any Backend { inner.underlying }
    var tuner: Autotuner { inner.tuner }

    private func op(_ name: String, _ body: () throws -> Void) throws {
        if failed && lost { throw error }
        if name == failAt {
            failAt = nil
            failed = true
            throw error
        }
        try body()
    }

    func allocate(bytes: Int) throws -> RawBuffer { try inner.allocate(bytes: bytes) }
    func deallocate(_ buffer: RawBuffer) { inner.deallocate(buffer) }
    func write(from source: UnsafeRawPointer, to buffer: RawBuffer, offset: Int, bytes: Int) throws {
        try op("write") { try inner.write(from: source, to: buffer, offset: offset, bytes: bytes) }
    }
    func read(from buffer: RawBuffer, offset: Int, bytes: Int, into destination: UnsafeMutableRawPointer) throws {
        try op("read") { try inner.read(from: buffer, offset: offset, bytes: bytes, into: destination) }
    }
    func synchronize() throws { try op("synchronize") { try inner.synchronize() } }

    // MARK: Ops

    func fill(_ tensor: Tensor, value: Float) throws { try op("fill") { try inner.fill(tensor, value: value) } }
    func add(_ a: Tensor, _ b: Tensor, output: Tensor) throws { try op("add") { try inner.add(a, b, output: output) } }
    func axpy(alpha: Float, x: Tensor, y: Tensor) throws { try op("axpy") { try inner.axpy(alpha: alpha, x: x, y: y) } }
    func channelCopy(from source: Tensor, to destination: Tensor, accumulate: Bool) throws {
        try op("channelCopy") { try inner.channelCopy(from: source, to: destination, accumulate: accumulate) }
    }
    func sgemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                      a: Tensor, lda: Int, b: Tensor, ldb: Int, beta: Float, c: Tensor, ldc: Int) throws {
        try op("sgemm") {
            try inner.sgemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
                            a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
        }
    }
    func conv2dForward(input: Tensor, weight: Tensor, bias: Tensor?, output: Tensor, geometry: Conv2dGeometry,
                              inputNorm: BatchNormReLU?) throws {
        try op("conv2dForward") {
            try inner.conv2dForward(input: input, weight: weight, bias: bias, output: output, geometry: geometry, inputNorm: inputNorm)
        }
    }
    func conv2dBackwardDataBatchNormReLU(gradOutput: Tensor, weight: Tensor, geometry: Conv2dGeometry, input: Tensor, norm: BatchNormReLU,
                                         gradInput: Tensor, gradWeight: Tensor, gradBias: Tensor, deferredScale: Tensor,
                                         deferredShift: Tensor) throws -> Bool {
        var deferred = false
        try op("conv2dBackwardDataBatchNormReLU") {
            deferred = try inner.conv2dBackwardDataBatchNormReLU(
                gradOutput: gradOutput, weight: weight, geometry: geometry, input: input, norm: norm, gradInput: gradInput,
                gradWeight: gradWeight, gradBias: gradBias, deferredScale: deferredScale, deferredShift: deferredShift)
        }
        return deferred
    }
    func conv2dBackwardData(gradOutput: Tensor, weight: Tensor, gradInput: Tensor, geometry: Conv2dGeometry, accumulate: Bool) throws {
        try op("conv2dBackwardData") {
            try inner.conv2dBackwardData(gradOutput: gradOutput, weight: weight, gradInput: gradInput, geometry: geometry, accumulate: accumulate)
        }
    }
    func conv2dBackwardWeight(input: Tensor, gradOutput: Tensor, gradWeight: Tensor, gradBias: Tensor?, geometry: Conv2dGeometry,
                                     inputNorm: BatchNormReLU?) throws {
        try op("conv2dBackwardWeight") {
            try inner.conv2dBackwardWeight(input: input, gradOutput: gradOutput, gradWeight: gradWeight, gradBias: gradBias, geometry: geometry,
                                           inputNorm: inputNorm)
        }
    }
    func maxPool2dForward(input: Tensor, output: Tensor, geometry: Pool2dGeometry) throws {
        try op("maxPool2dForward") { try inner.maxPool2dForward(input: input, output: output, geometry: geometry) }
    }
    func maxPool2dBackward(input: Tensor, gradOutput: Tensor, gradInput: Tensor, geometry: Pool2dGeometry, accumulate: Bool) throws {
        try op("maxPool2dBackward") {
            try inner.maxPool2dBackward(input: input, gradOutput: gradOutput, gradInput: gradInput, geometry: geometry, accumulate: accumulate)
        }
    }
    func avgPool2dForward(input: Tensor, output: Tensor, geometry: Pool2dGeometry) throws {
        try op("avgPool2dForward") { try inner.avgPool2dForward(input: input, output: output, geometry: geometry) }
    }
    func avgPool2dBackward(gradOutput: Tensor, gradInput: Tensor, geometry: Pool2dGeometry, accumulate: Bool) throws {
        try op("avgPool2dBackward") { try inner.avgPool2dBackward(gradOutput: gradOutput, gradInput: gradInput, geometry: geometry, accumulate: accumulate) }
    }
    func globalAvgPoolForward(input: Tensor, output: Tensor) throws {
        try op("globalAvgPoolForward") { try inner.globalAvgPoolForward(input: input, output: output) }
    }
    func globalAvgPoolBackward(gradOutput: Tensor, gradInput: Tensor, accumulate: Bool) throws {
        try op("globalAvgPoolBackward") { try inner.globalAvgPoolBackward(gradOutput: gradOutput, gradInput: gradInput, accumulate: accumulate) }
    }
    func batchNormForwardTraining(input: Tensor, output: Tensor, weight: Tensor, bias: Tensor, runningMean: Tensor, runningVar: Tensor,
                                         saveMean: Tensor, saveInvStd: Tensor, momentum: Float, epsilon: Float, relu: Bool) throws {
        try op("batchNormForwardTraining") {
            try inner.batchNormForwardTraining(input: input, output: output, weight: weight, bias: bias, runningMean: runningMean,
                                               runningVar: runningVar, saveMean: saveMean, saveInvStd: saveInvStd,
                                               momentum: momentum, epsilon: epsilon, relu: relu)
        }
    }
    func batchNormStatistics(input: Tensor, mean: Tensor, invStd: Tensor, unbiasedVariance: Tensor, epsilon: Float) throws {
        try op("batchNormStatistics") {
            try inner.batchNormStatistics(input: input, mean: mean, invStd: invStd, unbiasedVariance: unbiasedVariance, epsilon: epsilon)
        }
    }
    func batchNormApply(input: Tensor, output: Tensor, mean: Tensor, invStd: Tensor, weight: Tensor, bias: Tensor, relu: Bool) throws {
        try op("batchNormApply") {
            try inner.batchNormApply(input: input, output: output, mean: mean, invStd: invStd, weight: weight, bias: bias, relu: relu)
        }
    }
    func batchNormForwardInference(input: Tensor, output: Tensor, weight: Tensor, bias: Tensor, runningMean: Tensor,
                                          runningVar: Tensor, epsilon: Float, relu: Bool) throws {
        try op("batchNormForwardInference") {
            try inner.batchNormForwardInference(input: input, output: output, weight: weight, bias: bias, runningMean: runningMean,
                                                runningVar: runningVar, epsilon: epsilon, relu: relu)
        }
    }
    func batchNormBackward(input: Tensor, gradOutput: Tensor, gradInput: Tensor, weight: Tensor, saveMean: Tensor, saveInvStd: Tensor,
                                  gradWeight: Tensor, gradBias: Tensor, relu: ReLUMask?, accumulate: Bool) throws {
        try op("batchNormBackward") {
            try inner.batchNormBackward(input: input, gradOutput: gradOutput, gradInput: gradInput, weight: weight, saveMean: saveMean,
                                        saveInvStd: saveInvStd, gradWeight: gradWeight, gradBias: gradBias, relu: relu,
                                        accumulate: accumulate)
        }
    }
    func reluForward(input: Tensor, output: Tensor) throws { try op("reluForward") { try inner.reluForward(input: input, output: output) } }
    func reluBackward(output: Tensor, gradOutput: Tensor, gradInput: Tensor, accumulate: Bool) throws {
        try op("reluBackward") { try inner.reluBackward(output: output, gradOutput: gradOutput, gradInput: gradInput, accumulate: accumulate) }
    }
    func dropoutForward(input: Tensor, output: Tensor, probability: Float, seed: UInt32) throws {
        try op("dropoutForward") { try inner.dropoutForward(input: input, output: output, probability: probability, seed: seed) }
    }
    func dropoutBackward(gradOutput: Tensor, gradInput: Tensor, probability: Float, seed: UInt32, accumulate: Bool) throws {
        try op("dropoutBackward") {
            try inner.dropoutBackward(gradOutput: gradOutput, gradInput: gradInput, probability: probability, seed: seed, accumulate: accumulate)
        }
    }
    func linearForward(input: Tensor, weight: Tensor, bias: Tensor?, output: Tensor) throws {
        try op("linearForward") { try inner.linearForward(input: input, weight: weight, bias: bias, output: output) }
    }
    func linearBackwardData(gradOutput: Tensor, weight: Tensor, gradInput: Tensor, accumulate: Bool) throws {
        try op("linearBackwardData") { try inner.linearBackwardData(gradOutput: gradOutput, weight: weight, gradInput: gradInput, accumulate: accumulate) }
    }
    func linearBackwardWeight(input: Tensor, gradOutput: Tensor, gradWeight: Tensor, gradBias: Tensor?) throws {
        try op("linearBackwardWeight") { try inner.linearBackwardWeight(input: input, gradOutput: gradOutput, gradWeight: gradWeight, gradBias: gradBias) }
    }
    func softmaxCrossEntropyForward(logits: Tensor, labels: Tensor, probabilities: Tensor, losses: Tensor, labelSmoothing: Float) throws {
        try op("softmaxCrossEntropyForward") {
            try inner.softmaxCrossEntropyForward(logits: logits, labels: labels, probabilities: probabilities, losses: losses,
                                                 labelSmoothing: labelSmoothing)
        }
    }
    func softmaxCrossEntropyBackward(probabilities: Tensor, labels: Tensor, gradLogits: Tensor, scale: Float, labelSmoothing: Float) throws {
        try op("softmaxCrossEntropyBackward") {
            try inner.softmaxCrossEntropyBackward(probabilities: probabilities, labels: labels, gradLogits: gradLogits, scale: scale,
                                                  labelSmoothing: labelSmoothing)
        }
    }
    func sgdUpdate(parameter: Tensor, gradient: Tensor, momentumBuffer: Tensor, hyper: SGDParameters) throws {
        try op("sgdUpdate") { try inner.sgdUpdate(parameter: parameter, gradient: gradient, momentumBuffer: momentumBuffer, hyper: hyper) }
    }
    func adamUpdate(parameter: Tensor, gradient: Tensor, firstMoment: Tensor, secondMoment: Tensor, hyper: AdamParameters) throws {
        try op("adamUpdate") {
            try inner.adamUpdate(parameter: parameter, gradient: gradient, firstMoment: firstMoment, secondMoment: secondMoment, hyper: hyper)
        }
    }
}
