/// Fully connected layers as single GEMMs; an input row may be a sample of a bigger tensor
/// (its sample stride is the leading dimension).
extension CPUBackend {
    /// N, in and out of a linear call; `input` is [N, in] or any [N, ...] with `in` values per sample.
    private func linearShape(input: Tensor, weight: Tensor, output: Tensor, _ name: String) -> (n: Int, inFeatures: Int, outFeatures: Int) {
        precondition(weight.rank == 2, "\(name): weight \(weight.shape) must be [out, in]")
        let outFeatures = weight.shape[0], inFeatures = weight.shape[1]
        precondition(input.rank >= 1 && input.sampleSize == inFeatures,
                     "\(name): input \(input.shape) does not have \(inFeatures) features per sample for weight \(weight.shape)")
        precondition(output.rank >= 1 && output.shape[0] == input.shape[0] && output.sampleSize == outFeatures,
                     "\(name): output \(output.shape) should be [\(input.shape[0]), \(outFeatures)] for input \(input.shape), weight \(weight.shape)")
        return (input.shape[0], inFeatures, outFeatures)
    }

    public func linearForward(input: Tensor, weight: Tensor, bias: Tensor?, output: Tensor) throws {
        let (n, inF, outF) = linearShape(input: input, weight: weight, output: output, "linear")
        let x = pointer(input), w = dense(weight), y = pointer(output)
        if let bias {
            precondition(bias.count == outF, "linear: bias \(bias.shape) for \(outF) outputs")
            let b = dense(bias)
            for row in 0..<n { (y + row * output.sampleStride).update(from: b, count: outF) }
        }
        gemm(transposeA: false, transposeB: true, m: n, n: outF, k: inF, alpha: 1,
             a: x, lda: max(input.sampleStride, inF), b: w, ldb: inF,
             beta: bias == nil ? 0 : 1, c: y, ldc: max(output.sampleStride, outF))
    }

    public func linearBackwardData(gradOutput: Tensor, weight: Tensor, gradInput: Tensor, accumulate: Bool) throws {
        let (n, inF, outF) = linearShape(input: gradInput, weight: weight, output: gradOutput, "linearBackwardData")
        gemm(transposeA: false, transposeB: false, m: n, n: inF, k: outF, alpha: 1,
             a: pointer(gradOutput), lda: max(gradOutput.sampleStride, outF), b: dense(weight), ldb: inF,
             beta: accumulate ? 1 : 0, c: pointer(gradInput), ldc: max(gradInput.sampleStride, inF))
    }

    public func linearBackwardWeight(input: Tensor, gradOutput: Tensor, gradWeight: Tensor, gradBias: Tensor?) throws {
        let (n, inF, outF) = linearShape(input: input, weight: gradWeight, output: gradOutput, "linearBackwardWeight")
        let gy = pointer(gradOutput), gys = gradOutput.sampleStride
        gemm(transposeA: true, transposeB: false, m: outF, n: inF, k: n, alpha: 1,
             a: gy, lda: max(gys, outF), b: pointer(input), ldb: max(input.sampleStride, inF),
             beta: 1, c: dense(gradWeight), ldc: inF)
        if let gradBias {
            precondition(gradBias.count == outF, "linearBackwardWeight: gradBias \(gradBias.shape) for \(outF) outputs")
            let gb = dense(gradBias)
            for o in 0..<outF {
                var sum = 0.0
                for row in 0..<n { sum += Double(gy[row * gys + o]) }
                gb[o] += Float(sum)
            }
        }
    }
}
