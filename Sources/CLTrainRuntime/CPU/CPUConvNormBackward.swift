/// The input gradient of a 1x1 convolution carried through the batch norm + ReLU it read, in
/// one pass (DenseNet's bottleneck convolutions and the batch norm before them).
///
/// The batch norm's input gradient is `a dy + b x + c` per channel, dy masked by the ReLU; `a`
/// is `weight * invStd`, known before the pass, while `b` and `c` need the sums of dy and
/// dy (x - mean) over the whole batch. So each sample's gradient (on small maps, each block of
/// samples': `sampleBlock`) is computed by a GEMM into a buffer of the thread's own, summed and
/// added as `a dy` while it is in cache, and `b` and `c`
/// are left to the caller (`deferredScale`, `deferredShift`). The batch-sized gradient of the
/// normalised input is never written out and read back, which the two ops apart would do.
extension CPUBackend {
    public func conv2dBackwardDataBatchNormReLU(gradOutput: Tensor, weight: Tensor, geometry: Conv2dGeometry, input: Tensor,
                                                norm: BatchNormReLU, gradInput: Tensor, gradWeight: Tensor, gradBias: Tensor,
                                                deferredScale: Tensor, deferredShift: Tensor) throws -> Bool {
        guard geometry.isPointwise && geometry.padH == 0 && geometry.padW == 0 && geometry.strideH == 1 && geometry.strideW == 1 else {
            try unfusedConv2dBackwardDataBatchNormReLU(gradOutput: gradOutput, weight: weight, geometry: geometry, input: input, norm: norm,
                                                       gradInput: gradInput, gradWeight: gradWeight, gradBias: gradBias)
            return false
        }
        let s = ConvShape(input: input, weight: weight, output: gradOutput, geometry: geometry)
        precondition(gradInput.shape == input.shape, "conv2dBackwardDataBatchNormReLU: gradInput \(gradInput.shape) for input \(input.shape)")
        let c = s.inChannels, plane = s.inPlane
        for (name, t) in [("norm", norm.mean), ("gradWeight", gradWeight), ("gradBias", gradBias), ("deferredScale", deferredScale),
                          ("deferredShift", deferredShift)] {
            precondition(t.count == c, "conv2dBackwardDataBatchNormReLU: \(name) \(t.shape) for \(c) channels")
        }
        let x = pointer(input), gy = pointer(gradOutput), gx = pointer(gradInput), w = dense(weight)
        let xs = input.sampleStride, gys = gradOutput.sampleStride, gxs = gradInput.sampleStride
        let mean = dense(norm.mean), invStd = dense(norm.invStd), gamma = dense(norm.weight)
        let affine = batchNormAffine(norm)
        // Each channel's a = w invStd, as batchNormGradientTerms computes it.
        let a = (0..<c).map { Float(Double(gamma[$0]) * Double(invStd[$0])) }
        let chunks = sampleChunkCount(s)
        let scratch = CPUScratch(input.device.pool)
        defer { scratch.release() }
        // Per chunk and channel: Σ dy and Σ dy (x - mean), dy masked, in Double.
        let sums = UnsafeMutablePointer<Double>.allocate(capacity: 2 * c * chunks)
        defer { sums.deallocate() }
        sums.update(repeating: 0, count: 2 * c * chunks)
        // A 1x1 convolution on a small map takes blocks of samples side by side (`sampleBlock`):
        // the output gradient gathered, one GEMM per block.
        let block = sampleBlock(s, chunks: chunks)
        let gathered = block > 1 ? s.outChannels * block * plane : 0
        try forSampleChunks(s, columns: gathered + c * block * plane, chunks: chunks, pool: input.device.pool) { chunk, range, buffer, _ in
            guard let buffer else { return }
            let dy = buffer + gathered
            Self.forBlocks(of: range, size: block) { first, count in
                let ld = count * plane
                var grad = UnsafePointer(gy + first * gys)
                if count > 1 {
                    Self.gatherSamples(gy, sampleStride: gys, first: first, count: count, channels: s.outChannels, plane: plane, into: buffer)
                    grad = UnsafePointer(buffer)
                }
                // dy[Cin, count * HW] = W^T[Cin, Cout] * gradOutput[Cout, count * HW]
                gemm(transposeA: true, transposeB: false, m: c, n: ld, k: s.outChannels, alpha: 1, a: w, lda: c,
                     b: grad, ldb: ld, beta: 0, c: dy, ldc: ld, threaded: false)
                // Per chunk and channel: Σ dy and Σ dy (x - mean), dy masked, in Double; gradInput += a dy.
                let partial = sums + 2 * c * chunk, xb = x + first * xs, gxb = gx + first * gxs
                for ch in 0..<c {
                    let d = dy + ch * ld, xp = xb + ch * plane
                    let scale = affine.scales[ch], shift = affine.shifts[ch]
                    let part = SIMDReduction.gradientSums(d, stride: plane, xp, stride: xs, plane, runs: count, mean: mean[ch], maskScale: scale,
                                                          maskShift: shift)
                    partial[2 * ch] += part.dy
                    partial[2 * ch + 1] += part.dyCentered
                    SIMDReduction.batchNormInputGradient(d, stride: plane, xp, stride: xs, into: gxb + ch * plane, stride: gxs, plane, runs: count,
                                                         a: a[ch], b: 0, c: 0, maskScale: scale, maskShift: shift, accumulate: true)
                }
            }
        }
        // The sums in a fixed order, then as batchNormBackward: the parameter gradients, and the
        // input gradient's b and c.
        let gw = dense(gradWeight), gb = dense(gradBias), ds = dense(deferredScale), dc = dense(deferredShift)
        for ch in 0..<c {
            var sumDy = 0.0, sumDyCentered = 0.0
            for chunk in 0..<chunks {
                sumDy += sums[2 * c * chunk + 2 * ch]
                sumDyCentered += sums[2 * c * chunk + 2 * ch + 1]
            }
            let terms = Self.batchNormGradientTerms(sumDy: sumDy, sumDyCentered: sumDyCentered, count: s.n * plane, mean: mean[ch],
                                                    invStd: invStd[ch], weight: gamma[ch])
            gb[ch] += terms.gradBias
            gw[ch] += terms.gradWeight
            ds[ch] += terms.b
            dc[ch] += terms.c
        }
        return true
    }
}
