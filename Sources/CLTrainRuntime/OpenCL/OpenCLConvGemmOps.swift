// The convolutions built from CLBlast GEMMs around the layout kernels of conv.cl (im2col,
// col2im, NCHW <-> [C][samples x positions]): the tuner's candidates beside the implicit-GEMM
// kernels (see OpenCLConvOps.swift).
//
// A chunk of nb samples is im2col'd into a column matrix [K = Cin*kh*kw][nb*P], P = Ho*Wo; the
// batch is split in chunks so the scratch stays under `convolutionScratchBytes`. The input's
// batch norm + ReLU is applied by the kernel that lays the input out for the GEMM; only a GEMM
// that reads the input in place (pointwise, per sample) needs a normalised copy.

extension OpenCLBackend {
    /// `inputNorm` applied to `input`, into a new tensor (the convolutions then read that).
    func normalized(_ input: Tensor, by norm: BatchNormReLU) throws -> Tensor {
        precondition(norm.channels == input.c, "batch norm + ReLU of \(norm.channels) channels for an input of \(input.shape)")
        let output = try input.device.makeTensor(input.shape)
        try batchNormApply(input: input, output: output, mean: norm.mean, invStd: norm.invStd, weight: norm.weight, bias: norm.bias,
                           relu: true)
        return output
    }

    /// Forward as im2col + one CLBlast GEMM per sample (1x1/stride 1: no column matrix).
    func conv2dForwardGemmPerSample(input: Tensor, weight: Tensor, bias: Tensor?, output: Tensor, geometry: Conv2dGeometry,
                                    inputNorm: BatchNormReLU?) throws {
        let s = ConvShape(input: input, weight: weight, output: output, geometry: geometry)
        if geometry.isPointwise {
            // The GEMM reads the input in place: normalise a copy first.
            let input = try inputNorm.map { try normalized(input, by: $0) } ?? input
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
                try conv2dIm2col(input: input.samples(start..<start + count), columns: columns, shape: s, inputNorm: inputNorm)
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

    /// Input gradient as one CLBlast GEMM per sample into a column matrix, then col2im.
    func conv2dBackwardDataGemmPerSample(gradOutput: Tensor, weight: Tensor, gradInput: Tensor, geometry: Conv2dGeometry,
                                         accumulate: Bool) throws {
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

    /// Weight gradient as one CLBlast GEMM per chunk of samples: gradOutput and the column matrix
    /// laid out [C][samples x positions], so the GEMM contracts over samples and positions at once.
    func conv2dBackwardWeightGemmBatched(input: Tensor, gradOutput: Tensor, gradWeight: Tensor, geometry: Conv2dGeometry, inputNorm: BatchNormReLU?) throws {
        let s = ConvShape(input: input, weight: gradWeight, output: gradOutput, geometry: geometry)
        let nb = s.chunk(floatsPerSample: (s.k + s.cout) * s.p, budgetBytes: convolutionScratchBytes)
        // With one sample per chunk a sample's gradOutput (and a pointwise input, unless it is to be
        // normalised) already is the [C][P] matrix the GEMM wants; otherwise lay the chunk out as
        // [C][nb*P].
        let single = nb == 1
        let gradOutputT: Tensor? = single ? nil : try input.device.makeTensor([s.cout, nb * s.p])
        let columns: Tensor? = single && geometry.isPointwise && inputNorm == nil ? nil : try input.device.makeTensor([s.k, nb * s.p])
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
                    try conv2dNchwToCnhw(input: x, output: columns, inputNorm: inputNorm)
                } else {
                    try conv2dIm2col(input: x, columns: columns, shape: s, inputNorm: inputNorm)
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
    }
}

extension OpenCLBackend {
    /// Forward as one CLBlast GEMM per chunk of samples, Cout x nb*P = W (Cout x K) * B (K x nb*P),
    /// B the chunk's column matrix (pointwise: the chunk laid out [Cin][nb*P]); a last pass writes
    /// the product back to NCHW and adds the bias.
    func conv2dForwardGemmBatched(input: Tensor, weight: Tensor, bias: Tensor?, output: Tensor, geometry: Conv2dGeometry,
                                  inputNorm: BatchNormReLU?) throws {
        let s = ConvShape(input: input, weight: weight, output: output, geometry: geometry)
        let nb = s.chunk(floatsPerSample: (s.k + s.cout) * s.p, budgetBytes: convolutionScratchBytes)
        guard nb > 1 else {
            // One sample per chunk: nothing to span, and the per-sample GEMM writes the output in place.
            return try conv2dForwardGemmPerSample(input: input, weight: weight, bias: bias, output: output, geometry: geometry,
                                                  inputNorm: inputNorm)
        }
        let operand = try input.device.makeTensor([s.k, nb * s.p])
        let product = try output.device.makeTensor([s.cout, nb * s.p])
        for start in stride(from: 0, to: s.n, by: nb) {
            let count = min(nb, s.n - start)
            let x = input.samples(start..<start + count)
            if geometry.isPointwise {
                try conv2dNchwToCnhw(input: x, output: operand, inputNorm: inputNorm)
            } else {
                try conv2dIm2col(input: x, columns: operand, shape: s, inputNorm: inputNorm)
            }
            // product (Cout x count*P) = W (Cout x K) * operand (K x count*P)
            let columns = count * s.p
            try sgemm(transposeA: false, transposeB: false, m: s.cout, n: columns, k: s.k, alpha: 1,
                      a: weight, lda: s.k, b: operand, ldb: columns, beta: 0, c: product, ldc: columns)
            try conv2dCnhwToNchw(input: product, output: output.samples(start..<start + count), bias: bias)
        }
    }

    /// Input gradient as gradOutput laid out [Cout][nb*P], one CLBlast GEMM over the chunk into the
    /// column matrix (K x nb*P = W^T * gradOutputT), then col2im (pointwise: the product is the
    /// input gradient laid out [Cin][nb*P], written back to NCHW).
    func conv2dBackwardDataGemmBatched(gradOutput: Tensor, weight: Tensor, gradInput: Tensor, geometry: Conv2dGeometry,
                                       accumulate: Bool) throws {
        let s = ConvShape(input: gradInput, weight: weight, output: gradOutput, geometry: geometry)
        let nb = s.chunk(floatsPerSample: (s.cout + s.k) * s.p, budgetBytes: convolutionScratchBytes)
        guard nb > 1 else {
            // One sample per chunk: a sample's gradOutput already is the [Cout][P] matrix.
            return try conv2dBackwardDataGemmPerSample(gradOutput: gradOutput, weight: weight, gradInput: gradInput,
                                                       geometry: geometry, accumulate: accumulate)
        }
        let gradOutputT = try gradOutput.device.makeTensor([s.cout, nb * s.p])
        let product = try gradInput.device.makeTensor([s.k, nb * s.p])
        for start in stride(from: 0, to: s.n, by: nb) {
            let count = min(nb, s.n - start)
            try conv2dNchwToCnhw(input: gradOutput.samples(start..<start + count), output: gradOutputT)
            // product (K x count*P) = W^T (K x Cout) * gradOutputT (Cout x count*P)
            let columns = count * s.p
            try sgemm(transposeA: true, transposeB: false, m: s.k, n: columns, k: s.cout, alpha: 1,
                      a: weight, lda: s.k, b: gradOutputT, ldb: columns, beta: 0, c: product, ldc: columns)
            let dx = gradInput.samples(start..<start + count)
            if geometry.isPointwise {
                try conv2dCnhwToNchw(input: product, output: dx, accumulate: accumulate)
            } else {
                try conv2dCol2im(columns: product, gradInput: dx, shape: s, accumulate: accumulate)
            }
        }
    }
}
