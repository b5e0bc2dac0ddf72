import CLTrainRuntime

/// Batch normalisation over N, H, W per channel, as PyTorch's `BatchNorm2d` (momentum 0.1,
/// eps 1e-5): `name.weight`, `name.bias`, `name.running_mean`, `name.running_var`, and
/// `name.num_batches_tracked` (a host counter).
/// Batch statistics of some channels computed once for several batch norms that read them
/// (`Backend.batchNormStatistics`): C values each.
public struct BatchStatistics {
    public let mean: Tensor
    public let invStd: Tensor
    public let unbiasedVariance: Tensor
    /// The epsilon inside `invStd`.
    public let epsilon: Float

    public init(mean: Tensor, invStd: Tensor, unbiasedVariance: Tensor, epsilon: Float) {
        self.mean = mean; self.invStd = invStd; self.unbiasedVariance = unbiasedVariance; self.epsilon = epsilon
    }

    /// The statistics of channels `range`.
    public func channels(_ range: Range<Int>) -> BatchStatistics {
        BatchStatistics(mean: mean.samples(range), invStd: invStd.samples(range), unbiasedVariance: unbiasedVariance.samples(range),
                        epsilon: epsilon)
    }

    /// Replace these statistics of one shard (`count` values per channel) by those of the whole
    /// batch, the shards' sums added by `sum`. Each shard sends count, count x mean,
    /// count x (var + eps) (= count / invStd^2, so no eps is subtracted) and count x mean^2 per
    /// channel; the combination, in Double, is Chan's: var + eps = E[var_i + eps] + E[mean_i^2]
    /// - mean^2. One shard alone (an identity `sum`) gets its mean and invStd back bitwise.
    public func synchronize(count: Int, sum: BatchNormSum) throws {
        let device = mean.device
        let c = mean.count
        let localMean = try device.read(mean), localInvStd = try device.read(invStd)
        let n = Double(count)
        var sums = [Double](repeating: 0, count: 3 * c + 1)
        for ch in 0..<c {
            let m = Double(localMean[ch]), s = Double(localInvStd[ch])
            sums[ch] = n * m
            sums[c + ch] = n * (1 / (s * s))
            sums[2 * c + ch] = n * (m * m)
        }
        sums[3 * c] = n
        try sum(&sums)
        let total = sums[3 * c]
        precondition(total > 1, "batch norm: synchronised statistics need more than one value per channel")
        var newMean = [Float](repeating: 0, count: c), newInvStd = newMean, newVariance = newMean
        for ch in 0..<c {
            let m = sums[ch] / total
            let varianceAndEpsilon = sums[c + ch] / total + max(0, sums[2 * c + ch] / total - m * m)
            newMean[ch] = Float(m)
            newInvStd[ch] = Float(1 / varianceAndEpsilon.squareRoot())
            newVariance[ch] = Float(max(0, varianceAndEpsilon - Double(epsilon)) * total / (total - 1))
        }
        try device.write(newMean, to: mean)
        try device.write(newInvStd, to: invStd)
        try device.write(newVariance, to: unbiasedVariance)
    }
}

/// Sums per-channel values over the shards of a global batch, in place (synchronised batch
/// norm): every shard calls it at the same point with an array of the same length and gets
/// the sums over all shards back. A layer never knows who adds (the data-parallel run sets it
/// to an all-reduce); an identity closure makes a batch of one shard.
public typealias BatchNormSum = (inout [Double]) throws -> Void

public final class BatchNorm2d {
    public let name: String
    public let channels: Int
    public let weight: Parameter
    public let bias: Parameter
    public let runningMean: Buffer
    public let runningVar: Buffer
    public var batchesTracked = 0
    public var momentum: Float = 0.1
    public var epsilon: Float = 1e-5
    /// With a sum, training-mode statistics and the backward's per-channel gradient sums are
    /// those of the global batch (synchronised batch norm); nil: this batch's alone.
    public var synchronization: BatchNormSum?

    private var savedInput: Tensor?
    /// The output of a training forward with a fused ReLU (its gradient mask).
    private var savedReLUOutput: Tensor?
    /// The statistics the last training forward normalised with (its own buffers, or shared ones).
    private var saveMean: Tensor?
    private var saveInvStd: Tensor?
    /// The last training forward handed its batch norm + ReLU to a convolution
    /// (`normalization(of:statistics:)`): the backward finds the ReLU's mask from the input.
    private var reluAppliedByReader = false
    /// This layer's own statistics buffers, reused from step to step (made with the layer, so that
    /// no step after the first allocates).
    private let meanBuffer: Tensor
    private let invStdBuffer: Tensor
    private let varianceBuffer: Tensor

    init(_ builder: ModelBuilder, _ name: String, _ channels: Int) throws {
        self.name = name
        self.channels = channels
        weight = try builder.parameter(join(name, "weight"), shape: [channels], values: [Float](repeating: 1, count: channels))
        bias = try builder.parameter(join(name, "bias"), shape: [channels], values: [Float](repeating: 0, count: channels))
        runningMean = try builder.buffer(join(name, "running_mean"), shape: [channels], value: 0)
        runningVar = try builder.buffer(join(name, "running_var"), shape: [channels], value: 1)
        meanBuffer = try weight.value.device.makeTensor([channels])
        invStdBuffer = try weight.value.device.makeTensor([channels])
        varianceBuffer = try weight.value.device.makeTensor([channels])
        builder.register(self)
    }

    /// Normalise `input` (batch statistics in training, running ones in eval), into `output`
    /// when given; `output` may be a fresh tensor only (never the input). With `relu`, the ReLU
    /// that follows is applied in the same pass (and `backward` takes the gradient after it).
    public func forward(_ input: Tensor, into output: Tensor? = nil, training: Bool, relu: Bool = false) throws -> Tensor {
        precondition(input.c == channels, "\(name): input \(input.shape), expected \(channels) channels")
        let device = input.device
        let out = try output ?? device.makeTensor(input.shape)
        if training, let sum = synchronization {
            let batch = BatchStatistics(mean: meanBuffer, invStd: invStdBuffer, unbiasedVariance: varianceBuffer, epsilon: epsilon)
            try device.backend.batchNormStatistics(input: input, mean: batch.mean, invStd: batch.invStd,
                                                   unbiasedVariance: batch.unbiasedVariance, epsilon: epsilon)
            try batch.synchronize(count: input.count / channels, sum: sum)
            try device.backend.batchNormApply(input: input, output: out, mean: batch.mean, invStd: batch.invStd, weight: weight.value,
                                              bias: bias.value, relu: relu)
            try updateRunningStatistics(batch)
            savedInput = input
            savedReLUOutput = relu ? out : nil
            saveMean = batch.mean
            saveInvStd = batch.invStd
            reluAppliedByReader = false
            batchesTracked += 1
        } else if training {
            let mean = meanBuffer
            let invStd = invStdBuffer
            try device.backend.batchNormForwardTraining(
                input: input, output: out, weight: weight.value, bias: bias.value, runningMean: runningMean.value,
                runningVar: runningVar.value, saveMean: mean, saveInvStd: invStd, momentum: momentum, epsilon: epsilon, relu: relu)
            savedInput = input
            savedReLUOutput = relu ? out : nil
            saveMean = mean
            saveInvStd = invStd
            reluAppliedByReader = false
            batchesTracked += 1
        } else {
            try device.backend.batchNormForwardInference(
                input: input, output: out, weight: weight.value, bias: bias.value, runningMean: runningMean.value,
                runningVar: runningVar.value, epsilon: epsilon, relu: relu)
            savedInput = nil
            savedReLUOutput = nil
        }
        return out
    }

    /// The training forward of this batch norm and the ReLU after it, left for the convolution
    /// that reads them to apply (`Conv2d.forward(_:training:normalizedBy:)`): the batch
    /// statistics (`statistics` when given, else computed), the running statistics updated, and
    /// no output written. `backward` then takes the gradient after the ReLU.
    public func normalization(of input: Tensor, statistics: BatchStatistics? = nil) throws -> BatchNormReLU {
        precondition(input.c == channels, "\(name): input \(input.shape), expected \(channels) channels")
        let device = input.device
        let batch: BatchStatistics
        if let statistics {
            precondition(statistics.mean.count == channels && statistics.epsilon == epsilon,
                         "\(name): shared statistics of \(statistics.mean.count) channels with epsilon \(statistics.epsilon)")
            batch = statistics
        } else {
            batch = BatchStatistics(mean: meanBuffer, invStd: invStdBuffer, unbiasedVariance: varianceBuffer, epsilon: epsilon)
            try device.backend.batchNormStatistics(input: input, mean: batch.mean, invStd: batch.invStd,
                                                   unbiasedVariance: batch.unbiasedVariance, epsilon: epsilon)
            if let sum = synchronization { try batch.synchronize(count: input.count / channels, sum: sum) }
        }
        try updateRunningStatistics(batch)
        savedInput = input
        savedReLUOutput = nil
        saveMean = batch.mean
        saveInvStd = batch.invStd
        reluAppliedByReader = true
        batchesTracked += 1
        return BatchNormReLU(mean: batch.mean, invStd: batch.invStd, weight: weight.value, bias: bias.value)
    }

    /// running = (1 - momentum) running + momentum batch (the unbiased variance).
    private func updateRunningStatistics(_ batch: BatchStatistics) throws {
        let backend = runningMean.value.device.backend
        try backend.axpy(alpha: -momentum, x: runningMean.value, y: runningMean.value)
        try backend.axpy(alpha: momentum, x: batch.mean, y: runningMean.value)
        try backend.axpy(alpha: -momentum, x: runningVar.value, y: runningVar.value)
        try backend.axpy(alpha: momentum, x: batch.unbiasedVariance, y: runningVar.value)
    }

    /// Accumulate the weight and bias gradients; return the input gradient (into `gradInput`
    /// when given, added to it when `accumulate`). After a forward with `relu`, `gradOutput` is
    /// the gradient of the ReLU's output.
    @discardableResult
    public func backward(_ gradOutput: Tensor, into gradInput: Tensor? = nil, accumulate: Bool = false) throws -> Tensor {
        guard let input = savedInput, let mean = saveMean, let invStd = saveInvStd else {
            preconditionFailure("\(name): backward without a training forward")
        }
        let relu: ReLUMask? = reluAppliedByReader ? .input(bias: bias.value) : savedReLUOutput.map { .output($0) }
        release()
        let result = try gradInput ?? input.device.makeTensor(input.shape)
        let accumulate = gradInput != nil && accumulate
        if let sum = synchronization {
            try synchronizedBackward(input: input, gradOutput: gradOutput, gradInput: result, mean: mean, invStd: invStd, relu: relu,
                                     accumulate: accumulate, sum: sum)
        } else {
            try input.device.backend.batchNormBackward(
                input: input, gradOutput: gradOutput, gradInput: result, weight: weight.value, saveMean: mean, saveInvStd: invStd,
                gradWeight: weight.gradient, gradBias: bias.gradient, relu: relu, accumulate: accumulate)
        }
        try weight.gradientIsFinal()
        try bias.gradientIsFinal()
        return result
    }

    /// The backward of this batch norm + ReLU as read by a convolution (`normalization(of:)`),
    /// from that convolution's output gradient: the convolution's input gradient and this
    /// backward in one op (`conv2dBackwardDataBatchNormReLU`). The input gradient is added into
    /// `gradInput`, but for the part the backend leaves in `deferring` (it returns whether it
    /// did). Synchronised, the correction to the global batch's sums (see `synchronizedBackward`),
    /// also `b x + c` per channel, goes where the rest went.
    public func backward(fromConvolution convWeight: Tensor, geometry: Conv2dGeometry, gradOutput: Tensor, addingInto gradInput: Tensor,
                         deferring: DeferredNormGradient) throws -> Bool {
        guard let input = savedInput, let mean = saveMean, let invStd = saveInvStd, reluAppliedByReader else {
            preconditionFailure("\(name): backward from a convolution without a forward read by one")
        }
        release()
        let device = input.device, backend = device.backend
        let norm = BatchNormReLU(mean: mean, invStd: invStd, weight: weight.value, bias: bias.value)
        guard let sum = synchronization else {
            let deferred = try backend.conv2dBackwardDataBatchNormReLU(
                gradOutput: gradOutput, weight: convWeight, geometry: geometry, input: input, norm: norm, gradInput: gradInput,
                gradWeight: weight.gradient, gradBias: bias.gradient, deferredScale: deferring.scale, deferredShift: deferring.shift)
            try weight.gradientIsFinal()
            try bias.gradientIsFinal()
            return deferred
        }
        let sumDyXhat = try device.makeTensor([channels]), sumDy = try device.makeTensor([channels])
        try backend.fill(sumDyXhat, value: 0)
        try backend.fill(sumDy, value: 0)
        let deferred = try backend.conv2dBackwardDataBatchNormReLU(
            gradOutput: gradOutput, weight: convWeight, geometry: geometry, input: input, norm: norm, gradInput: gradInput,
            gradWeight: sumDyXhat, gradBias: sumDy, deferredScale: deferring.scale, deferredShift: deferring.shift)
        let (scale, shift) = try globalCorrection(count: input.count / channels, sumDy: sumDy, sumDyXhat: sumDyXhat, invStd: invStd, sum: sum)
        if deferred {
            // (x - mean) invStd scale + shift = x k + (shift - mean k), k = invStd scale: as batchNormApply computes it.
            let m = try device.read(mean), s = try device.read(invStd)
            var k = [Float](repeating: 0, count: channels), c = k
            for ch in 0..<channels { (k[ch], c[ch]) = BatchNormReLU.scaleShift(mean: m[ch], invStd: s[ch], weight: scale[ch], bias: shift[ch]) }
            try backend.axpy(alpha: 1, x: device.tensor(k, shape: [channels]), y: deferring.scale)
            try backend.axpy(alpha: 1, x: device.tensor(c, shape: [channels]), y: deferring.shift)
        } else {
            try addCorrection(input: input, gradInput: gradInput, mean: mean, invStd: invStd, scale: scale, shift: shift)
        }
        try backend.axpy(alpha: 1, x: sumDyXhat, y: weight.gradient)
        try backend.axpy(alpha: 1, x: sumDy, y: bias.gradient)
        try weight.gradientIsFinal()
        try bias.gradientIsFinal()
        return deferred
    }

    /// The backward with the global batch's sum(dy) and sum(dy xhat) per channel. The backend's
    /// backward runs on this shard (its input gradient uses the shard's sums; its weight and bias
    /// gradients, which are those sums, land in scratch); with M the global count and n the
    /// shard's, the input gradient w invStd (dy - sum(dy)/M - xhat sum(dy xhat)/M) differs from
    /// the shard's by w invStd ((s_dy/n - S_dy/M) + xhat (s_dyxhat/n - S_dyxhat/M)): a batch
    /// norm of the input with those scales and shifts (`batchNormApply`), added. The parameter
    /// gradients stay the shard's sums (the run averages them with every other gradient).
    private func synchronizedBackward(input: Tensor, gradOutput: Tensor, gradInput: Tensor, mean: Tensor, invStd: Tensor,
                                      relu: ReLUMask?, accumulate: Bool, sum: BatchNormSum) throws {
        let device = input.device, backend = device.backend
        let sumDyXhat = try device.makeTensor([channels]), sumDy = try device.makeTensor([channels])
        try backend.fill(sumDyXhat, value: 0)
        try backend.fill(sumDy, value: 0)
        try backend.batchNormBackward(
            input: input, gradOutput: gradOutput, gradInput: gradInput, weight: weight.value, saveMean: mean, saveInvStd: invStd,
            gradWeight: sumDyXhat, gradBias: sumDy, relu: relu, accumulate: accumulate)
        let (scale, shift) = try globalCorrection(count: input.count / channels, sumDy: sumDy, sumDyXhat: sumDyXhat, invStd: invStd, sum: sum)
        try addCorrection(input: input, gradInput: gradInput, mean: mean, invStd: invStd, scale: scale, shift: shift)
        try backend.axpy(alpha: 1, x: sumDyXhat, y: weight.gradient)
        try backend.axpy(alpha: 1, x: sumDy, y: bias.gradient)
    }

    /// From this shard's sums (`count` values per channel), the global batch's through `sum`:
    /// per channel the scale and shift of `xhat` that turn the shard's input gradient into the
    /// global batch's.
    private func globalCorrection(count: Int, sumDy: Tensor, sumDyXhat: Tensor, invStd: Tensor, sum: BatchNormSum) throws
        -> (scale: [Float], shift: [Float]) {
        let device = sumDy.device
        let local = (dy: try device.read(sumDy), dyXhat: try device.read(sumDyXhat))
        let n = Double(count)
        var sums = local.dy.map(Double.init) + local.dyXhat.map(Double.init) + [n]
        try sum(&sums)
        let total = sums[2 * channels]
        let w = try device.read(weight.value), s = try device.read(invStd)
        var shift = [Float](repeating: 0, count: channels), scale = shift
        for ch in 0..<channels {
            let k = Double(w[ch]) * Double(s[ch])
            shift[ch] = Float(k * (Double(local.dy[ch]) / n - sums[ch] / total))
            scale[ch] = Float(k * (Double(local.dyXhat[ch]) / n - sums[channels + ch] / total))
        }
        return (scale, shift)
    }

    /// `gradInput += xhat scale + shift` per channel (a batch norm of the input with these scales and shifts).
    private func addCorrection(input: Tensor, gradInput: Tensor, mean: Tensor, invStd: Tensor, scale: [Float], shift: [Float]) throws {
        let device = input.device, backend = device.backend
        let correction = try device.makeTensor(input.shape)
        try backend.batchNormApply(input: input, output: correction, mean: mean, invStd: invStd,
                                   weight: device.tensor(scale, shape: [channels]), bias: device.tensor(shift, shape: [channels]),
                                   relu: false)
        try backend.axpy(alpha: 1, x: correction, y: gradInput)
    }

    /// Drop what the last training forward kept for the backward pass (shared statistics
    /// included, so that their storage returns to the pool before the next step allocates).
    public func release() {
        savedInput = nil
        savedReLUOutput = nil
        saveMean = nil
        saveInvStd = nil
        reluAppliedByReader = false
    }
}

/// Per-channel terms `b x + c` of batch-norm input gradients that a backend left for the caller
/// (`conv2dBackwardDataBatchNormReLU`), summed over every batch norm that reads the same channels
/// (DenseNet's block): `apply` adds them to the gradient once.
public struct DeferredNormGradient {
    public let scale: Tensor
    public let shift: Tensor
    /// Zeros and ones per channel: `apply` runs `batchNormApply` with mean 0 and invStd 1.
    private let zeros: Tensor, ones: Tensor

    /// Zeros for `channels` channels.
    public init(channels: Int, device: Device) throws {
        scale = try device.makeTensor([channels])
        shift = try device.makeTensor([channels])
        zeros = try device.makeTensor([channels])
        ones = try device.makeTensor([channels])
        for t in [scale, shift, zeros] { try device.backend.fill(t, value: 0) }
        try device.backend.fill(ones, value: 1)
    }

    private init(scale: Tensor, shift: Tensor, zeros: Tensor, ones: Tensor) {
        self.scale = scale
        self.shift = shift
        self.zeros = zeros
        self.ones = ones
    }

    /// The terms of channels `range`.
    public func channels(_ range: Range<Int>) -> DeferredNormGradient {
        DeferredNormGradient(scale: scale.samples(range), shift: shift.samples(range), zeros: zeros.samples(range),
                             ones: ones.samples(range))
    }

    /// `gradInput += scale * input + shift` per channel (all channels of this value; `input` and
    /// `gradInput` NCHW with as many channels).
    public func apply(input: Tensor, gradInput: Tensor) throws {
        let device = input.device, backend = device.backend, c = scale.count
        precondition(input.rank == 4 && input.c == c && gradInput.shape == input.shape,
                     "deferred batch-norm gradient of \(c) channels for input \(input.shape), gradient \(gradInput.shape)")
        let terms = try device.makeTensor(input.shape)
        try backend.batchNormApply(input: input, output: terms, mean: zeros, invStd: ones, weight: scale, bias: shift, relu: false)
        try backend.channelCopy(from: terms, to: gradInput, accumulate: true)
    }
}
