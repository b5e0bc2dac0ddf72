// A new op touches these places, each under the op family's one file stem (conv, pool, concat,
// norm, elementwise, linear, loss, optim):
// 1. its requirement in the `Backend` protocol below, with its shapes and accumulate rule;
// 2. the CPU version, `CPU/CPU<Family>.swift`, under the same name;
// 3. the OpenCL kernel, `Kernels/<family>.cl`, named as the op in snake case, and its launch
//    code, `OpenCL/OpenCL<Family>Ops.swift`, under the op's name (an op launched in passes names
//    each kernel after the op and its part: conv2d_im2col, conv2d_col2im; one kernel
//    that serves both directions of an op takes the op's stem: dropout);
// 4. the profiling wrapper, `CLTrainCheck/ProfiledBackend.swift` (its family and FLOPs);
// 5. its case in `CLTrainCheck/OpCatalog.swift`, and its shapes in `KernelSuites` (what
//    `bench kernels --check` and the OpenCL-vs-CPU tests run);
// 6. its finite-difference check, `Tests/CLTrainRuntimeTests/GradientCheckTests.swift`, where it
//    has a backward.

/// What a device is, as a backend reports it.
public struct DeviceInfo: Sendable, Codable, Equatable {
    public enum Kind: String, Sendable, Codable { case cpu, gpu, accelerator, other }
    /// "cpu" for the native backend, "opencl" for an OpenCL device.
    public var backend: String
    public var name: String
    public var vendor: String
    public var driver: String
    public var kind: Kind
    public var computeUnits: Int
    public var globalMemoryBytes: Int
    public var maxAllocationBytes: Int
    public var maxWorkGroupSize: Int

    public init(backend: String, name: String, vendor: String, driver: String, kind: Kind,
                computeUnits: Int, globalMemoryBytes: Int, maxAllocationBytes: Int, maxWorkGroupSize: Int) {
        self.backend = backend; self.name = name; self.vendor = vendor; self.driver = driver; self.kind = kind
        self.computeUnits = computeUnits; self.globalMemoryBytes = globalMemoryBytes
        self.maxAllocationBytes = maxAllocationBytes; self.maxWorkGroupSize = maxWorkGroupSize
    }
}

/// The one narrow interface both backends implement: raw memory, copies, and the ops.
///
/// Conventions every op follows:
/// - Tensors are float32 views on this backend's device. 4-D tensors are NCHW; every tensor is
///   *sample-contiguous* (all axes after the first dense) while its sample stride (first-axis
///   stride) may be larger, so channel slices of a bigger tensor are valid inputs and outputs.
/// - `accumulate: true` adds the result into the destination (`dst += result`), `false`
///   overwrites it (and never reads it, so it may hold garbage). Parameter gradients always
///   accumulate; callers zero them before a step.
/// - Input and output may not overlap unless an op says so.
/// - Ops are enqueued in order; `synchronize()` waits for all of them. Reads wait implicitly.
public protocol Backend: RawAllocator {
    var info: DeviceInfo { get }
    /// The backend that owns the memory: itself, or the one a wrapper (`ProfiledBackend`) runs.
    var underlying: any Backend { get }
    /// Chooses among this backend's algorithms for an op at a shape (the convolutions' candidates),
    /// by timing them here; `Autotuner.off()` where the backend has one algorithm per op.
    var tuner: Autotuner { get }

    // MARK: Memory
    /// Copy `bytes` bytes from host memory into `buffer` at byte `offset`; returns when the host
    /// memory may be reused.
    func write(from source: UnsafeRawPointer, to buffer: RawBuffer, offset: Int, bytes: Int) throws
    /// Copy `bytes` bytes of `buffer` at byte `offset` into host memory, waiting for pending work.
    func read(from buffer: RawBuffer, offset: Int, bytes: Int, into destination: UnsafeMutableRawPointer) throws
    /// Wait for every enqueued op.
    func synchronize() throws

    // MARK: Basic
    /// Set every element of `tensor` to `value`.
    func fill(_ tensor: Tensor, value: Float) throws
    /// `output = a + b` element-wise (same shapes; `output` may be `a` or `b`).
    func add(_ a: Tensor, _ b: Tensor, output: Tensor) throws
    /// `y += alpha * x` element-wise (same shapes; `x` may be `y`, which scales `y` by 1 + alpha: how
    /// AdamW's decay, gradient clipping and the weights' moving average scale in place).
    func axpy(alpha: Float, x: Tensor, y: Tensor) throws
    /// Copy `source` into `destination` (same shapes, both sample-contiguous, any sample strides),
    /// or add it when `accumulate`. Concatenation writes each input into a channel slice with
    /// it; its backward (split) reads each slice back out.
    func channelCopy(from source: Tensor, to destination: Tensor, accumulate: Bool) throws

    /// Row-major single-precision GEMM on the raw storages of the tensors:
    /// `C = alpha * op(A) * op(B) + beta * C`, with `op(A)` m x k, `op(B)` k x n, offsets and
    /// leading dimensions in elements, relative to each tensor's `offset`.
    func sgemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
               a: Tensor, lda: Int, b: Tensor, ldb: Int, beta: Float, c: Tensor, ldc: Int) throws

    // MARK: Convolution
    /// `output[N, Cout, Ho, Wo] = conv(input[N, Cin, H, W], weight[Cout, Cin, kh, kw]) + bias[Cout]`;
    /// with `inputNorm`, the convolution of `inputNorm` applied to `input` (which stays as it is).
    func conv2dForward(input: Tensor, weight: Tensor, bias: Tensor?, output: Tensor, geometry: Conv2dGeometry,
                       inputNorm: BatchNormReLU?) throws
    /// Gradient of the input: `gradInput (+)= conv^T(gradOutput, weight)`.
    func conv2dBackwardData(gradOutput: Tensor, weight: Tensor, gradInput: Tensor, geometry: Conv2dGeometry, accumulate: Bool) throws
    /// Gradients of the weights and bias, accumulated: `gradWeight += ...`, `gradBias += sum over N, H, W`;
    /// with `inputNorm`, of the convolution whose input is `inputNorm` applied to `input`.
    func conv2dBackwardWeight(input: Tensor, gradOutput: Tensor, gradWeight: Tensor, gradBias: Tensor?, geometry: Conv2dGeometry,
                              inputNorm: BatchNormReLU?) throws

    // MARK: Pooling
    /// Max pooling; padded positions never win.
    func maxPool2dForward(input: Tensor, output: Tensor, geometry: Pool2dGeometry) throws
    /// Each output's gradient goes to the first position (row-major in the window) holding its maximum.
    func maxPool2dBackward(input: Tensor, gradOutput: Tensor, gradInput: Tensor, geometry: Pool2dGeometry, accumulate: Bool) throws
    /// Average pooling; padded zeros count in the divisor (PyTorch's `count_include_pad=True`).
    func avgPool2dForward(input: Tensor, output: Tensor, geometry: Pool2dGeometry) throws
    func avgPool2dBackward(gradOutput: Tensor, gradInput: Tensor, geometry: Pool2dGeometry, accumulate: Bool) throws
    /// `output[N, C] = mean over H, W of input[N, C, H, W]` (output may be N x C x 1 x 1 too).
    func globalAvgPoolForward(input: Tensor, output: Tensor) throws
    func globalAvgPoolBackward(gradOutput: Tensor, gradInput: Tensor, accumulate: Bool) throws

    // MARK: Normalisation and activation
    /// Training-mode batch norm over N, H, W per channel. Writes `output`, the batch mean and
    /// 1/sqrt(biased var + eps) into `saveMean`/`saveInvStd` (C each), and updates the running
    /// statistics: `running = (1 - momentum) * running + momentum * batch`, unbiased variance.
    /// With `relu`, `output = max(0, batch norm)`: BN and the ReLU after it in one pass.
    func batchNormForwardTraining(input: Tensor, output: Tensor, weight: Tensor, bias: Tensor,
                                  runningMean: Tensor, runningVar: Tensor, saveMean: Tensor, saveInvStd: Tensor,
                                  momentum: Float, epsilon: Float, relu: Bool) throws
    /// Per-channel batch statistics alone: mean, 1/sqrt(biased var + eps) and the unbiased variance
    /// (C each), as `batchNormForwardTraining` computes them; for channels that several batch norms
    /// read (DenseNet's blocks compute each channel's once).
    func batchNormStatistics(input: Tensor, mean: Tensor, invStd: Tensor, unbiasedVariance: Tensor, epsilon: Float) throws
    /// `output = (input - mean) * invStd * weight + bias` (then `max(0, ·)` with `relu`) with the
    /// statistics a training forward saved: bitwise that forward's output again, as a
    /// convolution's `inputNorm` and a backward's `ReLUMask.input` find it.
    func batchNormApply(input: Tensor, output: Tensor, mean: Tensor, invStd: Tensor, weight: Tensor, bias: Tensor, relu: Bool) throws
    /// Eval-mode batch norm with the running statistics (then `max(0, ·)` with `relu`).
    func batchNormForwardInference(input: Tensor, output: Tensor, weight: Tensor, bias: Tensor,
                                   runningMean: Tensor, runningVar: Tensor, epsilon: Float, relu: Bool) throws
    /// Backward of training-mode batch norm: `gradInput (+)=`, `gradWeight +=`, `gradBias +=`.
    /// `relu`: the forward had a fused ReLU; `gradOutput` is then the gradient after the ReLU and
    /// counts only where the forward's output was positive (see `ReLUMask`).
    func batchNormBackward(input: Tensor, gradOutput: Tensor, gradInput: Tensor, weight: Tensor,
                           saveMean: Tensor, saveInvStd: Tensor, gradWeight: Tensor, gradBias: Tensor,
                           relu: ReLUMask?, accumulate: Bool) throws
    /// The input gradient of a convolution that read `norm`'s BN-ReLU of `input`
    /// (`conv2dForward(..., inputNorm:)`), carried on through that batch norm: `gradWeight +=`,
    /// `gradBias +=` (the batch norm's) and `gradInput +=` the input gradient, as
    /// `conv2dBackwardData` then `batchNormBackward` (relu `.input`) would give. The batch norm's
    /// input gradient is `a dy + b x + c` per channel; a backend may add only `a dy` and add
    /// `b` and `c` into `deferredScale` and `deferredShift` instead ([C] each), for the caller
    /// to apply once for several batch norms of the same input (DenseNet's block): it returns
    /// whether it did. The default runs the two ops and defers nothing.
    func conv2dBackwardDataBatchNormReLU(gradOutput: Tensor, weight: Tensor, geometry: Conv2dGeometry, input: Tensor,
                                         norm: BatchNormReLU, gradInput: Tensor, gradWeight: Tensor, gradBias: Tensor,
                                         deferredScale: Tensor, deferredShift: Tensor) throws -> Bool
    /// `output = max(input, 0)`; `output` may be `input`.
    func reluForward(input: Tensor, output: Tensor) throws
    /// `gradInput (+)= gradOutput * (output > 0)`, from the forward's output; `gradInput` may be
    /// `gradOutput` (the gradient is then masked in place).
    func reluBackward(output: Tensor, gradOutput: Tensor, gradInput: Tensor, accumulate: Bool) throws

    /// Inverted dropout: `output = input * keep / (1 - p)`, where element `i` (its index in the dense
    /// `[N, ...]` layout) is dropped when `DropoutMask.drops(seed:index:probability:)`: a hash of
    /// (seed, i), so both backends drop the same elements and backward recomputes the mask.
    /// `output` may be `input`.
    func dropoutForward(input: Tensor, output: Tensor, probability: Float, seed: UInt32) throws
    /// `gradInput (+)= gradOutput * keep / (1 - p)` with the forward's mask; `gradInput` may be `gradOutput`.
    func dropoutBackward(gradOutput: Tensor, gradInput: Tensor, probability: Float, seed: UInt32, accumulate: Bool) throws

    // MARK: Linear
    /// `output[N, out] = input[N, in] * weight[out, in]^T + bias[out]`.
    func linearForward(input: Tensor, weight: Tensor, bias: Tensor?, output: Tensor) throws
    /// `gradInput (+)= gradOutput * weight`.
    func linearBackwardData(gradOutput: Tensor, weight: Tensor, gradInput: Tensor, accumulate: Bool) throws
    /// `gradWeight += gradOutput^T * input`, `gradBias += sum over N of gradOutput`.
    func linearBackwardWeight(input: Tensor, gradOutput: Tensor, gradWeight: Tensor, gradBias: Tensor?) throws

    // MARK: Loss
    /// Per-sample softmax cross-entropy. `labels[N]` holds class indices as floats. Writes
    /// `probabilities[N, C]` (softmax) and `losses[N]`: -Σ_j q_j log p_j against the target
    /// q = (1 - ε) onehot(label) + ε / C, ε being `labelSmoothing` (PyTorch's `label_smoothing`;
    /// 0: -log p[label]).
    func softmaxCrossEntropyForward(logits: Tensor, labels: Tensor, probabilities: Tensor, losses: Tensor, labelSmoothing: Float) throws
    /// `gradLogits = scale * (probabilities - q)`, q the smoothed target above; scale is 1/N for a batch mean.
    func softmaxCrossEntropyBackward(probabilities: Tensor, labels: Tensor, gradLogits: Tensor, scale: Float, labelSmoothing: Float) throws

    // MARK: Optimizers (all tensors of one parameter, same shape)
    /// `d = grad + wd * param; buf = momentum * buf + d; d = nesterov ? d + momentum * buf : buf; param -= lr * d`.
    func sgdUpdate(parameter: Tensor, gradient: Tensor, momentumBuffer: Tensor, hyper: SGDParameters) throws
    /// `g = grad + wd * param; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
    /// param -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)`.
    func adamUpdate(parameter: Tensor, gradient: Tensor, firstMoment: Tensor, secondMoment: Tensor, hyper: AdamParameters) throws
}

extension Backend {
    public var underlying: any Backend { self }
}

/// Batch norm without a fused ReLU.
extension Backend {
    public func batchNormForwardTraining(input: Tensor, output: Tensor, weight: Tensor, bias: Tensor,
                                         runningMean: Tensor, runningVar: Tensor, saveMean: Tensor, saveInvStd: Tensor,
                                         momentum: Float, epsilon: Float) throws {
        try batchNormForwardTraining(input: input, output: output, weight: weight, bias: bias, runningMean: runningMean,
                                     runningVar: runningVar, saveMean: saveMean, saveInvStd: saveInvStd,
                                     momentum: momentum, epsilon: epsilon, relu: false)
    }

    public func batchNormForwardInference(input: Tensor, output: Tensor, weight: Tensor, bias: Tensor,
                                          runningMean: Tensor, runningVar: Tensor, epsilon: Float) throws {
        try batchNormForwardInference(input: input, output: output, weight: weight, bias: bias, runningMean: runningMean,
                                      runningVar: runningVar, epsilon: epsilon, relu: false)
    }

    public func batchNormBackward(input: Tensor, gradOutput: Tensor, gradInput: Tensor, weight: Tensor,
                                  saveMean: Tensor, saveInvStd: Tensor, gradWeight: Tensor, gradBias: Tensor, accumulate: Bool) throws {
        try batchNormBackward(input: input, gradOutput: gradOutput, gradInput: gradInput, weight: weight, saveMean: saveMean,
                              saveInvStd: saveInvStd, gradWeight: gradWeight, gradBias: gradBias, relu: nil, accumulate: accumulate)
    }

    /// The backward of a batch norm whose fused ReLU gave `reluOutput` (nil: no ReLU).
    public func batchNormBackward(input: Tensor, gradOutput: Tensor, gradInput: Tensor, weight: Tensor,
                                  saveMean: Tensor, saveInvStd: Tensor, gradWeight: Tensor, gradBias: Tensor,
                                  reluOutput: Tensor?, accumulate: Bool) throws {
        try batchNormBackward(input: input, gradOutput: gradOutput, gradInput: gradInput, weight: weight, saveMean: saveMean,
                              saveInvStd: saveInvStd, gradWeight: gradWeight, gradBias: gradBias, relu: reluOutput.map { .output($0) },
                              accumulate: accumulate)
    }
}

extension Backend {
    public func conv2dBackwardDataBatchNormReLU(gradOutput: Tensor, weight: Tensor, geometry: Conv2dGeometry, input: Tensor,
                                                norm: BatchNormReLU, gradInput: Tensor, gradWeight: Tensor, gradBias: Tensor,
                                                deferredScale: Tensor, deferredShift: Tensor) throws -> Bool {
        try unfusedConv2dBackwardDataBatchNormReLU(gradOutput: gradOutput, weight: weight, geometry: geometry, input: input, norm: norm,
                                                   gradInput: gradInput, gradWeight: gradWeight, gradBias: gradBias)
        return false
    }

    /// `conv2dBackwardDataBatchNormReLU` as its two ops, through a scratch gradient.
    public func unfusedConv2dBackwardDataBatchNormReLU(gradOutput: Tensor, weight: Tensor, geometry: Conv2dGeometry, input: Tensor,
                                                       norm: BatchNormReLU, gradInput: Tensor, gradWeight: Tensor, gradBias: Tensor) throws {
        let normalizedGradient = try input.device.makeTensor(input.shape)
        try conv2dBackwardData(gradOutput: gradOutput, weight: weight, gradInput: normalizedGradient, geometry: geometry, accumulate: false)
        try batchNormBackward(input: input, gradOutput: normalizedGradient, gradInput: gradInput, weight: norm.weight, saveMean: norm.mean,
                              saveInvStd: norm.invStd, gradWeight: gradWeight, gradBias: gradBias, relu: .input(bias: norm.bias),
                              accumulate: true)
    }
}

/// Convolutions of the input as it is.
extension Backend {
    public func conv2dForward(input: Tensor, weight: Tensor, bias: Tensor?, output: Tensor, geometry: Conv2dGeometry) throws {
        try conv2dForward(input: input, weight: weight, bias: bias, output: output, geometry: geometry, inputNorm: nil)
    }

    public func conv2dBackwardWeight(input: Tensor, gradOutput: Tensor, gradWeight: Tensor, gradBias: Tensor?,
                                     geometry: Conv2dGeometry) throws {
        try conv2dBackwardWeight(input: input, gradOutput: gradOutput, gradWeight: gradWeight, gradBias: gradBias, geometry: geometry,
                                 inputNorm: nil)
    }
}

extension Backend {
    /// Softmax cross-entropy without label smoothing.
    public func softmaxCrossEntropyForward(logits: Tensor, labels: Tensor, probabilities: Tensor, losses: Tensor) throws {
        try softmaxCrossEntropyForward(logits: logits, labels: labels, probabilities: probabilities, losses: losses, labelSmoothing: 0)
    }

    /// Its backward without label smoothing.
    public func softmaxCrossEntropyBackward(probabilities: Tensor, labels: Tensor, gradLogits: Tensor, scale: Float) throws {
        try softmaxCrossEntropyBackward(probabilities: probabilities, labels: labels, gradLogits: gradLogits, scale: scale, labelSmoothing: 0)
    }
}
