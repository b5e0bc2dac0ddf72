import Dispatch

/// Convolution as im2col + GEMM over groups of samples (a 1x1/s1/p0 convolution uses each
/// sample's input directly).
extension CPUBackend {
    /// Sizes of one convolution call, checked against the tensors.
    struct ConvShape {
        let n: Int, inChannels: Int, height: Int, width: Int
        let outChannels: Int, outHeight: Int, outWidth: Int
        let geometry: Conv2dGeometry
        /// Rows of the column matrix: inChannels * kernelH * kernelW.
        var patch: Int { inChannels * geometry.kernelH * geometry.kernelW }
        var outPlane: Int { outHeight * outWidth }
        var inPlane: Int { height * width }

        init(n: Int, inChannels: Int, height: Int, width: Int, outChannels: Int, outHeight: Int, outWidth: Int, geometry: Conv2dGeometry) {
            self.n = n; self.inChannels = inChannels; self.height = height; self.width = width
            self.outChannels = outChannels; self.outHeight = outHeight; self.outWidth = outWidth; self.geometry = geometry
        }

        init(input: Tensor, weight: Tensor, output: Tensor, geometry g: Conv2dGeometry) {
            precondition(input.rank == 4 && weight.rank == 4 && output.rank == 4,
                         "conv2d: input \(input.shape), weight \(weight.shape), output \(output.shape) must be 4-D")
            precondition(weight.isContiguous, "conv2d: weight \(weight.shape) must be contiguous")
            n = input.shape[0]; inChannels = input.shape[1]; height = input.shape[2]; width = input.shape[3]
            outChannels = weight.shape[0]; geometry = g
            outHeight = g.outputHeight(height); outWidth = g.outputWidth(width)
            precondition(weight.shape == [outChannels, inChannels, g.kernelH, g.kernelW],
                         "conv2d: weight \(weight.shape) does not match input \(input.shape) and kernel \(g)")
            precondition(outHeight > 0 && outWidth > 0 && output.shape == [n, outChannels, outHeight, outWidth],
                         "conv2d: output \(output.shape) should be \([n, outChannels, outHeight, outWidth]) for input \(input.shape), \(g)")
        }
    }

    /// Column-matrix budget (floats) for one group of samples unfolded together.
    static let columnBudget = 1 << 22

    /// Samples per group: as many as fit the budget, groups as equal as possible.
    /// With few output channels OpenBLAS does no better on a wider GEMM (measured: 48->12 and
    /// 1->24 slowed down), so those keep one sample per GEMM.
    static func groupSize(_ s: ConvShape) -> Int {
        s.outChannels < 64 ? 1 : batchGroupSize(s)
    }

    /// Samples per group of the batched algorithm: as many as fit the budget, groups as equal as possible.
    static func batchGroupSize(_ s: ConvShape) -> Int {
        let perSample = max(s.patch * s.outPlane, 1)
        let most = max(1, min(s.n, columnBudget / perSample))
        let groups = (s.n + most - 1) / most
        return (s.n + groups - 1) / groups
    }

    /// Columns a 1x1 convolution's GEMM should have at least: below that (maps of 8x8 and
    /// smaller) the per-sample loops take blocks of samples side by side, one GEMM per block.
    /// OpenBLAS on one core, 128 output channels, 640 input channels: 80 GFLOP/s forward at
    /// 16 columns, 131 at 128; the weight gradient 65 at 4 columns (800 channels), 129 at 128.
    static let pointwiseColumns = 128

    /// Samples per GEMM of the per-sample loops: 1, or for a 1x1 convolution on a small map as
    /// many as make `pointwiseColumns` columns (at most a chunk's share of the batch).
    func sampleBlock(_ s: ConvShape, chunks: Int) -> Int {
        guard s.geometry.isPointwise else { return 1 }
        let share = (s.n + chunks - 1) / max(chunks, 1)
        return max(1, min(share, Self.pointwiseColumns / max(s.outPlane, 1)))
    }

    /// `body(first, count)` for consecutive blocks of at most `size` samples of `range`.
    static func forBlocks(of range: Range<Int>, size: Int, _ body: (_ first: Int, _ count: Int) throws -> Void) rethrows {
        for first in stride(from: range.lowerBound, to: range.upperBound, by: size) {
            try body(first, min(size, range.upperBound - first))
        }
    }

    /// How many threads share the samples of one convolution call.
    func sampleChunkCount(_ s: ConvShape) -> Int {
        let work = s.outChannels * s.patch * s.outPlane
        return max(1, min(parallel.threads, s.n, s.n * work / CPUParallel.minimumWork))
    }

    /// Split the samples into `chunks` contiguous ranges run concurrently; each gets a private
    /// column buffer of `columns` floats (nil when 0) and a serial runner for nested loops. Chunk
    /// `i` covers `n * i / chunks ..< n * (i + 1) / chunks`. The column buffers and `input`'s
    /// normalisation buffers (for blocks of `inputSamples` samples) come from `pool`, taken before
    /// the threads start and given back on return.
    func forSampleChunks(_ s: ConvShape, columns: Int, chunks: Int? = nil, input: ConvInput? = nil, inputSamples: Int = 1,
                         pool: MemoryPool, _ body: (_ chunk: Int, Range<Int>, UnsafeMutablePointer<Float>?, CPUParallel) -> Void) throws {
        let chunks = chunks ?? sampleChunkCount(s)
        let scratch = CPUScratch(pool)
        defer {
            input?.unreserve()
            scratch.release()
        }
        try input?.reserve(chunks: chunks, samples: inputSamples, from: scratch)
        let cols = try (0..<chunks).map { _ in columns > 0 ? try scratch.floats(columns) : nil }
        let serial = CPUParallel.serial
        func run(_ chunk: Int) {
            body(chunk, s.n * chunk / chunks ..< s.n * (chunk + 1) / chunks, cols[chunk], serial)
        }
        parallel.run(chunks, run)
    }

    /// `body(first, count, col, matrix)` for consecutive groups of `batchGroupSize(s)` samples
    /// (the batched algorithm), each with a column buffer (`patch x count * HoWo`) and a
    /// `Cout x count * HoWo` matrix, from `pool`.
    func forSampleGroups(_ s: ConvShape, pool: MemoryPool, _ body: (_ first: Int, _ count: Int, _ col: UnsafeMutablePointer<Float>,
                                                                    _ matrix: UnsafeMutablePointer<Float>) throws -> Void) throws {
        let nb = Self.batchGroupSize(s)
        let scratch = CPUScratch(pool)
        defer { scratch.release() }
        let col = try scratch.floats(s.patch * nb * s.outPlane)
        let matrix = try scratch.floats(s.outChannels * nb * s.outPlane)
        var first = 0
        while first < s.n {
            let count = min(nb, s.n - first)
            try body(first, count, col, matrix)
            first += count
        }
    }

    /// Unfold samples `first..<first+count` (each `[C, H, W]`, `sampleStride` apart) into
    /// `col[C * kh * kw, count * Ho * Wo]`: sample j's columns are `j * HoWo ..< (j + 1) * HoWo`.
    func im2col(_ x: UnsafePointer<Float>, sampleStride: Int, first: Int, count: Int,
                _ col: UnsafeMutablePointer<Float>, _ s: ConvShape, runner: CPUParallel? = nil) {
        let g = s.geometry
        let kernelArea = g.kernelH * g.kernelW
        let ld = count * s.outPlane
        (runner ?? parallel).forEach(s.patch * count, cost: s.outPlane) { item in
            let row = item / count, j = item % count
            let c = row / kernelArea, ki = (row % kernelArea) / g.kernelW, kj = row % g.kernelW
            let plane = x + (first + j) * sampleStride + c * s.inPlane
            let out = col + row * ld + j * s.outPlane
            // Output columns whose input column lies inside the image.
            let shift = kj * g.dilationW - g.padW
            let lo = min(s.outWidth, max(0, (-shift + g.strideW - 1) / g.strideW))
            let hi = max(lo, min(s.outWidth, (s.width - 1 - shift) / g.strideW + 1))
            for oh in 0..<s.outHeight {
                let ih = oh * g.strideH - g.padH + ki * g.dilationH
                let dst = out + oh * s.outWidth
                if ih < 0 || ih >= s.height {
                    dst.update(repeating: 0, count: s.outWidth)
                    continue
                }
                let src = plane + ih * s.width + shift
                for ow in 0..<lo { dst[ow] = 0 }
                if g.strideW == 1 {
                    (dst + lo).update(from: src + lo, count: hi - lo)
                } else {
                    for ow in lo..<hi { dst[ow] = src[ow * g.strideW] }
                }
                for ow in hi..<s.outWidth { dst[ow] = 0 }
            }
        }
    }

    /// Fold `col` (laid out as `im2col` writes it for `count` samples) back into the samples,
    /// summing overlaps; overwrites them unless `accumulate`. Split by (sample, channel).
    func col2im(_ col: UnsafePointer<Float>, _ x: UnsafeMutablePointer<Float>, sampleStride: Int, first: Int, count: Int,
                _ s: ConvShape, accumulate: Bool, runner: CPUParallel? = nil) {
        let g = s.geometry
        let kernelArea = g.kernelH * g.kernelW
        let ld = count * s.outPlane
        (runner ?? parallel).forEach(s.inChannels * count, cost: kernelArea * s.outPlane) { item in
            let c = item / count, j = item % count
            let plane = x + (first + j) * sampleStride + c * s.inPlane
            if !accumulate { plane.update(repeating: 0, count: s.inPlane) }
            for k in 0..<kernelArea {
                let ki = k / g.kernelW, kj = k % g.kernelW
                let src = col + (c * kernelArea + k) * ld + j * s.outPlane
                let shift = kj * g.dilationW - g.padW
                let lo = min(s.outWidth, max(0, (-shift + g.strideW - 1) / g.strideW))
                let hi = max(lo, min(s.outWidth, (s.width - 1 - shift) / g.strideW + 1))
                for oh in 0..<s.outHeight {
                    let ih = oh * g.strideH - g.padH + ki * g.dilationH
                    if ih < 0 || ih >= s.height { continue }
                    let dst = plane + ih * s.width + shift
                    let row = src + oh * s.outWidth
                    for ow in lo..<hi { dst[ow * g.strideW] += row[ow] }
                }
            }
        }
    }

    /// Copy samples `first..<first+count` of an NCHW tensor into `[C, count * plane]`.
    func gatherChannels(_ x: UnsafePointer<Float>, sampleStride: Int, first: Int, count: Int, channels: Int, plane: Int,
                        into dst: UnsafeMutablePointer<Float>) {
        parallel.forEach(channels * count, cost: plane) { item in
            let c = item / count, j = item % count
            (dst + c * count * plane + j * plane).update(from: x + (first + j) * sampleStride + c * plane, count: plane)
        }
    }

    /// Samples `first..<first+count` of an NCHW tensor side by side in `[C, count * plane]` (sample
    /// j's plane of channel c at `c * count * plane + j * plane`), through `norm` where given, on
    /// the calling thread: the per-sample loops' blocks (`gatherChannels` splits the work over the
    /// threads). One C call (`grid_fill`) per sample.
    static func gatherSamples(_ x: UnsafePointer<Float>, sampleStride: Int, first: Int, count: Int, channels: Int, plane: Int,
                              norm: ChannelAffine? = nil, into dst: UnsafeMutablePointer<Float>) {
        for j in 0..<count {
            SIMDReduction.kernels.grid_fill(x + (first + j) * sampleStride, channels, 1, plane, dst + j * plane, count * plane, plane,
                                            norm?.scales, norm?.shifts)
        }
    }

    /// The other way: `[C, count * plane]` (as `gatherSamples` lays it out) into samples
    /// `first..<first+count` of an NCHW tensor, `+ bias[c]` where given, added unless it overwrites.
    static func scatterSamples(_ src: UnsafePointer<Float>, count: Int, channels: Int, plane: Int, into y: UnsafeMutablePointer<Float>,
                               sampleStride: Int, first: Int, bias: UnsafePointer<Float>?, accumulate: Bool) {
        for j in 0..<count {
            SIMDReduction.kernels.grid_unpad(src + j * plane, channels, 1, plane, count * plane, plane, y + (first + j) * sampleStride,
                                             bias, accumulate)
        }
    }

    /// `y (+)= conv(x, w) + bias` per sample, samples split across threads, each unfolding into
    /// its own column buffer and running single-threaded GEMMs: small GEMMs pay no threading
    /// overhead. A 1x1 convolution on a small map takes blocks of samples side by side
    /// (`sampleBlock`): one GEMM per block, its output put in place with the bias.
    func convolveSamples(_ s: ConvShape, input: ConvInput, w: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, yStride: Int,
                         bias b: UnsafeMutablePointer<Float>?, accumulate: Bool, pool: MemoryPool) throws {
        let pointwise = s.geometry.isPointwise
        let chunks = sampleChunkCount(s)
        let block = sampleBlock(s, chunks: chunks)
        if block > 1 {
            let plane = s.outPlane
            try forSampleChunks(s, columns: s.outChannels * block * plane, chunks: chunks, input: input, inputSamples: block, pool: pool) {
                chunk, range, out, _ in
                guard let out else { return }
                Self.forBlocks(of: range, size: block) { first, count in
                    let ld = count * plane
                    // out[Cout, count * HW] = W[Cout, Cin] * samples[Cin, count * HW]
                    gemm(transposeA: false, transposeB: false, m: s.outChannels, n: ld, k: s.inChannels, alpha: 1, a: w, lda: s.inChannels,
                         b: input.samples(first, count: count, chunk: chunk), ldb: ld, beta: 0, c: out, ldc: ld, threaded: false)
                    Self.scatterSamples(out, count: count, channels: s.outChannels, plane: plane, into: y, sampleStride: yStride, first: first,
                                        bias: b, accumulate: accumulate)
                }
            }
            return
        }
        try forSampleChunks(s, columns: pointwise ? 0 : s.patch * s.outPlane, chunks: chunks, input: input, pool: pool) {
            chunk, range, col, serial in
            for sample in range {
                let xs = input.sample(sample, chunk: chunk), ys = y + sample * yStride
                if let b {
                    for co in 0..<s.outChannels { (ys + co * s.outPlane).update(repeating: b[co], count: s.outPlane) }
                }
                var source = UnsafePointer(xs)
                if let col {
                    im2col(xs, sampleStride: 0, first: 0, count: 1, col, s, runner: serial)
                    source = UnsafePointer(col)
                }
                gemm(transposeA: false, transposeB: false, m: s.outChannels, n: s.outPlane, k: s.patch, alpha: 1,
                     a: w, lda: s.patch, b: source, ldb: s.outPlane, beta: b == nil && !accumulate ? 0 : 1, c: ys, ldc: s.outPlane,
                     threaded: false)
            }
        }
    }

    /// For a stride-1 convolution whose padding is at most its dilated reach, the input gradient
    /// is itself a convolution: of the output gradient, with the kernel turned around and its
    /// input and output channels swapped, and padding `dilation * (k - 1) - padding`. Unfolding
    /// the output gradient (Cout x k x k rows) is cheaper than folding back a column matrix of
    /// Cin x k x k rows when Cout < Cin, as in DenseNet's growth convolutions.
    func transposedGeometry(_ s: ConvShape) -> Conv2dGeometry? {
        let g = s.geometry
        let padH = g.dilationH * (g.kernelH - 1) - g.padH, padW = g.dilationW * (g.kernelW - 1) - g.padW
        guard g.strideH == 1, g.strideW == 1, !g.isPointwise, padH >= 0, padW >= 0 else { return nil }
        return Conv2dGeometry(kernelH: g.kernelH, kernelW: g.kernelW, strideH: 1, strideW: 1, padH: padH, padW: padW,
                              dilationH: g.dilationH, dilationW: g.dilationW)
    }

    /// `turned[ci, co, i, j] = w[co, ci, kh-1-i, kw-1-j]`: the kernels of the input gradient
    /// computed as a forward convolution of the output gradient.
    func turnKernels(_ w: UnsafePointer<Float>, _ s: ConvShape, into turned: UnsafeMutablePointer<Float>) {
        let area = s.geometry.kernelH * s.geometry.kernelW
        parallel.forEach(s.outChannels, cost: s.inChannels * area) { co in
            for ci in 0..<s.inChannels {
                let src = w + (co * s.inChannels + ci) * area, dst = turned + (ci * s.outChannels + co) * area
                for k in 0..<area { dst[area - 1 - k] = src[k] }
            }
        }
    }

    public func conv2dForward(input: Tensor, weight: Tensor, bias: Tensor?, output: Tensor, geometry: Conv2dGeometry,
                              inputNorm: BatchNormReLU?) throws {
        let s = ConvShape(input: input, weight: weight, output: output, geometry: geometry)
        if let bias { precondition(bias.count == s.outChannels, "conv2d: bias \(bias.shape) for \(s.outChannels) output channels") }
        let x = pointer(input), w = dense(weight), y = pointer(output)
        let b = bias.map { dense($0) }
        let ys = output.sampleStride
        let source = convInput(s, x: x, xStride: input.sampleStride, norm: inputNorm)
        let pool = input.device.pool
        func run(_ algorithm: CPUConvAlgorithm) throws {
            if source.isNormalized && !algorithm.normalizesAsItReads {
                try forNormalizedGroups(s, source, pool: pool) { first, group, normalized in
                    try conv2dForward(group, algorithm, input: normalized, w: w, bias: b, y: y + first * ys, yStride: ys, pool: pool)
                }
            } else {
                try conv2dForward(s, algorithm, input: source, w: w, bias: b, y: y, yStride: ys, pool: pool)
            }
        }
        // Every candidate overwrites the output, so the timed runs write it too.
        try run(try choose(.forward, s, inputNorm: inputNorm != nil, bias: bias != nil, run: run))
    }

    /// The forward convolution with `algorithm`. Only an algorithm that normalises as it reads
    /// takes a normalised input. Scratch comes from `pool`.
    func conv2dForward(_ s: ConvShape, _ algorithm: CPUConvAlgorithm, input: ConvInput, w: UnsafePointer<Float>,
                       bias b: UnsafeMutablePointer<Float>?, y: UnsafeMutablePointer<Float>, yStride ys: Int, pool: MemoryPool) throws {
        precondition(!input.isNormalized || algorithm.normalizesAsItReads, "conv2d: a normalised input for \(algorithm.name)")
        let x = input.x, xStride = input.stride
        switch algorithm {
        case .regions:
            guard let plan = ConvRegionPlan(s) else { preconditionFailure("conv2d: no region plan for \(s)") }
            try conv2dForwardByRegions(plan, s, x: x, xStride: xStride, w: w, bias: b, y: y, yStride: ys, pool: pool)
        case .tapStacked:
            try conv2dForwardTapStacked(s, input: input, w: w, bias: b, y: y, yStride: ys, pool: pool)
        case .perSample:
            try convolveSamples(s, input: input, w: w, y: y, yStride: ys, bias: b, accumulate: false, pool: pool)
        case .winograd(let m):
            try conv2dForwardWinograd(s, tile: m, input: input, w: w, bias: b, y: y, yStride: ys, pool: pool)
        case .direct:
            try conv2dForwardDirect(s, input: input, w: w, bias: b, y: y, yStride: ys, accumulate: false, pool: pool)
        case .transposed:
            preconditionFailure("conv2d: \(algorithm.name) computes only the input gradient")
        case .batched:
            // Groups of samples: one GEMM [Cout, K] x [K, nb * HoWo], then scattered into NCHW.
            try forSampleGroups(s, pool: pool) { first, count, col, out in
                let ld = count * s.outPlane
                im2col(x, sampleStride: xStride, first: first, count: count, col, s)
                gemm(transposeA: false, transposeB: false, m: s.outChannels, n: ld, k: s.patch, alpha: 1,
                     a: w, lda: s.patch, b: col, ldb: ld, beta: 0, c: out, ldc: ld)
                parallel.forEach(s.outChannels * count, cost: s.outPlane) { item in
                    let co = item / count, j = item % count
                    let src = out + co * ld + j * s.outPlane, dst = y + (first + j) * ys + co * s.outPlane
                    if let b {
                        let bv = b[co]
                        for i in 0..<s.outPlane { dst[i] = src[i] + bv }
                    } else {
                        dst.update(from: src, count: s.outPlane)
                    }
                }
            }
        }
    }

    public func conv2dBackwardData(gradOutput: Tensor, weight: Tensor, gradInput: Tensor, geometry: Conv2dGeometry, accumulate: Bool) throws {
        let s = ConvShape(input: gradInput, weight: weight, output: gradOutput, geometry: geometry)
        let gy = pointer(gradOutput), w = dense(weight), gx = pointer(gradInput)
        let gyStride = gradOutput.sampleStride, gxStride = gradInput.sampleStride
        let pool = gradInput.device.pool
        // Timed runs that accumulate write a scratch gradient; the others overwrite the real one.
        var timing: UnsafeMutablePointer<Float>?
        let scratch = CPUScratch(pool)
        defer { scratch.release() }
        let algorithm = try choose(.backwardData, s, accumulate: accumulate) { candidate in
            if accumulate && timing == nil { timing = try scratch.floats(s.n * s.inChannels * s.inPlane) }
            try conv2dBackwardData(s, candidate, gy: gy, gyStride: gyStride, w: w, gx: timing ?? gx,
                                   gxStride: timing == nil ? gxStride : s.inChannels * s.inPlane, accumulate: false, pool: pool)
        }
        try conv2dBackwardData(s, algorithm, gy: gy, gyStride: gyStride, w: w, gx: gx, gxStride: gxStride, accumulate: accumulate, pool: pool)
    }

    /// The input gradient with `algorithm`: `gx (+)= conv2d's transpose(gy)`. Scratch comes from `pool`.
    func conv2dBackwardData(_ s: ConvShape, _ algorithm: CPUConvAlgorithm, gy: UnsafeMutablePointer<Float>, gyStride: Int,
                            w: UnsafePointer<Float>, gx: UnsafeMutablePointer<Float>, gxStride: Int, accumulate: Bool,
                            pool: MemoryPool) throws {
        let geometry = s.geometry
        switch algorithm {
        case .regions:
            guard let plan = ConvRegionPlan(s) else { preconditionFailure("conv2d: no region plan for \(s)") }
            try conv2dBackwardDataByRegions(plan, s, gy: gy, gyStride: gyStride, w: w, gx: gx, gxStride: gxStride,
                                            accumulate: accumulate, pool: pool)
        case .transposed:
            guard let turned = transposedGeometry(s) else { preconditionFailure("conv2d: \(s) has no transposed form") }
            let scratch = CPUScratch(pool)
            defer { scratch.release() }
            let flipped = try scratch.floats(s.inChannels * s.outChannels * geometry.kernelH * geometry.kernelW)
            turnKernels(w, s, into: flipped)
            let t = ConvShape(n: s.n, inChannels: s.outChannels, height: s.outHeight, width: s.outWidth,
                              outChannels: s.inChannels, outHeight: s.height, outWidth: s.width, geometry: turned)
            try convolveSamples(t, input: ConvInput(x: gy, stride: gyStride, channels: t.inChannels, plane: t.inPlane),
                                w: flipped, y: gx, yStride: gxStride, bias: nil, accumulate: accumulate, pool: pool)
        case .winograd(let m):
            try conv2dBackwardDataWinograd(s, tile: m, gy: gy, gyStride: gyStride, w: w, gx: gx, gxStride: gxStride, accumulate: accumulate,
                                           pool: pool)
        case .direct:
            try conv2dBackwardDataDirect(s, gy: gy, gyStride: gyStride, w: w, gx: gx, gxStride: gxStride, accumulate: accumulate, pool: pool)
        case .tapStacked:
            preconditionFailure("conv2d: \(algorithm.name) has no input gradient of its own")
        case .perSample:
            let chunks = sampleChunkCount(s)
            let block = sampleBlock(s, chunks: chunks)
            if block > 1 {
                // Blocks of samples side by side: the output gradient gathered, one GEMM, the input gradient put in place.
                let plane = s.outPlane, gathered = s.outChannels * block * plane
                try forSampleChunks(s, columns: (s.outChannels + s.inChannels) * block * plane, chunks: chunks, pool: pool) {
                    _, range, buffer, _ in
                    guard let grad = buffer else { return }
                    let out = grad + gathered
                    Self.forBlocks(of: range, size: block) { first, count in
                        let ld = count * plane
                        Self.gatherSamples(gy, sampleStride: gyStride, first: first, count: count, channels: s.outChannels, plane: plane,
                                           into: grad)
                        // out[Cin, count * HW] = W^T[Cin, Cout] * grad[Cout, count * HW]
                        gemm(transposeA: true, transposeB: false, m: s.inChannels, n: ld, k: s.outChannels, alpha: 1, a: w, lda: s.inChannels,
                             b: grad, ldb: ld, beta: 0, c: out, ldc: ld, threaded: false)
                        Self.scatterSamples(out, count: count, channels: s.inChannels, plane: plane, into: gx, sampleStride: gxStride,
                                            first: first, bias: nil, accumulate: accumulate)
                    }
                }
                return
            }
            try forSampleChunks(s, columns: geometry.isPointwise ? 0 : s.patch * s.outPlane, chunks: chunks, pool: pool) { _, range, col, serial in
                for sample in range {
                    let gys = gy + sample * gyStride, gxs = gx + sample * gxStride
                    if let col {
                        // col[K, HoWo] = W^T[K, Cout] * gradOutput_n[Cout, HoWo], folded back into gradInput_n.
                        gemm(transposeA: true, transposeB: false, m: s.patch, n: s.outPlane, k: s.outChannels, alpha: 1,
                             a: w, lda: s.patch, b: gys, ldb: s.outPlane, beta: 0, c: col, ldc: s.outPlane, threaded: false)
                        col2im(col, gx, sampleStride: gxStride, first: sample, count: 1, s, accumulate: accumulate, runner: serial)
                    } else {
                        // gradInput_n[Cin, HW] (+)= W^T[Cin, Cout] * gradOutput_n[Cout, HW]
                        gemm(transposeA: true, transposeB: false, m: s.inChannels, n: s.outPlane, k: s.outChannels, alpha: 1,
                             a: w, lda: s.inChannels, b: gys, ldb: s.outPlane, beta: accumulate ? 1 : 0, c: gxs, ldc: s.outPlane,
                             threaded: false)
                    }
                }
            }
        case .batched:
            // Groups of samples: gradOutput gathered to [Cout, nb * HoWo], col = W^T * that, folded back.
            try forSampleGroups(s, pool: pool) { first, count, col, grad in
                let ld = count * s.outPlane
                gatherChannels(gy, sampleStride: gyStride, first: first, count: count,
                               channels: s.outChannels, plane: s.outPlane, into: grad)
                gemm(transposeA: true, transposeB: false, m: s.patch, n: ld, k: s.outChannels, alpha: 1,
                     a: w, lda: s.patch, b: grad, ldb: ld, beta: 0, c: col, ldc: ld)
                col2im(col, gx, sampleStride: gxStride, first: first, count: count, s, accumulate: accumulate)
            }
        }
    }

    public func conv2dBackwardWeight(input: Tensor, gradOutput: Tensor, gradWeight: Tensor, gradBias: Tensor?, geometry: Conv2dGeometry,
                                     inputNorm: BatchNormReLU?) throws {
        let s = ConvShape(input: input, weight: gradWeight, output: gradOutput, geometry: geometry)
        if let gradBias {
            precondition(gradBias.count == s.outChannels, "conv2d: gradBias \(gradBias.shape) for \(s.outChannels) output channels")
        }
        let x = pointer(input), gy = pointer(gradOutput), gw = dense(gradWeight)
        let gyStride = gradOutput.sampleStride
        let source = convInput(s, x: x, xStride: input.sampleStride, norm: inputNorm)
        let pool = input.device.pool
        func run(_ algorithm: CPUConvAlgorithm, into gw: UnsafeMutablePointer<Float>) throws {
            if source.isNormalized && !algorithm.normalizesAsItReads {
                try forNormalizedGroups(s, source, pool: pool) { first, group, normalized in
                    try conv2dBackwardWeight(group, algorithm, input: normalized, gy: gy + first * gyStride, gyStride: gyStride, gw: gw,
                                             pool: pool)
                }
            } else {
                try conv2dBackwardWeight(s, algorithm, input: source, gy: gy, gyStride: gyStride, gw: gw, pool: pool)
            }
        }
        // The timed runs accumulate into a scratch gradient.
        var timing: UnsafeMutablePointer<Float>?
        let scratch = CPUScratch(pool)
        defer { scratch.release() }
        let algorithm = try choose(.backwardWeight, s, inputNorm: inputNorm != nil) { candidate in
            if timing == nil { timing = try scratch.floats(gradWeight.count) }
            try run(candidate, into: timing!)
        }
        try run(algorithm, into: gw)
        if let gradBias {
            let gb = dense(gradBias)
            parallel.forEach(s.outChannels, cost: s.n * s.outPlane) { co in
                var sum = 0.0
                for sample in 0..<s.n {
                    let p = gy + sample * gyStride + co * s.outPlane
                    for i in 0..<s.outPlane { sum += Double(p[i]) }
                }
                gb[co] += Float(sum)
            }
        }
    }

    /// `gw +=` the weight gradient with `algorithm`. Only an algorithm that normalises as it reads
    /// takes a normalised input. Scratch comes from `pool`.
    func conv2dBackwardWeight(_ s: ConvShape, _ algorithm: CPUConvAlgorithm, input: ConvInput, gy: UnsafeMutablePointer<Float>, gyStride: Int,
                              gw: UnsafeMutablePointer<Float>, pool: MemoryPool) throws {
        precondition(!input.isNormalized || algorithm.normalizesAsItReads, "conv2d: a normalised input for \(algorithm.name)")
        let x = input.x, xStride = input.stride
        switch algorithm {
        case .regions:
            guard let plan = ConvRegionPlan(s) else { preconditionFailure("conv2d: no region plan for \(s)") }
            try conv2dBackwardWeightByRegions(plan, s, x: x, xStride: xStride, gy: gy, gyStride: gyStride, gw: gw, pool: pool)
        case .tapStacked:
            try conv2dBackwardWeightTapStacked(s, input: input, gy: gy, gyStride: gyStride, gw: gw, pool: pool)
        case .winograd(let m):
            try conv2dBackwardWeightWinograd(s, tile: m, input: input, gy: gy, gyStride: gyStride, gw: gw, pool: pool)
        case .direct:
            try conv2dBackwardWeightDirect(s, input: input, gy: gy, gyStride: gyStride, gw: gw, pool: pool)
        case .transposed:
            preconditionFailure("conv2d: \(algorithm.name) computes only the input gradient")
        case .perSample:
            // Each thread sums its samples' gradients into a private buffer; the buffers are
            // added into gradWeight at the end (in a fixed order: the result does not depend on timing).
            let size = s.outChannels * s.patch
            let chunks = sampleChunkCount(s)
            let block = sampleBlock(s, chunks: chunks)
            let scratch = CPUScratch(pool)
            defer { scratch.release() }
            let partials = try scratch.floats(size * chunks)
            parallel.zero(partials, count: size * chunks)
            let columns = block > 1 ? s.outChannels * block * s.outPlane : s.geometry.isPointwise ? 0 : s.patch * s.outPlane
            try forSampleChunks(s, columns: columns, chunks: chunks, input: input, inputSamples: block, pool: pool) {
                chunk, range, col, serial in
                let partial = partials + size * chunk
                if block > 1, let grad = col {
                    // Blocks of samples side by side: partial[Cout, Cin] += grad[Cout, count * HW] * samples[Cin, count * HW]^T
                    let plane = s.outPlane
                    Self.forBlocks(of: range, size: block) { first, count in
                        let ld = count * plane
                        Self.gatherSamples(gy, sampleStride: gyStride, first: first, count: count, channels: s.outChannels, plane: plane,
                                           into: grad)
                        gemm(transposeA: false, transposeB: true, m: s.outChannels, n: s.inChannels, k: ld, alpha: 1, a: grad, lda: ld,
                             b: input.samples(first, count: count, chunk: chunk), ldb: ld, beta: 1, c: partial, ldc: s.patch, threaded: false)
                    }
                    return
                }
                for sample in range {
                    let xs = input.sample(sample, chunk: chunk), gys = gy + sample * gyStride
                    var source = UnsafePointer(xs)
                    if let col {
                        im2col(xs, sampleStride: 0, first: 0, count: 1, col, s, runner: serial)
                        source = UnsafePointer(col)
                    }
                    // partial[Cout, K] += gradOutput_n[Cout, HoWo] * col_n[K, HoWo]^T
                    gemm(transposeA: false, transposeB: true, m: s.outChannels, n: s.patch, k: s.outPlane, alpha: 1,
                         a: gys, lda: s.outPlane, b: source, ldb: s.outPlane, beta: 1, c: partial, ldc: s.patch, threaded: false)
                }
            }
            parallel.forChunks(size, cost: chunks) { range in
                for chunk in 0..<chunks {
                    let partial = partials + size * chunk
                    for i in range { gw[i] += partial[i] }
                }
            }
        case .batched:
            // Groups of samples: gradWeight += gradOutput[Cout, nb * HoWo] * col[K, nb * HoWo]^T.
            try forSampleGroups(s, pool: pool) { first, count, col, grad in
                let ld = count * s.outPlane
                im2col(x, sampleStride: xStride, first: first, count: count, col, s)
                gatherChannels(gy, sampleStride: gyStride, first: first, count: count,
                               channels: s.outChannels, plane: s.outPlane, into: grad)
                gemm(transposeA: false, transposeB: true, m: s.outChannels, n: s.patch, k: ld, alpha: 1,
                     a: grad, lda: ld, b: col, ldb: ld, beta: 1, c: gw, ldc: s.patch)
            }
        }
    }
}
