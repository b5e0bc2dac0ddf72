import Foundation

/// Batch normalisation (float SIMD sums over a channel's planes added into Double, one channel per task), with an
/// optional fused ReLU (ReLU alone and dropout: CPUElementwise.swift).
extension CPUBackend {
    /// N, C and the spatial size per channel of a batch-norm input ([N, C] or [N, C, H, W]).
    private func normShape(_ input: Tensor, _ others: [(String, Tensor)], channelTensors: [(String, Tensor)]) -> (n: Int, c: Int, plane: Int) {
        precondition(input.rank >= 2, "batchNorm: input \(input.shape) needs N and C axes")
        for (name, t) in others {
            precondition(t.shape == input.shape, "batchNorm: \(name) \(t.shape) differs from input \(input.shape)")
        }
        let c = input.shape[1]
        for (name, t) in channelTensors {
            precondition(t.count == c, "batchNorm: \(name) \(t.shape) should hold \(c) channel values for input \(input.shape)")
        }
        return (input.shape[0], c, input.sampleSize / max(c, 1))
    }

    public func batchNormForwardTraining(input: Tensor, output: Tensor, weight: Tensor, bias: Tensor,
                                         runningMean: Tensor, runningVar: Tensor, saveMean: Tensor, saveInvStd: Tensor,
                                         momentum: Float, epsilon: Float, relu: Bool) throws {
        let (n, c, plane) = normShape(input, [("output", output)], channelTensors: [
            ("weight", weight), ("bias", bias), ("runningMean", runningMean), ("runningVar", runningVar),
            ("saveMean", saveMean), ("saveInvStd", saveInvStd),
        ])
        let count = n * plane
        precondition(count > 1, "batchNorm: training needs more than one value per channel, input \(input.shape)")
        let x = pointer(input), y = pointer(output), xs = input.sampleStride, ys = output.sampleStride
        let w = dense(weight), b = dense(bias), rm = dense(runningMean), rv = dense(runningVar)
        let sm = dense(saveMean), si = dense(saveInvStd)
        let m = Double(momentum)
        parallel.forEach(c, cost: 3 * count) { ch in
            let (mean, variance) = channelStatistics(x, sampleStride: xs, n: n, plane: plane, channel: ch)
            let invStd = 1 / (variance + Double(epsilon)).squareRoot()
            // Scale and shift from the saved (float) statistics, as batchNormApply computes them.
            let (scale, shift) = BatchNormReLU.scaleShift(mean: Float(mean), invStd: Float(invStd), weight: w[ch], bias: b[ch])
            SIMDReduction.affine(x + ch * plane, stride: xs, into: y + ch * plane, stride: ys, plane, runs: n, scale: scale, shift: shift,
                                 relu: relu)
            sm[ch] = Float(mean)
            si[ch] = Float(invStd)
            rm[ch] = Float((1 - m) * Double(rm[ch]) + m * mean)
            rv[ch] = Float((1 - m) * Double(rv[ch]) + m * variance * Double(count) / Double(count - 1))
        }
    }

    /// Mean and biased variance of one channel: two passes (mean, then squared deviations) over
    /// its plane in every sample, in float SIMD lanes added into Double.
    private func channelStatistics(_ x: UnsafeMutablePointer<Float>, sampleStride xs: Int, n: Int, plane: Int, channel ch: Int)
        -> (mean: Double, variance: Double) {
        let mean = SIMDReduction.sum(x + ch * plane, plane, runs: n, stride: xs) / Double(n * plane)
        let squares = SIMDReduction.squaredDeviations(x + ch * plane, plane, runs: n, stride: xs, from: Float(mean))
        return (mean, squares / Double(n * plane))
    }

    public func batchNormStatistics(input: Tensor, mean: Tensor, invStd: Tensor, unbiasedVariance: Tensor, epsilon: Float) throws {
        let (n, c, plane) = normShape(input, [], channelTensors: [("mean", mean), ("invStd", invStd), ("unbiasedVariance", unbiasedVariance)])
        let count = n * plane
        precondition(count > 1, "batchNorm: statistics need more than one value per channel, input \(input.shape)")
        let x = pointer(input), xs = input.sampleStride
        let sm = dense(mean), si = dense(invStd), sv = dense(unbiasedVariance)
        parallel.forEach(c, cost: 2 * count) { ch in
            let (m, variance) = channelStatistics(x, sampleStride: xs, n: n, plane: plane, channel: ch)
            sm[ch] = Float(m)
            si[ch] = Float(1 / (variance + Double(epsilon)).squareRoot())
            sv[ch] = Float(variance * Double(count) / Double(count - 1))
        }
    }

    public func batchNormApply(input: Tensor, output: Tensor, mean: Tensor, invStd: Tensor, weight: Tensor, bias: Tensor, relu: Bool) throws {
        let (n, c, plane) = normShape(input, [("output", output)], channelTensors: [
            ("mean", mean), ("invStd", invStd), ("weight", weight), ("bias", bias),
        ])
        let x = pointer(input), y = pointer(output), xs = input.sampleStride, ys = output.sampleStride
        let m = dense(mean), s = dense(invStd), w = dense(weight), b = dense(bias)
        parallel.forEach(c, cost: n * plane) { ch in
            let (scale, shift) = BatchNormReLU.scaleShift(mean: m[ch], invStd: s[ch], weight: w[ch], bias: b[ch])
            SIMDReduction.affine(x + ch * plane, stride: xs, into: y + ch * plane, stride: ys, plane, runs: n, scale: scale, shift: shift,
                                 relu: relu)
        }
    }

    public func batchNormForwardInference(input: Tensor, output: Tensor, weight: Tensor, bias: Tensor,
                                          runningMean: Tensor, runningVar: Tensor, epsilon: Float, relu: Bool) throws {
        let (n, c, plane) = normShape(input, [("output", output)], channelTensors: [
            ("weight", weight), ("bias", bias), ("runningMean", runningMean), ("runningVar", runningVar),
        ])
        let x = pointer(input), y = pointer(output), xs = input.sampleStride, ys = output.sampleStride
        let w = dense(weight), b = dense(bias), rm = dense(runningMean), rv = dense(runningVar)
        parallel.forEach(c, cost: n * plane) { ch in
            let invStd = 1 / (Double(rv[ch]) + Double(epsilon)).squareRoot()
            let scale = Float(Double(w[ch]) * invStd)
            let shift = Float(Double(b[ch]) - Double(rm[ch]) * Double(w[ch]) * invStd)
            SIMDReduction.affine(x + ch * plane, stride: xs, into: y + ch * plane, stride: ys, plane, runs: n, scale: scale, shift: shift,
                                 relu: relu)
        }
    }

    /// From one channel's Σ dy and Σ dy (x - mean) over `count` values (dy masked by the ReLU):
    /// the weight and bias gradients (Σ dy xhat, Σ dy) and the input gradient
    /// `dx = w invStd / M (M dy - Σ dy - xhat Σ dy xhat) = a dy + b x + c`.
    static func batchNormGradientTerms(sumDy: Double, sumDyCentered: Double, count: Int, mean: Float, invStd: Float, weight: Float)
        -> (gradWeight: Float, gradBias: Float, a: Float, b: Float, c: Float) {
        let inv = Double(invStd)
        let sumDyXhat = sumDyCentered * inv
        let k = Double(weight) * inv
        let meanDy = sumDy / Double(count), meanDyXhat = sumDyXhat / Double(count)
        return (Float(sumDyXhat), Float(sumDy), Float(k), Float(-k * inv * meanDyXhat),
                Float(-k * meanDy + k * inv * meanDyXhat * Double(mean)))
    }

    public func batchNormBackward(input: Tensor, gradOutput: Tensor, gradInput: Tensor, weight: Tensor,
                                  saveMean: Tensor, saveInvStd: Tensor, gradWeight: Tensor, gradBias: Tensor,
                                  relu: ReLUMask?, accumulate: Bool) throws {
        var reluOutput: Tensor?, reluBias: Tensor?
        switch relu {
        case nil: break
        case .output(let output): reluOutput = output
        case .input(let bias): reluBias = bias
        }
        let (n, c, plane) = normShape(input, [("gradOutput", gradOutput), ("gradInput", gradInput)] + (reluOutput.map { [("reluOutput", $0)] } ?? []),
                                      channelTensors: [
            ("weight", weight), ("saveMean", saveMean), ("saveInvStd", saveInvStd),
            ("gradWeight", gradWeight), ("gradBias", gradBias),
        ] + (reluBias.map { [("bias", $0)] } ?? []))
        let count = n * plane
        let x = pointer(input), gy = pointer(gradOutput), gx = pointer(gradInput)
        let xs = input.sampleStride, gys = gradOutput.sampleStride, gxs = gradInput.sampleStride
        let w = dense(weight), sm = dense(saveMean), si = dense(saveInvStd)
        let gw = dense(gradWeight), gb = dense(gradBias)
        let r = reluOutput.map { pointer($0) }, rs = reluOutput?.sampleStride ?? 0
        let rb = reluBias.map { dense($0) }
        parallel.forEach(c, cost: 2 * count) { ch in
            let mean = sm[ch]
            // With the mask found from the input: the forward's output, as batchNormApply computes
            // it (bitwise), again in registers.
            let affine = rb.map { BatchNormReLU.scaleShift(mean: mean, invStd: si[ch], weight: w[ch], bias: $0[ch]) }
            let dyp = gy + ch * plane, xp = x + ch * plane, dxp = gx + ch * plane
            let mask = r.map { UnsafePointer($0 + ch * plane) }
            let (sumDy, sumDyCentered) = if let affine {
                SIMDReduction.gradientSums(dyp, stride: gys, xp, stride: xs, plane, runs: n, mean: mean, maskScale: affine.scale,
                                           maskShift: affine.shift)
            } else {
                SIMDReduction.gradientSums(dyp, stride: gys, xp, stride: xs, plane, runs: n, mean: mean, mask: mask, maskStride: rs)
            }
            let terms = Self.batchNormGradientTerms(sumDy: sumDy, sumDyCentered: sumDyCentered, count: count, mean: mean, invStd: si[ch],
                                                    weight: w[ch])
            gb[ch] += terms.gradBias
            gw[ch] += terms.gradWeight
            let (a, bx, c0) = (terms.a, terms.b, terms.c)
            if let affine {
                SIMDReduction.batchNormInputGradient(dyp, stride: gys, xp, stride: xs, into: dxp, stride: gxs, plane, runs: n, a: a, b: bx,
                                                     c: c0, maskScale: affine.scale, maskShift: affine.shift, accumulate: accumulate)
            } else {
                SIMDReduction.batchNormInputGradient(dyp, stride: gys, xp, stride: xs, into: dxp, stride: gxs, plane, runs: n, a: a, b: bx,
                                                     c: c0, mask: mask, maskStride: rs, accumulate: accumulate)
            }
        }
    }
}
