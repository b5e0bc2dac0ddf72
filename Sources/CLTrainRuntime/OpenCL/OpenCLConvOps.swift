// Launch code of Kernels/conv.cl and the convolutions built from it and CLBlast GEMMs.
import CLTrainKernels
//
// A convolution of a chunk of nb samples is im2col (column matrix [K = Cin*kh*kw][nb*P],
// P = Ho*Wo) followed by one batched GEMM per sample; 1x1/stride-1 convolutions skip the
// column matrix. The batch is split in chunks so the scratch stays under
// `convolutionScratchBytes`.

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

    /// `columns[K][nb*P]` = the im2col matrix of the nb samples of `input`.
    func conv2dIm2col(input: Tensor, columns: Tensor, shape s: ConvShape) throws {
        let nb = input.n
        try launchElements(.conv, "conv2d_im2col", count: s.k * nb * s.p,
                           Self.args(Self.strided(input), [.tensor(columns)], s.arguments(samples: nb)))
    }

    /// `gradInput (+)=` col2im(`columns`) for the nb samples of `gradInput`.
    func conv2dCol2im(columns: Tensor, gradInput: Tensor, shape s: ConvShape, accumulate: Bool) throws {
        let nb = gradInput.n
        try launchElements(.conv, "conv2d_col2im", count: nb * s.cin * s.h * s.w,
                           Self.args([.tensor(columns)], Self.strided(gradInput), s.arguments(samples: nb), [.int(accumulate ? 1 : 0)]))
    }

    /// `output[C][nb*P]` = the nb samples of `input` ([nb][C][P]) with channels first.
    func conv2dNchwToCnhw(input: Tensor, output: Tensor) throws {
        let (nb, c, p) = (input.n, input.c, input.h * input.w)
        precondition(output.count >= c * nb * p)
        try launchElements(.conv, "conv2d_nchw_to_cnhw", count: c * nb * p,
                           Self.args(Self.strided(input), [.tensor(output), .int(nb), .int(c), .int(p)]))
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

    // MARK: Ops

    /// `inputNorm` applied to `input`, into a new tensor (the convolutions then read that).
    func normalized(_ input: Tensor, by norm: BatchNormReLU) throws -> Tensor {
        precondition(norm.channels == input.c, "batch norm + ReLU of \(norm.channels) channels for an input of \(input.shape)")
        let output = try input.device.makeTensor(input.shape)
        try batchNormApply(input: input, output: output, mean: norm.mean, invStd: norm.invStd, weight: norm.weight, bias: norm.bias,
                           relu: true)
        return output
    }

    public func conv2dForward(input: Tensor, weight: Tensor, bias: Tensor?, output: Tensor, geometry: Conv2dGeometry,
                              inputNorm: BatchNormReLU?) throws {
        let input = try inputNorm.map { try normalized(input, by: $0) } ?? input
        let s = ConvShape(input: input, weight: weight, output: output, geometry: geometry)
        if geometry.isPointwise {
            // output_i (Cout x P) = W (Cout x Cin) * input_i (Cin x P)
            try sgemmStridedBatched(transposeA: false, transposeB: false, m: s.cout, n: s.p, k: s.cin, alpha: 1,
                                    a: weight, lda: s.cin, strideA: 0,
                                    b: input, ldb: s.p, strideB: input.sampleStride, beta: 0,
                                    c: output, ldc: s.p, strideC: output.sampleStride, batch: s.n)
        } else {
            let nb = s.chunk(floatsPerSample: s.k * s.p, budgetBytes: convolutionScratchBytes)
            let columns = try input.device.makeTensor([s.k, nb * s.p])
            for start in stride(from: 0, to: s.n, by: nb) {
                let count = min(nb, s.n - start)
                try conv2dIm2col(input: input.samples(start..<start + count), columns: columns, shape: s)
                // output_i (Cout x P) = W (Cout x K) * col_i (K x P), col_i = columns i*P..
                try sgemmStridedBatched(transposeA: false, transposeB: false, m: s.cout, n: s.p, k: s.k, alpha: 1,
                                        a: weight, lda: s.k, strideA: 0,
                                        b: columns, ldb: count * s.p, strideB: s.p, beta: 0,
                                        c: output, cOffset: start * output.sampleStride, ldc: s.p,
                                        strideC: output.sampleStride, batch: count)
            }
        }
        if let bias { try conv2dBiasForward(output: output, bias: bias) }
    }

    public func conv2dBackwardData(gradOutput: Tensor, weight: Tensor, gradInput: Tensor, geometry: Conv2dGeometry, accumulate: Bool) throws {
        let s = ConvShape(input: gradInput, weight: weight, output: gradOutput, geometry: geometry)
        if geometry.isPointwise {
            // gradInput_i (Cin x P) (+)= W^T (Cin x Cout) * gradOutput_i (Cout x P)
            try sgemmStridedBatched(transposeA: true, transposeB: false, m: s.cin, n: s.p, k: s.cout, alpha: 1,
                                    a: weight, lda: s.cin, strideA: 0,
                                    b: gradOutput, ldb: s.p, strideB: gradOutput.sampleStride, beta: accumulate ? 1 : 0,
                                    c: gradInput, ldc: s.p, strideC: gradInput.sampleStride, batch: s.n)
            return
        }
        let nb = s.chunk(floatsPerSample: s.k * s.p, budgetBytes: convolutionScratchBytes)
        let columns = try gradInput.device.makeTensor([s.k, nb * s.p])
        for start in stride(from: 0, to: s.n, by: nb) {
            let count = min(nb, s.n - start)
            // col_i (K x P) = W^T (K x Cout) * gradOutput_i (Cout x P)
            try sgemmStridedBatched(transposeA: true, transposeB: false, m: s.k, n: s.p, k: s.cout, alpha: 1,
                                    a: weight, lda: s.k, strideA: 0,
                                    b: gradOutput, bOffset: start * gradOutput.sampleStride, ldb: s.p,
                                    strideB: gradOutput.sampleStride, beta: 0,
                                    c: columns, ldc: count * s.p, strideC: s.p, batch: count)
            try conv2dCol2im(columns: columns, gradInput: gradInput.samples(start..<start + count), shape: s, accumulate: accumulate)
        }
    }

    public func conv2dBackwardWeight(input: Tensor, gradOutput: Tensor, gradWeight: Tensor, gradBias: Tensor?, geometry: Conv2dGeometry,
                                     inputNorm: BatchNormReLU?) throws {
        let input = try inputNorm.map { try normalized(input, by: $0) } ?? input
        let s = ConvShape(input: input, weight: gradWeight, output: gradOutput, geometry: geometry)
        let nb = s.chunk(floatsPerSample: (s.k + s.cout) * s.p, budgetBytes: convolutionScratchBytes)
        // With one sample per chunk a sample's gradOutput (and a pointwise input) already is the
        // [C][P] matrix the GEMM wants; otherwise transpose the chunk to [C][nb*P].
        let single = nb == 1
        let gradOutputT: Tensor? = single ? nil : try input.device.makeTensor([s.cout, nb * s.p])
        let columns: Tensor? = single && geometry.isPointwise ? nil : try input.device.makeTensor([s.k, nb * s.p])
        for start in stride(from: 0, to: s.n, by: nb) {
            let count = min(nb, s.n - start)
            let x = input.samples(start..<start + count)
            let dy = gradOutput.samples(start..<start + count)
            let a: Tensor, b: Tensor
            if let gradOutputT {
                try conv2dNchwToCnhw(input: dy, output: gradOutputT)
                a = gradOutputT
            } else {
                a = dy
            }
            if let columns {
                if geometry.isPointwise {
                    try conv2dNchwToCnhw(input: x, output: columns)
                } else {
                    try conv2dIm2col(input: x, columns: columns, shape: s)
                }
                b = columns
            } else {
                b = x
            }
            // gradWeight (Cout x K) += dyT (Cout x count*P) * col^T (count*P x K)
            let inner = count * s.p
            try sgemm(transposeA: false, transposeB: true, m: s.cout, n: s.k, k: inner, alpha: 1,
                      a: a, lda: inner, b: b, ldb: inner, beta: 1, c: gradWeight, ldc: s.k)
        }
        if let gradBias { try conv2dBiasBackward(gradOutput: gradOutput, gradBias: gradBias) }
    }
}
