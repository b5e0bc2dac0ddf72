// Launch code of Kernels/conv_implicit_gemm.cl: the three convolution ops as tiled GEMMs that
// read the input (and gradOutput) in place, built once per tile configuration.
import CLTrainKernels
import COpenCL

/// One tile configuration of the implicit-GEMM kernels, passed to the compiler as `-D` defines:
/// a work-group computes a `tileM` x `tileN` tile of the GEMM (output channels x positions taken
/// across the batch), stepping through the reduction `tileK` at a time with both operand tiles
/// staged in local memory; each work-item keeps `workM` x `workN` results in registers, in runs of
/// `vector` neighbours that it reads from the staged tiles with one vector load each. Without
/// `localMemory` each work-item reads its operands from global memory with no barrier (what a CPU
/// device runs best).
struct ImplicitGemmConfiguration: Hashable, Sendable, CustomStringConvertible {
    var tileM: Int, tileN: Int, tileK: Int
    var workM: Int, workN: Int
    var localMemory = true
    /// 1, 2 or 4: the kernels' VEC.
    var vector = 1

    /// Work-items per work-group.
    var threads: Int { (tileM / workM) * (tileN / workN) }

    /// Local memory of the two operand tiles (each row padded by one float against bank conflicts).
    var localBytes: Int { (tileK * (tileM + 1) + tileK * (tileN + 1)) * MemoryLayout<Float>.stride }

    var defines: String {
        "-D TM=\(tileM) -D TN=\(tileN) -D TK=\(tileK) -D WM=\(workM) -D WN=\(workN) -D LDS=\(localMemory ? 1 : 0) -D VEC=\(vector)"
    }

    var description: String {
        let tiles = localMemory ? "\(tileM)x\(tileN)x\(tileK)/\(workM)x\(workN)" : "direct \(tileM)x\(tileN)/\(workM)x\(workN)"
        return vector == 1 ? tiles : tiles + " v\(vector)"
    }

    /// Whether the kernels' loading scheme holds: every work-item keeps one GEMM column (forward,
    /// input gradient) and one reduction row (weight gradient) for all its loads; vector runs
    /// divide each work-item's results, and only staged tiles are read by vector.
    var isValid: Bool {
        tileM % workM == 0 && tileN % workN == 0 && threads % tileN == 0 && threads % tileK == 0
            && [1, 2, 4].contains(vector) && workM % vector == 0 && workN % vector == 0 && (localMemory || vector == 1)
    }

    /// Every configuration the tuner may try, before the device's limits: small-M tiles for
    /// DenseNet's 12- and 32-channel layers, square and wide tiles for the larger ones.
    static let all: [ImplicitGemmConfiguration] = [
        .init(tileM: 16, tileN: 64, tileK: 16, workM: 2, workN: 4),
        .init(tileM: 32, tileN: 64, tileK: 8, workM: 4, workN: 4),
        .init(tileM: 64, tileN: 64, tileK: 8, workM: 4, workN: 4),
        .init(tileM: 8, tileN: 128, tileK: 16, workM: 1, workN: 8),
        .init(tileM: 32, tileN: 32, tileK: 16, workM: 2, workN: 2),
        .init(tileM: 64, tileN: 128, tileK: 8, workM: 8, workN: 8),
        .init(tileM: 64, tileN: 64, tileK: 8, workM: 4, workN: 4, vector: 4),
        .init(tileM: 64, tileN: 128, tileK: 8, workM: 8, workN: 8, vector: 4),
        .init(tileM: 16, tileN: 64, tileK: 16, workM: 2, workN: 4, vector: 2),
        .init(tileM: 16, tileN: 64, tileK: 16, workM: 4, workN: 4, localMemory: false),
        .init(tileM: 8, tileN: 128, tileK: 16, workM: 2, workN: 4, localMemory: false),
        .init(tileM: 32, tileN: 64, tileK: 16, workM: 8, workN: 4, localMemory: false),
    ]

    /// The staged configurations a CPU device tries: on PoCL the other four never won a shape of
    /// DenseNet or DRN (measured at batch 64) and each costs a minute of tuning per model there.
    static let cpuStaged: Set<ImplicitGemmConfiguration> = [
        .init(tileM: 16, tileN: 64, tileK: 16, workM: 2, workN: 4),
        .init(tileM: 64, tileN: 128, tileK: 8, workM: 8, workN: 8),
    ]

    /// The configurations `backend`'s device can run (work-group size and local memory within its
    /// limits), the rule first: on a CPU device the direct ones lead, and only `cpuStaged` of the
    /// staged ones follow unless the backend tries every configuration (the checks on PoCL do, so
    /// that what a GPU may pick is checked too).
    static func candidates(for backend: OpenCLBackend) -> [ImplicitGemmConfiguration] {
        let fitting = all.filter {
            $0.isValid && $0.threads <= backend.info.maxWorkGroupSize && (!$0.localMemory || $0.localBytes <= backend.localMemoryBytes)
        }
        guard backend.info.kind == .cpu, !backend.triesEveryConfiguration else { return fitting }
        return fitting.filter { !$0.localMemory } + fitting.filter { $0.localMemory && cpuStaged.contains($0) }
    }
}

extension OpenCLBackend {
    /// Throws when `c.threads` is not a multiple of the kernel's preferred work-group multiple (the
    /// device's SIMD width: lanes would idle in every wave): the tuner then skips the configuration.
    /// A group over the kernel's limit is refused by `launch` itself, for every kernel.
    private func checkGroupSize(_ name: String, _ c: ImplicitGemmConfiguration) throws {
        let multiple = try kernel(.convImplicitGemm, name, defines: c.defines).preferredGroupMultiple
        if c.threads % multiple != 0 {
            throw OpenCLError("\(name) with tiles \(c): \(c.threads) work-items are not a multiple of the device's \(multiple)",
                              CL_INVALID_WORK_GROUP_SIZE)
        }
    }

    /// The input normalisation's four per-channel tensors as kernel arguments (the input itself
    /// when absent: never read then), and its flag.
    func normArguments(_ norm: BatchNormReLU?, input: Tensor) -> [KernelArgument] {
        if let norm {
            precondition(norm.channels == input.c, "batch norm + ReLU of \(norm.channels) channels for an input of \(input.shape)")
            return [.tensor(norm.mean), .tensor(norm.invStd), .tensor(norm.weight), .tensor(norm.bias), .int(1)]
        }
        return [.tensor(input), .tensor(input), .tensor(input), .tensor(input), .int(0)]
    }

    /// `output = conv(inputNorm(input), weight) + bias` as one GEMM of M = Cout, N = n x Ho x Wo,
    /// K = Cin x kh x kw, whose B operand is gathered from the input as the tiles load.
    func conv2dForwardImplicitGemm(input: Tensor, weight: Tensor, bias: Tensor?, output: Tensor, shape s: ConvShape,
                                   inputNorm: BatchNormReLU?, configuration c: ImplicitGemmConfiguration) throws {
        let columns = s.n * s.p
        try checkGroupSize("conv2d_forward_implicit_gemm", c)
        try launch(.convImplicitGemm, "conv2d_forward_implicit_gemm", defines: c.defines,
                   global: [(columns + c.tileN - 1) / c.tileN * c.threads, (s.cout + c.tileM - 1) / c.tileM], local: [c.threads, 1],
                   Self.args(Self.strided(input), [.tensor(weight)], Self.strided(output),
                             [.tensor(bias ?? weight), .int(bias == nil ? 0 : 1)], normArguments(inputNorm, input: input),
                             s.arguments(samples: s.n), [.int(s.cout)]))
    }

    /// `gradInput (+)= conv^T(gradOutput, weight)` as one GEMM of M = Cin, N = n x H x W,
    /// K = Cout x kh x kw, gathering gradOutput where a tap of the forward read the position.
    func conv2dBackwardDataImplicitGemm(gradOutput: Tensor, weight: Tensor, gradInput: Tensor, shape s: ConvShape,
                                        accumulate: Bool, configuration c: ImplicitGemmConfiguration) throws {
        let columns = s.n * s.h * s.w
        try checkGroupSize("conv2d_backward_data_implicit_gemm", c)
        try launch(.convImplicitGemm, "conv2d_backward_data_implicit_gemm", defines: c.defines,
                   global: [(columns + c.tileN - 1) / c.tileN * c.threads, (s.cin + c.tileM - 1) / c.tileM], local: [c.threads, 1],
                   Self.args(Self.strided(gradOutput), [.tensor(weight)], Self.strided(gradInput),
                             s.arguments(samples: s.n), [.int(s.cout), .int(accumulate ? 1 : 0)]))
    }

    /// `gradWeight += gradOutput x im2col(inputNorm(input))^T` as a GEMM of M = Cout,
    /// N = Cin x kh x kw, K = n x Ho x Wo. The reduction is split in slices across work-groups
    /// when the tiles alone would leave the device idle; each slice writes its partial sums and a
    /// second kernel adds them up (no float atomics).
    func conv2dBackwardWeightImplicitGemm(input: Tensor, gradOutput: Tensor, gradWeight: Tensor, shape s: ConvShape,
                                          inputNorm: BatchNormReLU?, configuration c: ImplicitGemmConfiguration) throws {
        let reduction = s.n * s.p
        let tiles = ((s.cout + c.tileM - 1) / c.tileM) * ((s.k + c.tileN - 1) / c.tileN)
        let wanted = max(1, (4 * info.computeUnits + tiles - 1) / tiles)
        let slices = max(1, min(wanted, reduction / (8 * c.tileK)))
        let sliceLength = ((reduction + slices - 1) / slices + c.tileK - 1) / c.tileK * c.tileK
        let slicesUsed = (reduction + sliceLength - 1) / sliceLength
        let partial = slicesUsed > 1 ? try gradWeight.device.makeTensor([slicesUsed, s.cout * s.k]) : nil
        try checkGroupSize("conv2d_backward_weight_implicit_gemm", c)
        try launch(.convImplicitGemm, "conv2d_backward_weight_implicit_gemm", defines: c.defines,
                   global: [(s.k + c.tileN - 1) / c.tileN * c.threads, (s.cout + c.tileM - 1) / c.tileM, slicesUsed],
                   local: [c.threads, 1, 1],
                   Self.args(Self.strided(input), Self.strided(gradOutput), [.tensor(partial ?? gradWeight), .int(partial == nil ? 1 : 0)],
                             normArguments(inputNorm, input: input), s.arguments(samples: s.n), [.int(s.cout), .int(sliceLength)]))
        if let partial {
            try launchElements(.convImplicitGemm, "conv2d_backward_weight_reduce", defines: c.defines, count: s.cout * s.k,
                               [.tensor(partial), .tensor(gradWeight), .int(slicesUsed), .int(s.cout * s.k)])
        }
    }
}
