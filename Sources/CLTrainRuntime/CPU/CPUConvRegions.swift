/// Convolutions on small maps with large padding read mostly zeros: on a 4x4 map a 3x3 kernel
/// with dilation 4 and padding 4 reaches the image only through its centre tap, and with
/// dilation 2 every output reads 4 of its 9 taps from the image. (DRN's last stages are such
/// convolutions.) A region plan splits the output into rectangles whose positions all read the
/// same taps from inside the image and convolves each rectangle with only those taps: im2col
/// without padding checks, one GEMM per rectangle over a group of samples, no multiply-add spent
/// on padding. Forward, input gradient and weight gradient all follow the plan.
struct ConvRegionPlan {
    /// Output rows `rows` x columns `cols`, all of whose positions read kernel rows `rowTaps`
    /// and kernel columns `colTaps` from inside the image (and only those).
    struct Region {
        let rows: Range<Int>, cols: Range<Int>
        let rowTaps: [Int], colTaps: [Int]
        /// Per position (row-major in the rectangle): its index in an output plane, and the index
        /// in an input plane that kernel tap (0, 0) would read (possibly outside the plane).
        let outputIndex: [Int], inputIndex: [Int]
        /// Per tap (row-major over rowTaps x colTaps): its index in the kernel and the offset of
        /// what it reads from what tap (0, 0) reads.
        let kernelIndex: [Int], inputOffset: [Int]
        /// The taps as runs of consecutive kernel indices: each run's weights are one block of
        /// the tap-major kernel and its rows one block of the column matrix, so one GEMM.
        let tapRuns: [(kernel: Int, tap: Int, count: Int)]
        var positions: Int { outputIndex.count }
        var taps: Int { kernelIndex.count }

        init(rows: Range<Int>, cols: Range<Int>, rowTaps: [Int], colTaps: [Int], _ s: CPUBackend.ConvShape) {
            let g = s.geometry
            self.rows = rows; self.cols = cols; self.rowTaps = rowTaps; self.colTaps = colTaps
            outputIndex = rows.flatMap { oh in cols.map { ow in oh * s.outWidth + ow } }
            inputIndex = rows.flatMap { oh in cols.map { ow in (oh * g.strideH - g.padH) * s.width + ow * g.strideW - g.padW } }
            kernelIndex = rowTaps.flatMap { ki in colTaps.map { kj in ki * g.kernelW + kj } }
            inputOffset = rowTaps.flatMap { ki in colTaps.map { kj in ki * g.dilationH * s.width + kj * g.dilationW } }
            var runs: [(kernel: Int, tap: Int, count: Int)] = []
            for (t, k) in kernelIndex.enumerated() {
                if let last = runs.last, last.kernel + last.count == k {
                    runs[runs.count - 1].count += 1
                } else {
                    runs.append((k, t, 1))
                }
            }
            tapRuns = runs
        }
    }

    let regions: [Region]
    /// Multiply-adds of the plan over those of the dense convolution.
    let workFraction: Double

    /// Used only where it saves at least this fraction of the dense work: on larger maps the
    /// border regions are thin and one dense GEMM is faster.
    static let minimumSaving = 0.2

    /// The plan for a convolution, or nil where the dense im2col + GEMM does about as much work.
    init?(_ s: CPUBackend.ConvShape) {
        let g = s.geometry
        guard !g.isPointwise else { return nil }
        let rowRuns = Self.runs(outputs: s.outHeight, input: s.height, kernel: g.kernelH, stride: g.strideH,
                                pad: g.padH, dilation: g.dilationH)
        let colRuns = Self.runs(outputs: s.outWidth, input: s.width, kernel: g.kernelW, stride: g.strideW,
                                pad: g.padW, dilation: g.dilationW)
        // The work first (cheap), the index tables only for a plan that is used.
        var work = 0
        for (rows, rowTaps) in rowRuns {
            for (cols, colTaps) in colRuns { work += rows.count * cols.count * rowTaps.count * colTaps.count }
        }
        let dense = s.outPlane * g.kernelH * g.kernelW
        workFraction = Double(work) / Double(max(dense, 1))
        guard workFraction <= 1 - Self.minimumSaving else { return nil }
        regions = rowRuns.flatMap { rows, rowTaps in
            colRuns.map { cols, colTaps in Region(rows: rows, cols: cols, rowTaps: rowTaps, colTaps: colTaps, s) }
        }
    }

    /// Runs of consecutive outputs along one axis that read the same kernel taps inside the input.
    static func runs(outputs: Int, input: Int, kernel: Int, stride: Int, pad: Int, dilation: Int) -> [(Range<Int>, [Int])] {
        var runs: [(Range<Int>, [Int])] = []
        for o in 0..<outputs {
            let taps = (0..<kernel).filter { k in
                let i = o * stride - pad + k * dilation
                return i >= 0 && i < input
            }
            if let last = runs.last, last.1 == taps {
                runs[runs.count - 1].0 = last.0.lowerBound ..< o + 1
            } else {
                runs.append((o ..< o + 1, taps))
            }
        }
        return runs
    }

    /// Floats per sample of the largest column matrix (`inChannels * taps x positions`) and of the
    /// largest output block (`outChannels x positions`) of any region.
    func perSampleFloats(_ s: CPUBackend.ConvShape) -> (columns: Int, outputs: Int) {
        var columns = 1, outputs = 1
        for r in regions {
            columns = max(columns, s.inChannels * r.taps * r.positions)
            outputs = max(outputs, s.outChannels * r.positions)
        }
        return (columns, outputs)
    }
}

extension CPUBackend {
    /// Samples unfolded together by a region plan: as many as fit the column budget.
    func regionGroupSize(_ plan: ConvRegionPlan, _ s: ConvShape) -> Int {
        let floats = plan.perSampleFloats(s)
        let most = max(1, min(s.n, Self.columnBudget / max(floats.columns, floats.outputs)))
        let groups = (s.n + most - 1) / most
        return (s.n + groups - 1) / groups
    }

    /// The kernel tap-major: `[outChannels, kernelH * kernelW * inChannels]` with tap k's weights at
    /// `k * inChannels`, so that a run of taps is a block of columns (leading dimension
    /// `kernelH * kernelW * inChannels`). Only the taps some region reads are filled. Output channels
    /// split over the threads; the loop is `region_tap_major` (C).
    func tapMajorWeights(_ w: UnsafePointer<Float>, _ plan: ConvRegionPlan, _ s: ConvShape, into dst: UnsafeMutablePointer<Float>) {
        let area = s.geometry.kernelH * s.geometry.kernelW, cin = s.inChannels
        let used = Set(plan.regions.flatMap(\.kernelIndex)).sorted()
        used.withUnsafeBufferPointer { used in
            parallel.forChunks(s.outChannels, cost: cin * used.count) { range in
                SIMDReduction.kernels.region_tap_major(w, range.lowerBound, range.upperBound, cin, area, used.baseAddress!, used.count, dst)
            }
        }
    }

    /// `gw += ` the tap-major gradient `gwt`, turned back to `[outChannels, inChannels, kh, kw]`.
    /// Output channels split over the threads; the loop is `region_add_tap_major` (C).
    func addTapMajorGradient(_ gwt: UnsafePointer<Float>, _ plan: ConvRegionPlan, _ s: ConvShape, into gw: UnsafeMutablePointer<Float>) {
        let area = s.geometry.kernelH * s.geometry.kernelW, cin = s.inChannels
        let used = Set(plan.regions.flatMap(\.kernelIndex)).sorted()
        used.withUnsafeBufferPointer { used in
            parallel.forChunks(s.outChannels, cost: cin * used.count) { range in
                SIMDReduction.kernels.region_add_tap_major(gwt, range.lowerBound, range.upperBound, cin, area, used.baseAddress!, used.count,
                                                           gw)
            }
        }
    }

    /// Unfold a region of samples `first..<first+count` into `col[taps * inChannels, count * positions]`
    /// (row `t * inChannels + c`; sample j's columns at `j * positions`); every read lies inside the image.
    /// Channels split over the threads; the loop is `region_unfold` (C).
    func regionIm2col(_ x: UnsafePointer<Float>, sampleStride: Int, first: Int, count: Int,
                      _ col: UnsafeMutablePointer<Float>, _ r: ConvRegionPlan.Region, _ s: ConvShape) {
        let ld = count * r.positions
        r.inputIndex.withUnsafeBufferPointer { index in
            r.inputOffset.withUnsafeBufferPointer { offsets in
                parallel.forChunks(s.inChannels, cost: r.taps * ld) { range in
                    SIMDReduction.kernels.region_unfold(x + first * sampleStride, s.inPlane, sampleStride, count, range.lowerBound,
                                                        range.upperBound, s.inChannels, offsets.baseAddress!, r.taps,
                                                        index.baseAddress!, r.positions, col, ld)
                }
            }
        }
    }

    /// Add a region's column matrix (as `regionIm2col` lays it out) back into the samples' planes.
    /// Channels split over the threads (every tap of a channel on one thread); the loop is
    /// `region_fold` (C).
    func regionCol2im(_ col: UnsafePointer<Float>, _ x: UnsafeMutablePointer<Float>, sampleStride: Int, first: Int, count: Int,
                      _ r: ConvRegionPlan.Region, _ s: ConvShape) {
        let ld = count * r.positions
        r.inputIndex.withUnsafeBufferPointer { index in
            r.inputOffset.withUnsafeBufferPointer { offsets in
                parallel.forChunks(s.inChannels, cost: r.taps * ld) { range in
                    SIMDReduction.kernels.region_fold(col, ld, range.lowerBound, range.upperBound, s.inChannels, offsets.baseAddress!,
                                                      r.taps, index.baseAddress!, r.positions, count, x + first * sampleStride,
                                                      s.inPlane, sampleStride, nil, true)
                }
            }
        }
    }

    /// Copy a region of `channels`-channel output maps of samples `first..<first+count` into
    /// `[channels, count * positions]`, or back (`toMaps`), adding `bias` on the way back.
    /// Channels split over the threads; the loops are `region_unfold` and `region_fold` (C).
    func regionGather(_ maps: UnsafeMutablePointer<Float>, sampleStride: Int, first: Int, count: Int, channels: Int,
                      _ r: ConvRegionPlan.Region, _ s: ConvShape, block: UnsafeMutablePointer<Float>,
                      toMaps: Bool = false, bias: UnsafePointer<Float>? = nil) {
        let ld = count * r.positions, k = SIMDReduction.kernels
        r.outputIndex.withUnsafeBufferPointer { index in
            withUnsafePointer(to: 0) { origin in
                parallel.forChunks(channels, cost: ld) { range in
                    if toMaps {
                        k.region_fold(block, ld, range.lowerBound, range.upperBound, channels, origin, 1, index.baseAddress!,
                                      r.positions, count, maps + first * sampleStride, s.outPlane, sampleStride, bias, false)
                    } else {
                        k.region_unfold(maps + first * sampleStride, s.outPlane, sampleStride, count, range.lowerBound, range.upperBound,
                                        channels, origin, 1, index.baseAddress!, r.positions, block, ld)
                    }
                }
            }
        }
    }

    /// Forward by regions: `y = conv(x, w) + bias`. Scratch comes from `pool`.
    func conv2dForwardByRegions(_ plan: ConvRegionPlan, _ s: ConvShape, x: UnsafePointer<Float>, xStride: Int, w: UnsafePointer<Float>,
                                bias: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>, yStride: Int, pool: MemoryPool) throws {
        let nb = regionGroupSize(plan, s)
        let floats = plan.perSampleFloats(s)
        let cin = s.inChannels, lda = s.patch
        let scratch = CPUScratch(pool)
        defer { scratch.release() }
        let col = try scratch.floats(floats.columns * nb)
        let out = try scratch.floats(floats.outputs * nb)
        let wt = try scratch.floats(max(1, s.outChannels * s.patch))
        tapMajorWeights(w, plan, s, into: wt)
        for r in plan.regions {
            var first = 0
            while first < s.n {
                let count = min(nb, s.n - first), ld = count * r.positions
                if r.taps > 0 {
                    regionIm2col(x, sampleStride: xStride, first: first, count: count, col, r, s)
                    for (i, run) in r.tapRuns.enumerated() {
                        gemm(transposeA: false, transposeB: false, m: s.outChannels, n: ld, k: run.count * cin, alpha: 1,
                             a: wt + run.kernel * cin, lda: lda, b: col + run.tap * cin * ld, ldb: ld,
                             beta: i == 0 ? 0 : 1, c: out, ldc: ld)
                    }
                } else {
                    out.update(repeating: 0, count: s.outChannels * ld)  // positions that read only padding
                }
                regionGather(y, sampleStride: yStride, first: first, count: count, channels: s.outChannels, r, s,
                             block: out, toMaps: true, bias: bias)
                first += count
            }
        }
    }

    /// Input gradient by regions: `gx (+)= conv2d's adjoint applied to gy`. Scratch comes from `pool`.
    func conv2dBackwardDataByRegions(_ plan: ConvRegionPlan, _ s: ConvShape, gy: UnsafeMutablePointer<Float>, gyStride: Int,
                                     w: UnsafePointer<Float>, gx: UnsafeMutablePointer<Float>, gxStride: Int, accumulate: Bool,
                                     pool: MemoryPool) throws {
        if !accumulate {
            parallel.forEach(s.n * s.inChannels, cost: s.inPlane) { item in
                (gx + (item / s.inChannels) * gxStride + (item % s.inChannels) * s.inPlane).update(repeating: 0, count: s.inPlane)
            }
        }
        let nb = regionGroupSize(plan, s)
        let floats = plan.perSampleFloats(s)
        let cin = s.inChannels, lda = s.patch
        let scratch = CPUScratch(pool)
        defer { scratch.release() }
        let col = try scratch.floats(floats.columns * nb)
        let grad = try scratch.floats(floats.outputs * nb)
        let wt = try scratch.floats(max(1, s.outChannels * s.patch))
        tapMajorWeights(w, plan, s, into: wt)
        for r in plan.regions where r.taps > 0 {
            var first = 0
            while first < s.n {
                let count = min(nb, s.n - first), ld = count * r.positions
                regionGather(gy, sampleStride: gyStride, first: first, count: count, channels: s.outChannels, r, s, block: grad)
                for run in r.tapRuns {
                    // col rows of the run = (weights of the run)^T * grad
                    gemm(transposeA: true, transposeB: false, m: run.count * cin, n: ld, k: s.outChannels, alpha: 1,
                         a: wt + run.kernel * cin, lda: lda, b: grad, ldb: ld, beta: 0, c: col + run.tap * cin * ld, ldc: ld)
                }
                regionCol2im(col, gx, sampleStride: gxStride, first: first, count: count, r, s)
                first += count
            }
        }
    }

    /// Weight gradient by regions: `gw += gy * unfold(x)^T`; taps that read only padding get nothing.
    /// Scratch comes from `pool`.
    func conv2dBackwardWeightByRegions(_ plan: ConvRegionPlan, _ s: ConvShape, x: UnsafePointer<Float>, xStride: Int,
                                       gy: UnsafeMutablePointer<Float>, gyStride: Int, gw: UnsafeMutablePointer<Float>,
                                       pool: MemoryPool) throws {
        let nb = regionGroupSize(plan, s)
        let floats = plan.perSampleFloats(s)
        let cin = s.inChannels, ldc = s.patch
        let scratch = CPUScratch(pool)
        defer { scratch.release() }
        let col = try scratch.floats(floats.columns * nb)
        let grad = try scratch.floats(floats.outputs * nb)
        let gwt = try scratch.floats(max(1, s.outChannels * s.patch))
        parallel.zero(gwt, count: s.outChannels * s.patch)
        for r in plan.regions where r.taps > 0 {
            var first = 0
            while first < s.n {
                let count = min(nb, s.n - first), ld = count * r.positions
                regionIm2col(x, sampleStride: xStride, first: first, count: count, col, r, s)
                regionGather(gy, sampleStride: gyStride, first: first, count: count, channels: s.outChannels, r, s, block: grad)
                for run in r.tapRuns {
                    gemm(transposeA: false, transposeB: true, m: s.outChannels, n: run.count * cin, k: ld, alpha: 1,
                         a: grad, lda: ld, b: col + run.tap * cin * ld, ldb: ld, beta: 1, c: gwt + run.kernel * cin, ldc: ldc)
                }
                first += count
            }
        }
        addTapMajorGradient(gwt, plan, s, into: gw)
    }
}
