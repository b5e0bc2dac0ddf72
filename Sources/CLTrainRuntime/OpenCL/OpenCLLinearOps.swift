// The linear layer: CLBlast GEMMs, and the bias kernels of Kernels/elementwise.cl.
import CLTrainKernels

extension OpenCLBackend {
    public func linearForward(input: Tensor, weight: Tensor, bias: Tensor?, output: Tensor) throws {
        let x = Self.samples(input), y = Self.samples(output)
        let (outFeatures, inFeatures) = (weight.shape[0], weight.count / weight.shape[0])
        precondition(x.n == y.n && x.size == inFeatures && y.size == outFeatures,
                     "linear \(input.shape) x \(weight.shape) into \(output.shape)")
        // output (N x out) = input (N x in) * weight^T (in x out)
        try sgemm(transposeA: false, transposeB: true, m: x.n, n: outFeatures, k: inFeatures, alpha: 1,
                  a: input, lda: x.stride, b: weight, ldb: inFeatures, beta: 0, c: output, ldc: y.stride)
        if let bias { try linearBiasForward(output: output, bias: bias) }
    }

    public func linearBackwardData(gradOutput: Tensor, weight: Tensor, gradInput: Tensor, accumulate: Bool) throws {
        let dy = Self.samples(gradOutput), dx = Self.samples(gradInput)
        let (outFeatures, inFeatures) = (weight.shape[0], weight.count / weight.shape[0])
        precondition(dy.n == dx.n && dy.size == outFeatures && dx.size == inFeatures, "linear backward shapes differ")
        // gradInput (N x in) (+)= gradOutput (N x out) * weight (out x in)
        try sgemm(transposeA: false, transposeB: false, m: dy.n, n: inFeatures, k: outFeatures, alpha: 1,
                  a: gradOutput, lda: dy.stride, b: weight, ldb: inFeatures, beta: accumulate ? 1 : 0,
                  c: gradInput, ldc: dx.stride)
    }

    public func linearBackwardWeight(input: Tensor, gradOutput: Tensor, gradWeight: Tensor, gradBias: Tensor?) throws {
        let x = Self.samples(input), dy = Self.samples(gradOutput)
        precondition(x.n == dy.n && gradWeight.count == x.size * dy.size, "linear weight gradient shapes differ")
        // gradWeight (out x in) += gradOutput^T (out x N) * input (N x in)
        try sgemm(transposeA: true, transposeB: false, m: dy.size, n: x.size, k: x.n, alpha: 1,
                  a: gradOutput, lda: dy.stride, b: input, ldb: x.stride, beta: 1, c: gradWeight, ldc: x.size)
        if let gradBias { try linearBiasBackward(gradOutput: gradOutput, gradBias: gradBias) }
    }

    /// `output[n, j] += bias[j]`.
    func linearBiasForward(output: Tensor, bias: Tensor) throws {
        let s = Self.samples(output)
        precondition(bias.count == s.size, "bias of \(bias.count) for \(s.size) features")
        try launchElements(.elementwise, "linear_bias_forward", count: s.n * s.size,
                           Self.args(Self.strided(output), [.tensor(bias), .int(s.n), .int(s.size)]))
    }

    /// `gradBias[j] += sum over n of gradOutput[n, j]`.
    func linearBiasBackward(gradOutput: Tensor, gradBias: Tensor) throws {
        let s = Self.samples(gradOutput)
        precondition(gradBias.count == s.size, "bias gradient of \(gradBias.count) for \(s.size) features")
        try launchElements(.elementwise, "linear_bias_backward", count: s.size,
                           Self.args(Self.strided(gradOutput), [.tensor(gradBias), .int(s.n), .int(s.size)]))
    }
}
