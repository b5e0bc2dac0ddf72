import CLTrainCPUKernels

/// Direct convolution of stride 1 by the hand-written loops of `CLTrainCPUKernels`
/// (conv_body.inc, AVX-512 / AVX2 / baseline chosen at run time): no im2col and no GEMM.
/// Each sample's input is written once, padded, into a buffer of the thread's own (through its
/// batch norm + ReLU where it has one), so that every output position reads every tap at a fixed
/// offset; a register block of output channels x positions then runs through all input channels
/// and taps. DenseNet's growth convolutions (48 -> 12 channels), whose GEMMs are too flat for
/// OpenBLAS, are what it is for; the tuner tries it wherever the stride is 1.
/// The input gradient is the same loop over the output gradient with the kernel turned around
/// (`transposedGeometry`); the weight gradient has a loop of its own over the same grid.
extension CPUBackend {
    /// Where a sample lies in the padded grid of a stride-1 convolution. A plane is `rowStride`
    /// floats a row: the row's pixels, then at least `padW` zeros that serve as the right padding
    /// of this row and the left padding of the next. Output position `q = oh * rowStride + ow`
    /// reads tap `(kh, kw)` at `q + offsets[kh * kernelW + kw]`; positions with `ow >= outWidth` are
    /// computed and thrown away.
    struct DirectGrid {
        let rowStride: Int
        /// Where pixel (0, 0) lies in a plane.
        let origin: Int
        /// Output positions, rounded up to the loops' span.
        let positions: Int
        /// Floats per padded plane: every float the loops read lies inside it.
        let planeStride: Int
        let offsets: [Int]
        /// Output channels rounded up to the loops' register block.
        let paddedOutChannels: Int

        init(_ s: ConvShape, block: Int, span: Int) {
            let g = s.geometry
            precondition(g.strideH == 1 && g.strideW == 1, "direct convolution: stride \(g.strideH)x\(g.strideW), not 1")
            let rows = max(s.width + g.padW, s.outWidth)
            rowStride = rows
            origin = g.padH * rows + g.padW
            offsets = (0..<g.kernelH).flatMap { kh in
                (0..<g.kernelW).map { kw in kh * g.dilationH * rows + kw * g.dilationW }
            }
            positions = (s.outHeight * rowStride + span - 1) / span * span
            planeStride = max(origin + (s.height + g.padH) * rowStride, positions + (offsets.max() ?? 0))
            paddedOutChannels = (s.outChannels + block - 1) / block * block
        }

        /// Write channel planes `[C, H, W]` at `x` into the grid at `grid` (planes `planeStride`
        /// apart), each through its batch norm + ReLU where `norm` is given. The padding is left
        /// as it is: zero it once per buffer.
        func fill(_ grid: UnsafeMutablePointer<Float>, from x: UnsafePointer<Float>, channels: Int, height: Int, width: Int,
                  norm: ChannelAffine?) {
            SIMDReduction.kernels.grid_fill(x, channels, height, width, grid + origin, planeStride, rowStride, norm?.scales,
                                            norm?.shifts)
        }
    }

    /// `y (+)= conv(x, w) + bias` for a stride-1 convolution, samples split across threads.
    /// Scratch comes from `pool`.
    func conv2dForwardDirect(_ s: ConvShape, input: ConvInput, w: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                             y: UnsafeMutablePointer<Float>, yStride: Int, accumulate: Bool, pool: MemoryPool) throws {
        let k = SIMDReduction.kernels
        let grid = DirectGrid(s, block: k.conv_block, span: k.conv_span)
        let taps = grid.offsets.count, cout = grid.paddedOutChannels
        let scratch = CPUScratch(pool)
        defer { scratch.release() }
        // packed[(ci * taps + t) * cout + co] = w[co, ci, t], zero past the real output channels.
        let packed = try scratch.floats(s.inChannels * taps * cout)
        parallel.forChunks(s.inChannels * taps, cost: cout) { range in
            for i in range {
                for co in 0..<cout { packed[i * cout + co] = co < s.outChannels ? w[co * s.inChannels * taps + i] : 0 }
            }
        }
        let inputFloats = s.inChannels * grid.planeStride
        let norm = input.norm
        try forSampleChunks(s, columns: inputFloats + cout * grid.positions, pool: pool) { _, range, buffer, _ in
            guard let buffer else { return }
            let padded = buffer, out = buffer + inputFloats
            padded.update(repeating: 0, count: inputFloats)
            grid.offsets.withUnsafeBufferPointer { offsets in
                for sample in range {
                    grid.fill(padded, from: input.x + sample * input.stride, channels: s.inChannels, height: s.height, width: s.width,
                              norm: norm)
                    k.direct_conv(padded, grid.planeStride, s.inChannels, packed, offsets.baseAddress!, taps, out, grid.positions, cout,
                                  grid.positions)
                    k.grid_unpad(out, s.outChannels, s.outHeight, s.outWidth, grid.positions, grid.rowStride, y + sample * yStride, bias,
                                 accumulate)
                }
            }
        }
    }

    /// The geometry of the input gradient as a forward convolution of the output gradient, where
    /// the direct loops can run it: `transposedGeometry`, or a 1x1 unpadded convolution itself.
    func directTransposedGeometry(_ s: ConvShape) -> Conv2dGeometry? {
        let g = s.geometry
        guard g.strideH == 1 && g.strideW == 1 else { return nil }
        if g.isPointwise { return g.padH == 0 && g.padW == 0 ? g : nil }
        return transposedGeometry(s)
    }

    /// `gx (+)= conv2d's transpose(gy)`: the forward loops over the output gradient with the
    /// kernel turned around. Scratch comes from `pool`.
    func conv2dBackwardDataDirect(_ s: ConvShape, gy: UnsafeMutablePointer<Float>, gyStride: Int, w: UnsafePointer<Float>,
                                  gx: UnsafeMutablePointer<Float>, gxStride: Int, accumulate: Bool, pool: MemoryPool) throws {
        guard let turned = directTransposedGeometry(s) else { preconditionFailure("conv2d: \(s) has no direct input gradient") }
        let scratch = CPUScratch(pool)
        defer { scratch.release() }
        let flipped = try scratch.floats(s.inChannels * s.outChannels * s.geometry.kernelH * s.geometry.kernelW)
        turnKernels(w, s, into: flipped)
        let t = ConvShape(n: s.n, inChannels: s.outChannels, height: s.outHeight, width: s.outWidth,
                          outChannels: s.inChannels, outHeight: s.height, outWidth: s.width, geometry: turned)
        try conv2dForwardDirect(t, input: ConvInput(x: gy, stride: gyStride, channels: t.inChannels, plane: t.inPlane), w: flipped,
                                bias: nil, y: gx, yStride: gxStride, accumulate: accumulate, pool: pool)
    }

    /// Output positions a call of the weight-gradient loop covers (its samples times the grid's
    /// positions): enough that the lanes are summed rarely, few enough that a block of output
    /// channels' gradient stays in the first-level cache.
    static let directWeightPositions = 1024

    /// `gw +=` the weight gradient of a stride-1 convolution. Each thread sums its samples into a
    /// private gradient; those are added in a fixed order. Scratch comes from `pool`.
    func conv2dBackwardWeightDirect(_ s: ConvShape, input: ConvInput, gy: UnsafeMutablePointer<Float>, gyStride: Int,
                                    gw: UnsafeMutablePointer<Float>, pool: MemoryPool) throws {
        let k = SIMDReduction.kernels
        let grid = DirectGrid(s, block: k.conv_block, span: k.conv_span)
        let taps = grid.offsets.count, cout = grid.paddedOutChannels
        let size = s.inChannels * taps * cout
        let chunks = sampleChunkCount(s)
        let group = max(1, min(s.n, Self.directWeightPositions / grid.positions))
        let inputFloats = s.inChannels * grid.planeStride, gradientFloats = cout * grid.positions
        let norm = input.norm
        let scratch = CPUScratch(pool)
        defer { scratch.release() }
        let partials = try scratch.floats(size * chunks)
        parallel.zero(partials, count: size * chunks)
        try forSampleChunks(s, columns: group * (inputFloats + gradientFloats), chunks: chunks, pool: pool) { chunk, range, buffer, _ in
            guard let buffer else { return }
            let padded = buffer, grads = buffer + group * inputFloats
            buffer.update(repeating: 0, count: group * (inputFloats + gradientFloats))
            grid.offsets.withUnsafeBufferPointer { offsets in
                var first = range.lowerBound
                while first < range.upperBound {
                    let count = min(group, range.upperBound - first)
                    for j in 0..<count {
                        let sample = first + j
                        grid.fill(padded + j * inputFloats, from: input.x + sample * input.stride, channels: s.inChannels,
                                  height: s.height, width: s.width, norm: norm)
                        // The output gradient on the grid's output positions (the padding stays zero).
                        k.grid_fill(gy + sample * gyStride, s.outChannels, s.outHeight, s.outWidth, grads + j * gradientFloats,
                                    grid.positions, grid.rowStride, nil, nil)
                    }
                    k.direct_conv_weight(padded, inputFloats, grid.planeStride, s.inChannels, offsets.baseAddress!, taps, grads,
                                         gradientFloats, grid.positions, cout, grid.positions, count, partials + chunk * size)
                    first += count
                }
            }
        }
        parallel.forEach(s.outChannels, cost: chunks * s.inChannels * taps) { co in
            for chunk in 0..<chunks {
                let partial = partials + chunk * size
                for i in 0..<(s.inChannels * taps) { gw[co * s.inChannels * taps + i] += partial[i * cout + co] }
            }
        }
    }
}
