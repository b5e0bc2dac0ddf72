/// Winograd convolution F(m x m, 3 x 3) for 3x3 stride-1 convolutions (m = 2 or 4; the
/// matrices are in `WinogradTransform`, the tiles' transforms in the C loops of
/// `winograd_body.inc`): forward, input gradient and weight gradient, as
/// algorithms a caller (the autotuner) picks by shape; `conv2dForward` and the other entry
/// points keep their own rules.
///
/// The output is cut into m x m tiles, each computed from the alpha x alpha input tile under it
/// (alpha = m + 2) with alpha² multiplications per (input, output) channel pair instead of 9 m².
/// Per call the kernels are transformed once into `U[alpha², K, C]`. The tiles of all samples
/// are numbered one after another (`WinogradTiling`) and processed in chunks of `T` tiles, the
/// chunks split over threads, each thread with its own buffers: the chunk's input tiles are
/// transformed into `V[alpha², C, T]` (the input's batch norm + ReLU applied as they are read),
/// alpha² GEMMs give `M[ξ] = U[ξ] (K x C) · V[ξ] (C x T)`, and the output transform writes
/// `A^T M A` into the output, dropping what lies past the image.
///
/// Dilation d: a 3x3 convolution with dilation d and padding d P is, on each of the d x d
/// sub-grids of rows ≡ a and columns ≡ b (mod d), an undilated 3x3 convolution with padding P.
/// Tiles are laid on those sub-grids in place: a tile's rows are o, o + d, ..., o + (m - 1) d.
extension CPUBackend {
    typealias WinogradLanes = WinogradTransform.Lanes

    /// The tile sizes m for which F(m x m, 3 x 3) computes `s`: 2 and 4 for a 3x3 kernel with
    /// stride 1 and padding a multiple of the dilation (any dilation); none otherwise.
    static func winogradTiles(_ s: ConvShape) -> [Int] {
        let g = s.geometry
        guard g.kernelH == 3, g.kernelW == 3, g.strideH == 1, g.strideW == 1,
              g.padH % g.dilationH == 0, g.padW % g.dilationW == 0 else { return [] }
        return [2, 4]
    }

    /// Input floats of one chunk's transformed tiles (`alpha² * channels * T`) to aim for: the
    /// chunk's `V` (and `M`) stay in a core's L2 cache between the transforms and the GEMMs.
    static let winogradChunkBudget = 1 << 17

    /// Where the tiles of one Winograd convolution lie: outputs `outHeight x outWidth` from an
    /// input `height x width`, output (o, p) reading input rows `o - padH + i dilationH` and
    /// columns `p - padW + j dilationW` for taps (i, j). The padding may be negative (the input
    /// gradient of a convolution padded by more than twice its dilation reads no padding and
    /// skips input rows).
    struct WinogradTiling {
        let transform: WinogradTransform
        let height: Int, width: Int, outHeight: Int, outWidth: Int
        let padH: Int, padW: Int, dilationH: Int, dilationW: Int
        /// The first output row of each row of tiles (see `origins`); likewise columns.
        let rowOrigins: [Int], colOrigins: [Int]

        init(m: Int, height: Int, width: Int, outHeight: Int, outWidth: Int, padH: Int, padW: Int, dilationH: Int, dilationW: Int) {
            transform = WinogradTransform(m: m)
            self.height = height; self.width = width; self.outHeight = outHeight; self.outWidth = outWidth
            self.padH = padH; self.padW = padW; self.dilationH = dilationH; self.dilationW = dilationW
            rowOrigins = Self.origins(outputs: outHeight, dilation: dilationH, m: m)
            colOrigins = Self.origins(outputs: outWidth, dilation: dilationW, m: m)
        }

        /// The tiles of convolution `s` itself.
        init(_ s: ConvShape, m: Int) {
            let g = s.geometry
            self.init(m: m, height: s.height, width: s.width, outHeight: s.outHeight, outWidth: s.outWidth,
                      padH: g.padH, padW: g.padW, dilationH: g.dilationH, dilationW: g.dilationW)
        }

        /// First output row (or column) of each row of tiles: phase by phase (a = 0..<d), the
        /// rows a, a + m d, a + 2 m d, ... before `outputs`. The tile starting at row o covers
        /// rows o, o + d, ..., o + (m - 1) d: m consecutive rows of its phase's sub-grid.
        static func origins(outputs: Int, dilation: Int, m: Int) -> [Int] {
            (0..<min(dilation, outputs)).flatMap { phase in Array(stride(from: phase, to: outputs, by: m * dilation)) }
        }

        var tilesPerSample: Int { rowOrigins.count * colOrigins.count }

        /// Tile `tile` of the whole batch (in the order sample, row of tiles, column of tiles): its
        /// sample and its first output row and column.
        func place(_ tile: Int) -> (sample: Int, row: Int, col: Int) {
            let local = tile % tilesPerSample
            return (tile / tilesPerSample, rowOrigins[local / colOrigins.count], colOrigins[local % colOrigins.count])
        }

        /// `body(origins, rows, cols)` with where tiles `first..<first + count` of the whole batch
        /// lie in the output (samples `sampleStride` apart), as the C loops take it: for tile j,
        /// the offset of its first output from the start of a channel plane of sample 0, and how
        /// many of its m rows and m columns lie inside the output.
        func withPlacement(first: Int, count: Int, sampleStride: Int,
                           _ body: (UnsafePointer<Int>, UnsafePointer<UInt8>, UnsafePointer<UInt8>) -> Void) {
            let m = transform.m
            withUnsafeTemporaryAllocation(of: Int.self, capacity: count) { origins in
                withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 2 * count) { extents in
                    for j in 0..<count {
                        let (sample, row, col) = place(first + j)
                        origins[j] = sample * sampleStride + row * outWidth + col
                        extents[j] = UInt8(min(m, (outHeight - row + dilationH - 1) / dilationH))
                        extents[count + j] = UInt8(min(m, (outWidth - col + dilationW - 1) / dilationW))
                    }
                    body(UnsafePointer(origins.baseAddress!), UnsafePointer(extents.baseAddress!),
                         UnsafePointer(extents.baseAddress! + count))
                }
            }
        }

        /// `body(origins, rows, cols)` with where tiles `first..<first + count` of the whole batch
        /// read their `alpha x alpha` inputs (samples `sampleStride` apart), as the C loop takes it:
        /// for tile j, the offset of its input value (0, 0) from the start of a channel plane of
        /// sample 0 (it may lie in the padding), and the ranges `rows[2j]..<rows[2j + 1]` and
        /// `cols[2j]..<cols[2j + 1]` of its values that lie inside the image.
        func withInputPlacement(first: Int, count: Int, sampleStride: Int,
                                _ body: (UnsafePointer<Int>, UnsafePointer<UInt8>, UnsafePointer<UInt8>) -> Void) {
            let alpha = transform.alpha
            /// The values i < alpha of a line starting at `start` (steps `dilation`) inside `0..<size`.
            func span(_ start: Int, dilation: Int, size: Int) -> (UInt8, UInt8) {
                let lo = start >= 0 ? 0 : (-start + dilation - 1) / dilation
                let hi = start >= size ? 0 : (size - 1 - start) / dilation + 1
                let l = min(lo, alpha), h = min(max(hi, l), alpha)
                return (UInt8(l), UInt8(h))
            }
            withUnsafeTemporaryAllocation(of: Int.self, capacity: count) { origins in
                withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 4 * count) { spans in
                    for j in 0..<count {
                        let tile = place(first + j), row = tile.row - padH, col = tile.col - padW
                        origins[j] = tile.sample * sampleStride + row * width + col
                        (spans[2 * j], spans[2 * j + 1]) = span(row, dilation: dilationH, size: height)
                        (spans[2 * count + 2 * j], spans[2 * count + 2 * j + 1]) = span(col, dilation: dilationW, size: width)
                    }
                    body(UnsafePointer(origins.baseAddress!), UnsafePointer(spans.baseAddress!), UnsafePointer(spans.baseAddress! + 2 * count))
                }
            }
        }
    }

    /// How one call's tiles are cut into chunks and the chunks shared among threads.
    struct WinogradChunks {
        /// Tiles in all, tiles per chunk (a multiple of 8: the row length of `V` and `M`), threads.
        let tiles: Int, size: Int, threads: Int
        var count: Int { (tiles + size - 1) / size }
    }

    /// Fewest tiles per chunk (unless there are fewer in all): the GEMMs' row length. With wide
    /// layers (256 channels, F(4x4)) the budget alone would give 8, and GEMMs 8 columns wide.
    static let winogradMinimumChunk = 32

    /// Chunks of about `winogradChunkBudget` floats of `alpha²`-point tiles of `channels`
    /// channels (the larger of input and output channels), or `winogradMinimumChunk` tiles if
    /// that is more, but no more than a thread's share of the tiles, so that every thread gets a
    /// chunk; `cost` is the work of one tile.
    func winogradChunks(tiles: Int, area: Int, channels: Int, cost: Int) -> WinogradChunks {
        let lanes = WinogradLanes.scalarCount
        let fits = max(Self.winogradMinimumChunk / lanes, Self.winogradChunkBudget / max(area * channels, 1) / lanes) * lanes
        let share = (tiles + parallel.threads - 1) / parallel.threads
        let size = min(fits, max(1, (share + lanes - 1) / lanes) * lanes)
        let chunks = (tiles + size - 1) / size
        return WinogradChunks(tiles: tiles, size: size, threads: parallel.chunkCount(chunks, cost: size * cost))
    }

    /// `body(thread, first, count)` for every chunk of tiles `first..<first + count`, each thread
    /// taking a fixed run of consecutive chunks (so what a thread sums does not depend on timing).
    private func forWinogradChunks(_ chunks: WinogradChunks, _ body: (_ thread: Int, _ first: Int, _ count: Int) -> Void) {
        parallel.forChunks(chunks.count, chunks: chunks.threads) { thread, range in
            for chunk in range {
                let first = chunk * chunks.size
                body(thread, first, min(chunks.size, chunks.tiles - first))
            }
        }
    }

    // MARK: The three operations

    /// `y = conv(input, w) + bias` (y overwritten) with F(m x m, 3 x 3). `input`'s batch norm +
    /// ReLU, if any, is applied in the input transform; `w` is `[K, C, 3, 3]`, `bias` `[K]`,
    /// sample n of y starts at `y + n * yStride`. Scratch comes from `pool`.
    func conv2dForwardWinograd(_ s: ConvShape, tile m: Int, input: ConvInput, w: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                               y: UnsafeMutablePointer<Float>, yStride: Int, pool: MemoryPool) throws {
        precondition(Self.winogradTiles(s).contains(m), "conv2d: no Winograd F(\(m)x\(m), 3x3) for \(s.geometry)")
        precondition(input.channels == s.inChannels && input.plane == s.inPlane, "conv2d: input of \(input.channels) x \(input.plane)")
        try winogradConvolve(WinogradTiling(s, m: m), n: s.n, inChannels: s.inChannels, outChannels: s.outChannels, input: input,
                             w: w, bias: bias, y: y, yStride: yStride, accumulate: false, pool: pool)
    }

    /// `gx (+)= ` the input gradient of convolution `s` for output gradient `gy` (`[n, K, Ho, Wo]`,
    /// samples `gyStride` apart), with F(m x m, 3 x 3): a forward convolution of gy with the
    /// kernels turned around, input and output channels swapped, and padding `2 d - pad` (a
    /// multiple of d again; negative where `pad > 2 d`). Scratch comes from `pool`.
    func conv2dBackwardDataWinograd(_ s: ConvShape, tile m: Int, gy: UnsafeMutablePointer<Float>, gyStride: Int, w: UnsafePointer<Float>,
                                    gx: UnsafeMutablePointer<Float>, gxStride: Int, accumulate: Bool, pool: MemoryPool) throws {
        precondition(Self.winogradTiles(s).contains(m), "conv2d: no Winograd F(\(m)x\(m), 3x3) for \(s.geometry)")
        let g = s.geometry
        let tiling = WinogradTiling(m: m, height: s.outHeight, width: s.outWidth, outHeight: s.height, outWidth: s.width,
                                    padH: 2 * g.dilationH - g.padH, padW: 2 * g.dilationW - g.padW,
                                    dilationH: g.dilationH, dilationW: g.dilationW)
        let scratch = CPUScratch(pool)
        defer { scratch.release() }
        let turned = try scratch.floats(s.inChannels * s.outChannels * 9)
        turnKernels(w, s, into: turned)
        let source = ConvInput(x: gy, stride: gyStride, channels: s.outChannels, plane: s.outPlane)
        try winogradConvolve(tiling, n: s.n, inChannels: s.outChannels, outChannels: s.inChannels, input: source, w: turned,
                             bias: nil, y: gx, yStride: gxStride, accumulate: accumulate, pool: pool)
    }

    /// `gw +=` the weight gradient of convolution `s` (`[K, C, 3, 3]`) with F(m x m, 3 x 3),
    /// summed in the Winograd domain: per tile `V = B^T d B` (d through `input`'s batch norm +
    /// ReLU) and `dM = A dY A^T` (dY zero past the image), `dU[ξ] (K x C) += dM[ξ] (K x T) ·
    /// V[ξ]^T` per chunk, then `gw += G^T dU G`. Each thread sums its chunks into its own dU;
    /// those are added in thread order, so the result does not depend on timing. Scratch comes
    /// from `pool`.
    func conv2dBackwardWeightWinograd(_ s: ConvShape, tile m: Int, input: ConvInput, gy: UnsafeMutablePointer<Float>, gyStride: Int,
                                      gw: UnsafeMutablePointer<Float>, pool: MemoryPool) throws {
        precondition(Self.winogradTiles(s).contains(m), "conv2d: no Winograd F(\(m)x\(m), 3x3) for \(s.geometry)")
        precondition(input.channels == s.inChannels && input.plane == s.inPlane, "conv2d: input of \(input.channels) x \(input.plane)")
        let tiling = WinogradTiling(s, m: m), area = tiling.transform.alpha * tiling.transform.alpha
        let c = s.inChannels, k = s.outChannels, size = area * k * c
        let chunks = winogradChunks(tiles: s.n * tiling.tilesPerSample, area: area, channels: max(c, k), cost: area * c * k)
        guard chunks.threads > 0 else { return }
        let ld = chunks.size
        let scratch = CPUScratch(pool)
        defer { scratch.release() }
        let inputs = try (0..<chunks.threads).map { _ in try scratch.floats(area * c * ld) }
        let gradients = try (0..<chunks.threads).map { _ in try scratch.floats(area * k * ld) }
        let partials = try scratch.floats(size * chunks.threads)
        parallel.zero(partials, count: size * chunks.threads)
        forWinogradChunks(chunks) { thread, first, count in
            let v = inputs[thread], dm = gradients[thread], du = partials + size * thread
            winogradTransformInput(tiling, input, first: first, count: count, into: v, ld: ld)
            winogradTransformOutputGradient(tiling, gy: gy, gyStride: gyStride, channels: k, first: first, count: count, into: dm, ld: ld)
            for xi in 0..<area {
                gemm(transposeA: false, transposeB: true, m: k, n: c, k: count, alpha: 1, a: dm + xi * k * ld, lda: ld,
                     b: v + xi * c * ld, ldb: ld, beta: 1, c: du + xi * k * c, ldc: c, threaded: false)
            }
        }
        parallel.forChunks(size, cost: chunks.threads) { range in
            for thread in 1..<chunks.threads {
                let du = partials + size * thread
                for i in range { partials[i] += du[i] }
            }
        }
        winogradAccumulateWeightGradient(partials, outChannels: k, inChannels: c, tiling.transform, into: gw)
    }

    // MARK: The loops behind them

    /// `y (+)= conv(input, w) (+ bias)` over the tiles of `tiling`: `w` is `[K, C, 3, 3]`, the
    /// input has C channels, y (K channels, samples `yStride` apart) is overwritten unless
    /// `accumulate`. Scratch comes from `pool`.
    private func winogradConvolve(_ tiling: WinogradTiling, n: Int, inChannels c: Int, outChannels k: Int, input: ConvInput,
                          w: UnsafePointer<Float>, bias: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>, yStride: Int,
                          accumulate: Bool, pool: MemoryPool) throws {
        let t = tiling.transform, area = t.alpha * t.alpha
        let chunks = winogradChunks(tiles: n * tiling.tilesPerSample, area: area, channels: max(c, k), cost: area * c * k)
        guard chunks.threads > 0 else { return }
        let ld = chunks.size
        let scratch = CPUScratch(pool)
        defer { scratch.release() }
        let u = try scratch.floats(area * k * c)
        winogradTransformWeights(w, outChannels: k, inChannels: c, t, into: u)
        let inputs = try (0..<chunks.threads).map { _ in try scratch.floats(area * c * ld) }
        let products = try (0..<chunks.threads).map { _ in try scratch.floats(area * k * ld) }
        forWinogradChunks(chunks) { thread, first, count in
            let v = inputs[thread], product = products[thread]
            winogradTransformInput(tiling, input, first: first, count: count, into: v, ld: ld)
            for xi in 0..<area {
                gemm(transposeA: false, transposeB: false, m: k, n: count, k: c, alpha: 1, a: u + xi * k * c, lda: c,
                     b: v + xi * c * ld, ldb: ld, beta: 0, c: product + xi * k * ld, ldc: ld, threaded: false)
            }
            winogradTransformOutput(tiling, product, ld: ld, channels: k, first: first, count: count, bias: bias,
                                    y: y, yStride: yStride, accumulate: accumulate)
        }
    }

    /// `body(tile, k, start, lanes)` for each output channel k and each group of up to eight input
    /// channels from `start` (`lanes` of them): the output channels split over the threads, each
    /// with a tile of `alpha²` lanes of its own.
    private func forKernelGroups(outChannels: Int, inChannels: Int, _ t: WinogradTransform,
                                 _ body: (_ tile: UnsafeMutablePointer<WinogradLanes>, _ k: Int, _ start: Int, _ lanes: Int) -> Void) {
        parallel.forChunks(outChannels, cost: inChannels * t.alpha * t.alpha) { range in
            withUnsafeTemporaryAllocation(of: WinogradLanes.self, capacity: t.alpha * t.alpha) { buffer in
                for k in range {
                    for start in stride(from: 0, to: inChannels, by: WinogradLanes.scalarCount) {
                        body(buffer.baseAddress!, k, start, min(WinogradLanes.scalarCount, inChannels - start))
                    }
                }
            }
        }
    }

    /// `U[ξ, k, c] = (G w[k, c] G^T)[ξ]` for kernels `w` `[K, C, 3, 3]`; `u` is `[alpha², K, C]`.
    /// Eight input channels at a time, output channels split over the threads.
    private func winogradTransformWeights(_ w: UnsafePointer<Float>, outChannels: Int, inChannels: Int, _ t: WinogradTransform,
                                  into u: UnsafeMutablePointer<Float>) {
        let area = t.alpha * t.alpha
        forKernelGroups(outChannels: outChannels, inChannels: inChannels, t) { tile, k, start, lanes in
            // Gathered as floats into the tile's lanes: setting a vector's lane one at a time goes
            // through memory on baseline x86-64 (measured 4x slower than native).
            tile.withMemoryRebound(to: Float.self, capacity: area * WinogradLanes.scalarCount) { floats in
                for i in 0..<3 {
                    for j in 0..<3 {
                        let tap = floats + (i * t.alpha + j) * WinogradLanes.scalarCount
                        if lanes < WinogradLanes.scalarCount { tap.update(repeating: 0, count: WinogradLanes.scalarCount) }
                        for lane in 0..<lanes { tap[lane] = w[(k * inChannels + start + lane) * 9 + i * 3 + j] }
                    }
                }
            }
            t.weight(tile)
            for xi in 0..<area {
                WinogradTransform.store(tile[xi], u + (xi * outChannels + k) * inChannels + start, count: lanes)
            }
        }
    }

    /// `gw[k, c] += G^T dU[k, c] G` for the Winograd-domain gradient `du` `[alpha², K, C]`; `gw`
    /// is `[K, C, 3, 3]`. Eight input channels at a time, output channels split over the threads.
    private func winogradAccumulateWeightGradient(_ du: UnsafePointer<Float>, outChannels: Int, inChannels: Int, _ t: WinogradTransform,
                                          into gw: UnsafeMutablePointer<Float>) {
        forKernelGroups(outChannels: outChannels, inChannels: inChannels, t) { tile, k, start, lanes in
            for xi in 0..<(t.alpha * t.alpha) {
                tile[xi] = WinogradTransform.load(du + (xi * outChannels + k) * inChannels + start, count: lanes)
            }
            t.weightGradient(tile)
            for lane in 0..<lanes {
                let dst = gw + (k * inChannels + start + lane) * 9
                for i in 0..<3 {
                    for j in 0..<3 { dst[i * 3 + j] += tile[i * t.alpha + j][lane] }
                }
            }
        }
    }

    /// `V[ξ, c, j] = (B^T d B)[ξ]` for tile `first + j` (j < count) and every input channel c, d
    /// being the tile's `alpha x alpha` input read through the input's batch norm + ReLU, zero
    /// outside the image (the padding pads the normalised input). `v` is `[alpha², C, ld]`; lanes
    /// from `count` to the next multiple of 8 are written with zeros. The loop is
    /// `winograd_input` (C).
    private func winogradTransformInput(_ tiling: WinogradTiling, _ input: ConvInput, first: Int, count: Int,
                                into v: UnsafeMutablePointer<Float>, ld: Int) {
        let norm = input.norm
        tiling.withInputPlacement(first: first, count: count, sampleStride: input.stride) { origins, rows, cols in
            SIMDReduction.kernels.winograd_input(input.x, input.channels, input.plane, tiling.transform.m, count, origins, rows, cols,
                                                 tiling.dilationH * tiling.width, tiling.dilationW, norm?.scales, norm?.shifts, v, ld)
        }
    }

    /// `y (+)= A^T M A (+ bias)` for tiles `first..<first + count`: `product` is `M`,
    /// `[alpha², K, ld]`; outputs past the image are dropped. y is `[n, K, Ho, Wo]`, samples
    /// `yStride` apart, overwritten unless `accumulate`. The loop is `winograd_output` (C).
    private func winogradTransformOutput(_ tiling: WinogradTiling, _ product: UnsafePointer<Float>, ld: Int, channels: Int, first: Int, count: Int,
                                 bias: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>, yStride: Int, accumulate: Bool) {
        tiling.withPlacement(first: first, count: count, sampleStride: yStride) { origins, rows, cols in
            SIMDReduction.kernels.winograd_output(product, ld, channels, tiling.transform.m, count, origins, rows, cols,
                                                  tiling.outHeight * tiling.outWidth, tiling.dilationH * tiling.outWidth,
                                                  tiling.dilationW, bias, accumulate, y)
        }
    }

    /// `dM[ξ, k, j] = (A dY A^T)[ξ]` for tile `first + j` (j < count) and every output channel k,
    /// dY being the tile's `m x m` output gradient, zero past the image. `gy` is `[n, K, Ho, Wo]`,
    /// samples `gyStride` apart; `dm` is `[alpha², K, ld]`, lanes from `count` to the next
    /// multiple of 8 written with zeros. The loop is `winograd_output_gradient` (C).
    private func winogradTransformOutputGradient(_ tiling: WinogradTiling, gy: UnsafePointer<Float>, gyStride: Int, channels: Int,
                                         first: Int, count: Int, into dm: UnsafeMutablePointer<Float>, ld: Int) {
        tiling.withPlacement(first: first, count: count, sampleStride: gyStride) { origins, rows, cols in
            SIMDReduction.kernels.winograd_output_gradient(gy, channels, tiling.transform.m, count, origins, rows, cols,
                                                           tiling.outHeight * tiling.outWidth, tiling.dilationH * tiling.outWidth,
                                                           tiling.dilationW, dm, ld)
        }
    }
}
