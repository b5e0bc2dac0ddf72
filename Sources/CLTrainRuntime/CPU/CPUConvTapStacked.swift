/// Convolutions with few output channels (DenseNet's 3x3 growth convolutions: 48 -> 12) as one
/// GEMM against the input itself, with every kernel tap's output channels stacked as rows, then
/// shifted sums. im2col + GEMM would unfold `Cin * k * k` rows per position for a GEMM only
/// `Cout` rows tall, which moves more memory than it multiplies; here the GEMM is
/// `[k * k * Cout, Cin] x [Cin, H * W]` on the sample as it lies, and the unfolding is replaced
/// by adding `k * k` shifted planes of `Cout` channels. The weight gradient is the mirror image:
/// shifted copies of the output gradient times the input. Stride 1 only (any padding, dilation).
extension CPUBackend {
    /// Whether a convolution goes this way: stride 1, a real kernel, few output channels and
    /// enough input channels for the stacked GEMM to be efficient.
    static func usesTapStacking(_ s: ConvShape) -> Bool {
        let g = s.geometry
        return g.strideH == 1 && g.strideW == 1 && !g.isPointwise && s.outChannels < 64 && s.inChannels >= 16
    }

    /// Output row `o` reads input row `o - pad + k * dilation` for tap k; the range of outputs whose
    /// input lies inside `0..<size`, and that input shift.
    @inline(__always)
    static func tapSpan(tap k: Int, outputs: Int, size: Int, pad: Int, dilation: Int) -> (range: Range<Int>, shift: Int) {
        let shift = k * dilation - pad
        let lo = min(outputs, max(0, -shift)), hi = max(lo, min(outputs, size - shift))
        return (lo..<hi, shift)
    }

    /// `stacked[t * Cout + co, ci] = w[co, ci, t]`.
    func stackTaps(_ w: UnsafePointer<Float>, _ s: ConvShape, into stacked: UnsafeMutablePointer<Float>) {
        let area = s.geometry.kernelH * s.geometry.kernelW
        for co in 0..<s.outChannels {
            for ci in 0..<s.inChannels {
                let src = w + (co * s.inChannels + ci) * area
                for t in 0..<area { stacked[(t * s.outChannels + co) * s.inChannels + ci] = src[t] }
            }
        }
    }

    /// Forward: `z = stacked * x_n` (every tap's outputs at every input position), then
    /// `y_n[co, o] = bias[co] + sum over taps of z[t, co, o + shift_t]`. Scratch comes from `pool`.
    func conv2dForwardTapStacked(_ s: ConvShape, input: ConvInput, w: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                                 y: UnsafeMutablePointer<Float>, yStride: Int, pool: MemoryPool) throws {
        let g = s.geometry, area = g.kernelH * g.kernelW, rows = area * s.outChannels
        let scratch = CPUScratch(pool)
        defer { scratch.release() }
        let stacked = try scratch.floats(rows * s.inChannels)
        stackTaps(w, s, into: stacked)
        try forSampleChunks(s, columns: rows * s.inPlane, input: input, pool: pool) { chunk, range, z, _ in
            guard let z else { return }
            for sample in range {
                gemm(transposeA: false, transposeB: false, m: rows, n: s.inPlane, k: s.inChannels, alpha: 1,
                     a: stacked, lda: s.inChannels, b: input.sample(sample, chunk: chunk), ldb: s.inPlane, beta: 0, c: z, ldc: s.inPlane,
                     threaded: false)
                let ys = y + sample * yStride
                for co in 0..<s.outChannels {
                    let out = ys + co * s.outPlane
                    out.update(repeating: bias?[co] ?? 0, count: s.outPlane)
                    for ki in 0..<g.kernelH {
                        let rowSpan = Self.tapSpan(tap: ki, outputs: s.outHeight, size: s.height, pad: g.padH, dilation: g.dilationH)
                        for kj in 0..<g.kernelW {
                            let colSpan = Self.tapSpan(tap: kj, outputs: s.outWidth, size: s.width, pad: g.padW, dilation: g.dilationW)
                            let plane = z + ((ki * g.kernelW + kj) * s.outChannels + co) * s.inPlane
                            for oh in rowSpan.range {
                                let dst = out + oh * s.outWidth, src = plane + (oh + rowSpan.shift) * s.width + colSpan.shift
                                for ow in colSpan.range { dst[ow] += src[ow] }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Weight gradient: `shifted[t, co, i] = gy_n[co, i - shift_t]` (zero where no output reads
    /// position i through tap t), `gradient[t * Cout + co, ci] += shifted * x_n^T`, summed over
    /// samples per thread, then added into `gw` in a fixed order. Scratch comes from `pool`.
    func conv2dBackwardWeightTapStacked(_ s: ConvShape, input: ConvInput, gy: UnsafeMutablePointer<Float>, gyStride: Int,
                                        gw: UnsafeMutablePointer<Float>, pool: MemoryPool) throws {
        let g = s.geometry, area = g.kernelH * g.kernelW, rows = area * s.outChannels
        let size = rows * s.inChannels
        let chunks = sampleChunkCount(s)
        let scratch = CPUScratch(pool)
        defer { scratch.release() }
        let partials = try scratch.floats(size * chunks)
        parallel.zero(partials, count: size * chunks)
        try forSampleChunks(s, columns: rows * s.inPlane, chunks: chunks, input: input, pool: pool) { chunk, range, shifted, _ in
            guard let shifted else { return }
            let partial = partials + size * chunk
            for sample in range {
                let gys = gy + sample * gyStride
                for ki in 0..<g.kernelH {
                    let rowSpan = Self.tapSpan(tap: ki, outputs: s.outHeight, size: s.height, pad: g.padH, dilation: g.dilationH)
                    for kj in 0..<g.kernelW {
                        let colSpan = Self.tapSpan(tap: kj, outputs: s.outWidth, size: s.width, pad: g.padW, dilation: g.dilationW)
                        for co in 0..<s.outChannels {
                            let plane = shifted + ((ki * g.kernelW + kj) * s.outChannels + co) * s.inPlane
                            plane.update(repeating: 0, count: s.inPlane)
                            let src = gys + co * s.outPlane
                            for oh in rowSpan.range {
                                let dst = plane + (oh + rowSpan.shift) * s.width + colSpan.shift, row = src + oh * s.outWidth
                                for ow in colSpan.range { dst[ow] = row[ow] }
                            }
                        }
                    }
                }
                gemm(transposeA: false, transposeB: true, m: rows, n: s.inChannels, k: s.inPlane, alpha: 1,
                     a: shifted, lda: s.inPlane, b: input.sample(sample, chunk: chunk), ldb: s.inPlane, beta: 1, c: partial, ldc: s.inChannels,
                     threaded: false)
            }
        }
        parallel.forEach(s.outChannels, cost: chunks * s.inChannels * area) { co in
            for chunk in 0..<chunks {
                let partial = partials + size * chunk
                for ci in 0..<s.inChannels {
                    let dst = gw + (co * s.inChannels + ci) * area
                    for t in 0..<area { dst[t] += partial[(t * s.outChannels + co) * s.inChannels + ci] }
                }
            }
        }
    }
}
