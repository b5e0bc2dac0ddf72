// The OpenCL convolutions: the launch code of Kernels/conv.cl, and the three convolution ops,
// each of which runs the algorithm the tuner chose for its shape among
// - the implicit-GEMM kernels of conv_implicit_gemm.cl, one per tile configuration that fits the
//   device (OpenCLConvImplicitGemmOps.swift), and
// - im2col/col2im around CLBlast GEMMs, per sample or over a chunk of samples
//   (OpenCLConvGemmOps.swift).
// The first candidate is the rule `--tune off` takes.
import CLTrainKernels

extension OpenCLBackend {
    /// Sizes of one convolution, checked against the tensors.
    struct ConvShape {
        var n, cin, h, w, cout, ho, wo: Int
        var g: Conv2dGeometry
        var p: Int { ho * wo }
        /// Rows of the column matrix: Cin * kh * kw.
        var k: Int { cin * g.kernelH * g.kernelW }

        init(input: Tensor, weight: Tensor, output: Tensor, geometry: Conv2dGeometry) {
            precondition(input.rank == 4 && output.rank == 4 && weight.rank == 4, "convolution needs NCHW tensors")
            precondition(input.isSampleContiguous && output.isSampleContiguous, "convolution needs sample-contiguous tensors")
            precondition(weight.isContiguous, "convolution weights must be contiguous")
            precondition(weight.shape == [output.c, input.c, geometry.kernelH, geometry.kernelW],
                         "weight \(weight.shape) does not map \(input.shape) to \(output.shape) with \(geometry)")
            precondition(input.n == output.n && output.h == geometry.outputHeight(input.h) && output.w == geometry.outputWidth(input.w),
                         "convolution \(geometry) of \(input.shape) cannot give \(output.shape)")
            n = input.n; cin = input.c; h = input.h; w = input.w
            cout = output.c; ho = output.h; wo = output.w
            g = geometry
        }

        /// Samples per chunk when each sample needs `floatsPerSample` floats of scratch.
        func chunk(floatsPerSample: Int, budgetBytes: Int) -> Int {
            max(1, min(n, budgetBytes / max(1, floatsPerSample * MemoryLayout<Float>.stride)))
        }

        /// The integer arguments shared by im2col and col2im.
        func arguments(samples nb: Int) -> [KernelArgument] {
            [nb, cin, h, w, ho, wo, g.kernelH, g.kernelW, g.strideH, g.strideW, g.padH, g.padW, g.dilationH, g.dilationW]
                .map { .int($0) }
        }
    }

    // MARK: Kernels

    /// `columns[K][nb*P]` = the im2col matrix of the nb samples of `inputNorm(input)`.
    func conv2dIm2col(input: Tensor, columns: Tensor, shape s: ConvShape, inputNorm: BatchNormReLU? = nil) throws {
        let nb = input.n
        precondition(columns.count >= s.k * nb * s.p, "column matrix of \(columns.count) floats for \(s.k) x \(nb * s.p)")
        try launchElements(.conv, "conv2d_im2col", count: s.k * nb * s.p,
                           Self.args(Self.strided(input), [.tensor(columns)], normArguments(inputNorm, input: input),
                                     s.arguments(samples: nb)))
    }

    /// `gradInput (+)=` col2im(`columns`) for the nb samples of `gradInput`.
    func conv2dCol2im(columns: Tensor, gradInput: Tensor, shape s: ConvShape, accumulate: Bool) throws {
        let nb = gradInput.n
        try launchElements(.conv, "conv2d_col2im", count: nb * s.cin * s.h * s.w,
                           Self.args([.tensor(columns)], Self.strided(gradInput), s.arguments(samples: nb), [.int(accumulate ? 1 : 0)]))
    }

    /// `output[C][nb*P]` = the nb samples of `inputNorm(input)` ([nb][C][P]) with channels first.
    func conv2dNchwToCnhw(input: Tensor, output: Tensor, inputNorm: BatchNormReLU? = nil) throws {
        let (nb, c, p) = (input.n, input.c, input.h * input.w)
        precondition(output.count >= c * nb * p, "\(output.count) floats for \(c) x \(nb * p)")
        try launchElements(.conv, "conv2d_nchw_to_cnhw", count: c * nb * p,
                           Self.args(Self.strided(input), [.tensor(output)], normArguments(inputNorm, input: input),
                                     [.int(nb), .int(c), .int(p)]))
    }

    /// The nb samples of `output` ([nb][C][P]) (+)= `input[C][nb*P]` (+ `bias[c]`): the inverse of
    /// conv2dNchwToCnhw, with a batch-spanning GEMM's bias and accumulation folded in.
    func conv2dCnhwToNchw(input: Tensor, output: Tensor, bias: Tensor? = nil, accumulate: Bool = false) throws {
        let (nb, c, p) = (output.n, output.c, output.h * output.w)
        precondition(input.count >= c * nb * p, "\(input.count) floats for \(c) x \(nb * p)")
        precondition(bias.map { $0.count == c } ?? true, "bias of \(bias?.count ?? 0) for \(c) channels")
        try launchElements(.conv, "conv2d_cnhw_to_nchw", count: c * nb * p,
                           Self.args([.tensor(input)], Self.strided(output), [.tensor(bias ?? input), .int(bias == nil ? 0 : 1)],
                                     [.int(nb), .int(c), .int(p), .int(accumulate ? 1 : 0)]))
    }

    /// `output[n, c, :, :] += bias[c]`.
    func conv2dBiasForward(output: Tensor, bias: Tensor) throws {
        precondition(bias.count == output.c, "bias of \(bias.count) for \(output.c) channels")
        try launchElements(.conv, "conv2d_bias_forward", count: output.count,
                           Self.args(Self.strided(output), [.tensor(bias), .int(output.n), .int(output.c), .int(output.h * output.w)]))
    }

    /// `gradBias[c] += sum over n, y, x of gradOutput[n, c, y, x]`; one work-group per channel.
    func conv2dBiasBackward(gradOutput: Tensor, gradBias: Tensor) throws {
        precondition(gradBias.count == gradOutput.c, "bias gradient of \(gradBias.count) for \(gradOutput.c) channels")
        let group = reductionGroupSize
        try launch(.conv, "conv2d_bias_backward", global: [gradOutput.c * group], local: [group],
                   Self.args(Self.strided(gradOutput), [.tensor(gradBias), .int(gradOutput.n), .int(gradOutput.c),
                                               .int(gradOutput.h * gradOutput.w), .localFloats(group)]))
    }
    /// The choice key of this convolution: every size and flag that may change the fastest algorithm.
    func key(_ pass: ConvPass, shape s: ConvShape, inputNorm: Bool = false, bias: Bool = false, accumulate: Bool = false) -> ConvChoiceKey {
        ConvChoiceKey(pass: pass, n: s.n, cin: s.cin, h: s.h, w: s.w, cout: s.cout, geometry: s.g,
                      inputNorm: inputNorm, bias: bias, accumulate: accumulate)
    }

    /// The algorithm `pass` of shape `s` runs with: the tuner's choice among the pass's candidates
    /// (rule first), timed by `run`, which must write only scratch outputs; remembered per shape
    /// and flags (`ConvChoices`).
    func choose(_ pass: ConvPass, shape s: ConvShape, inputNorm: Bool = false, bias: Bool = false, accumulate: Bool = false,
                run: (ConvAlgorithm) throws -> Void) throws -> ConvAlgorithm {
        try convolutionChoices.choose(key(pass, shape: s, inputNorm: inputNorm, bias: bias, accumulate: accumulate), tuner: tuner,
                                      candidates: { convolutionCandidates(pass) }, run: run, synchronize: { try synchronize() })
    }
}

/// How an OpenCL convolution is computed: what the tuner chooses among.
enum ConvAlgorithm: ConvolutionAlgorithm, Sendable {
    /// The tiled implicit-GEMM kernels, with one tile configuration.
    case implicitGemm(ImplicitGemmConfiguration)
    /// im2col into a column matrix, then one CLBlast GEMM per sample (m = output channels).
    case gemmPerSample
    /// One CLBlast GEMM over a chunk of samples (n = samples x positions), with the layout changes
    /// around it: fills GEMM tiles when output channels are few.
    case gemmBatched

    var name: String {
        switch self {
        case .implicitGemm(let configuration): return "implicit-gemm \(configuration)"
        case .gemmPerSample: return "im2col+clblast per sample"
        case .gemmBatched: return "im2col+clblast batched"
        }
    }
}

// MARK: - Ops

extension OpenCLBackend {
    /// The candidates of a convolution op, the rule first.
    func convolutionCandidates(_ pass: ConvPass) -> [ConvAlgorithm] {
        let tiled = ImplicitGemmConfiguration.candidates(for: self).map(ConvAlgorithm.implicitGemm)
        switch pass {
        case .forward, .backwardData: return tiled + [.gemmPerSample, .gemmBatched]
        case .backwardWeight: return tiled + [.gemmBatched]
        }
    }

    public func conv2dForward(input: Tensor, weight: Tensor, bias: Tensor?, output: Tensor, geometry: Conv2dGeometry,
                              inputNorm: BatchNormReLU?) throws {
        let s = ConvShape(input: input, weight: weight, output: output, geometry: geometry)
        func run(_ algorithm: ConvAlgorithm, _ output: Tensor) throws {
            switch algorithm {
            case .implicitGemm(let configuration):
                try conv2dForwardImplicitGemm(input: input, weight: weight, bias: bias, output: output, shape: s, inputNorm: inputNorm,
                                              configuration: configuration)
            case .gemmPerSample:
                try conv2dForwardGemmPerSample(input: input, weight: weight, bias: bias, output: output, geometry: geometry, inputNorm: inputNorm)
            case .gemmBatched:
                try conv2dForwardGemmBatched(input: input, weight: weight, bias: bias, output: output, geometry: geometry, inputNorm: inputNorm)
            }
        }
        var scratch: Tensor?
        let algorithm = try choose(.forward, shape: s, inputNorm: inputNorm != nil, bias: bias != nil) { candidate in
            if scratch == nil { scratch = try output.device.makeTensor(output.shape) }
            try run(candidate, scratch!)
        }
        try run(algorithm, output)
    }

    public func conv2dBackwardData(gradOutput: Tensor, weight: Tensor, gradInput: Tensor, geometry: Conv2dGeometry, accumulate: Bool) throws {
        let s = ConvShape(input: gradInput, weight: weight, output: gradOutput, geometry: geometry)
        func run(_ algorithm: ConvAlgorithm, _ gradInput: Tensor) throws {
            switch algorithm {
            case .implicitGemm(let configuration):
                try conv2dBackwardDataImplicitGemm(gradOutput: gradOutput, weight: weight, gradInput: gradInput, shape: s,
                                                   accumulate: accumulate, configuration: configuration)
            case .gemmPerSample:
                try conv2dBackwardDataGemmPerSample(gradOutput: gradOutput, weight: weight, gradInput: gradInput, geometry: geometry,
                                                    accumulate: accumulate)
            case .gemmBatched:
                try conv2dBackwardDataGemmBatched(gradOutput: gradOutput, weight: weight, gradInput: gradInput, geometry: geometry,
                                                  accumulate: accumulate)
            }
        }
        var scratch: Tensor?
        let algorithm = try choose(.backwardData, shape: s, accumulate: accumulate) { candidate in
            if scratch == nil { scratch = try gradInput.device.zeros(gradInput.shape) }
            try run(candidate, scratch!)
        }
        try run(algorithm, gradInput)
    }

    public func conv2dBackwardWeight(input: Tensor, gradOutput: Tensor, gradWeight: Tensor, gradBias: Tensor?, geometry: Conv2dGeometry,
                                     inputNorm: BatchNormReLU?) throws {
        let s = ConvShape(input: input, weight: gradWeight, output: gradOutput, geometry: geometry)
        func run(_ algorithm: ConvAlgorithm, _ gradWeight: Tensor) throws {
            switch algorithm {
            case .implicitGemm(let configuration):
                try conv2dBackwardWeightImplicitGemm(input: input, gradOutput: gradOutput, gradWeight: gradWeight, shape: s,
                                                     inputNorm: inputNorm, configuration: configuration)
            case .gemmPerSample, .gemmBatched:
                try conv2dBackwardWeightGemmBatched(input: input, gradOutput: gradOutput, gradWeight: gradWeight, geometry: geometry,
                                                    inputNorm: inputNorm)
            }
        }
        var scratch: Tensor?
        let algorithm = try choose(.backwardWeight, shape: s, inputNorm: inputNorm != nil) { candidate in
            if scratch == nil { scratch = try gradWeight.device.zeros(gradWeight.shape) }
            try run(candidate, scratch!)
        }
        try run(algorithm, gradWeight)
        if let gradBias { try conv2dBiasBackward(gradOutput: gradOutput, gradBias: gradBias) }
    }
}
