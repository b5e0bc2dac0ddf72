/// Max, average and global average pooling, one (sample, channel) plane per task.
extension CPUBackend {
    struct PoolShape {
        let n: Int, channels: Int, height: Int, width: Int, outHeight: Int, outWidth: Int
        let geometry: Pool2dGeometry
        var planes: Int { n * channels }
        var inPlane: Int { height * width }
        var outPlane: Int { outHeight * outWidth }

        init(input: Tensor, output: Tensor, geometry g: Pool2dGeometry, name: String) {
            precondition(input.rank == 4, "\(name): input \(input.shape) must be 4-D")
            n = input.shape[0]; channels = input.shape[1]; height = input.shape[2]; width = input.shape[3]
            outHeight = g.outputHeight(height); outWidth = g.outputWidth(width); geometry = g
            precondition(outHeight > 0 && outWidth > 0 && output.shape == [n, channels, outHeight, outWidth],
                         "\(name): output \(output.shape) should be \([n, channels, outHeight, outWidth]) for input \(input.shape), \(g)")
        }

        /// Pointer to plane `index` (sample-major) of a tensor with this sample stride.
        func plane(_ base: UnsafeMutablePointer<Float>, _ index: Int, sampleStride: Int, planeSize: Int) -> UnsafeMutablePointer<Float> {
            base + (index / channels) * sampleStride + (index % channels) * planeSize
        }
    }

    /// Valid input ranges of each output row and column (padding ≤ kernel / 2 keeps them non-empty).
    struct PoolWindows {
        let rows: [Range<Int>], columns: [Range<Int>]
        init(_ s: PoolShape) {
            let g = s.geometry
            rows = (0..<s.outHeight).map { oh in
                let h0 = oh * g.strideH - g.padH
                return max(h0, 0)..<min(h0 + g.kernelH, s.height)
            }
            columns = (0..<s.outWidth).map { ow in
                let w0 = ow * g.strideW - g.padW
                return max(w0, 0)..<min(w0 + g.kernelW, s.width)
            }
        }
    }

    /// `a` or `b`, whichever is larger; NaN wins (branch-free).
    @inline(__always)
    static func nanMax(_ a: Float, _ b: Float) -> Float {
        let m = mask(bit(b > a) | bit(b != b))
        return Float(bitPattern: (b.bitPattern & m) | (a.bitPattern & ~m))
    }

    /// A Bool as 0 or 1 without a branch (`||`/`&&` short-circuit into jumps).
    @inline(__always)
    static func bit(_ b: Bool) -> UInt32 { UInt32(unsafeBitCast(b, to: UInt8.self)) }
    /// 0 or 1 to all-zero or all-one bits.
    @inline(__always)
    static func mask(_ bit: UInt32) -> UInt32 { 0 &- bit }

    /// The candidate `v` at `index` replaces `best` when larger, or when it is the first NaN:
    /// branch-free, since random data makes the comparison unpredictable.
    @inline(__always)
    static func keepFirstMax(_ best: inout Float, _ bestIndex: inout Int32, _ v: Float, _ index: Int32) {
        let m = mask(bit(v > best) | (bit(v != v) & bit(best == best)))
        best = Float(bitPattern: (v.bitPattern & m) | (best.bitPattern & ~m))
        bestIndex = Int32(bitPattern: (UInt32(bitPattern: index) & m) | (UInt32(bitPattern: bestIndex) & ~m))
    }

    /// `keepFirstMax` on four lanes, the select done with bit operations: `replace(with:where:)`
    /// stays a lane-by-lane loop of jumps on baseline x86-64 (SSE2 has no blend), which ran max
    /// pooling's backward at half the speed of a native build.
    @inline(__always)
    static func keepFirstMax(_ best: inout SIMD4<Float>, _ bestIndex: inout SIMD4<Int32>, _ v: SIMD4<Float>, _ index: SIMD4<Int32>) {
        typealias Bits = SIMD4<Int32>
        let vb = unsafeBitCast(v, to: Bits.self), bb = unsafeBitCast(best, to: Bits.self)
        // All ones where v > best, or where v is the first NaN (v != v and best == best).
        let greater = unsafeBitCast(v .> best, to: Bits.self)
        let firstNaN = unsafeBitCast(v .!= v, to: Bits.self) & unsafeBitCast(best .== best, to: Bits.self)
        let take = greater | firstNaN
        best = unsafeBitCast((vb & take) | (bb & ~take), to: SIMD4<Float>.self)
        bestIndex = (index & take) | (bestIndex & ~take)
    }

    /// Separable: per output row, the column-wise maximum over the window's rows (contiguous,
    /// independent per column), then the maximum over each window's columns. Each thread has a
    /// line of scratch from the pool.
    public func maxPool2dForward(input: Tensor, output: Tensor, geometry: Pool2dGeometry) throws {
        let s = PoolShape(input: input, output: output, geometry: geometry, name: "maxPool2d")
        let x = pointer(input), y = pointer(output)
        let xs = input.sampleStride, ys = output.sampleStride
        let windows = PoolWindows(s)
        let width = s.width, outWidth = s.outWidth
        let chunks = parallel.chunkCount(s.planes, cost: s.outPlane * geometry.kernelH * geometry.kernelW)
        let scratch = CPUScratch(input.device.pool)
        defer { scratch.release() }
        let lines = try (0..<chunks).map { _ in try scratch.floats(width) }
        windows.rows.withUnsafeBufferPointer { rows in
            windows.columns.withUnsafeBufferPointer { columns in
                parallel.forChunks(s.planes, chunks: chunks) { chunk, planes in
                    let line = lines[chunk]
                    for p in planes {
                        let xp = s.plane(x, p, sampleStride: xs, planeSize: s.inPlane)
                        let yp = s.plane(y, p, sampleStride: ys, planeSize: s.outPlane)
                        for oh in 0..<rows.count {
                            let r = rows[oh], out = yp + oh * outWidth
                            line.update(from: xp + r.lowerBound * width, count: width)
                            for ih in r.lowerBound + 1 ..< r.upperBound {
                                let src = xp + ih * width
                                for iw in 0..<width { line[iw] = Self.nanMax(line[iw], src[iw]) }
                            }
                            for ow in 0..<outWidth {
                                let c = columns[ow]
                                var best = line[c.lowerBound]
                                for iw in c.lowerBound + 1 ..< c.upperBound { best = Self.nanMax(best, line[iw]) }
                                out[ow] = best
                            }
                        }
                    }
                }
            }
        }
    }

    /// Separable the other way round so ties resolve as the row-major scan does: per input row
    /// the first maximum of each window's columns, then the first of those down the window's rows.
    /// Each thread keeps those in scratch from the pool.
    public func maxPool2dBackward(input: Tensor, gradOutput: Tensor, gradInput: Tensor, geometry: Pool2dGeometry, accumulate: Bool) throws {
        let s = PoolShape(input: input, output: gradOutput, geometry: geometry, name: "maxPool2dBackward")
        precondition(gradInput.shape == input.shape, "maxPool2dBackward: gradInput \(gradInput.shape) differs from input \(input.shape)")
        let x = pointer(input), gy = pointer(gradOutput), gx = pointer(gradInput)
        let xs = input.sampleStride, gys = gradOutput.sampleStride, gxs = gradInput.sampleStride
        let windows = PoolWindows(s)
        let width = s.width, height = s.height, outWidth = s.outWidth
        let chunks = parallel.chunkCount(s.planes, cost: s.outPlane * geometry.kernelH * geometry.kernelW)
        let scratch = CPUScratch(input.device.pool)
        defer { scratch.release() }
        // Per chunk, per input row and output column: the window's best value and its index.
        let best = try (0..<chunks).map { _ in
            (values: try scratch.floats(height * outWidth), indices: try scratch.int32s(height * outWidth))
        }
        windows.rows.withUnsafeBufferPointer { rows in
            windows.columns.withUnsafeBufferPointer { columns in
                parallel.forChunks(s.planes, chunks: chunks) { chunk, planes in
                    let (values, indices) = best[chunk]
                    for p in planes {
                        let xp = s.plane(x, p, sampleStride: xs, planeSize: s.inPlane)
                        let gyp = s.plane(gy, p, sampleStride: gys, planeSize: s.outPlane)
                        let gxp = s.plane(gx, p, sampleStride: gxs, planeSize: s.inPlane)
                        if !accumulate { gxp.update(repeating: 0, count: s.inPlane) }
                        for ih in 0..<height {
                            let src = xp + ih * width, vrow = values + ih * outWidth, irow = indices + ih * outWidth
                            var ow = 0
                            // Four outputs at a time in SIMD lanes (vector selects stay branch-free;
                            // scalar ones become jumps). A window cut by the padding repeats its
                            // last column, which never replaces the first maximum.
                            let base = Int32(truncatingIfNeeded: ih * width)
                            while ow + 4 <= outWidth {
                                let w0 = columns[ow], w1 = columns[ow + 1], w2 = columns[ow + 2], w3 = columns[ow + 3]
                                var best = SIMD4<Float>(src[w0.lowerBound], src[w1.lowerBound], src[w2.lowerBound], src[w3.lowerBound])
                                var bestIndex = SIMD4<Int32>(Int32(w0.lowerBound), Int32(w1.lowerBound), Int32(w2.lowerBound),
                                                             Int32(w3.lowerBound)) &+ base
                                for k in 1..<max(geometry.kernelW, 1) {
                                    let i0 = min(w0.lowerBound + k, w0.upperBound - 1), i1 = min(w1.lowerBound + k, w1.upperBound - 1)
                                    let i2 = min(w2.lowerBound + k, w2.upperBound - 1), i3 = min(w3.lowerBound + k, w3.upperBound - 1)
                                    let v = SIMD4<Float>(src[i0], src[i1], src[i2], src[i3])
                                    let index = SIMD4<Int32>(Int32(i0), Int32(i1), Int32(i2), Int32(i3)) &+ base
                                    Self.keepFirstMax(&best, &bestIndex, v, index)
                                }
                                UnsafeMutableRawPointer(vrow + ow).storeBytes(of: best, as: SIMD4<Float>.self)
                                UnsafeMutableRawPointer(irow + ow).storeBytes(of: bestIndex, as: SIMD4<Int32>.self)
                                ow += 4
                            }
                            for ow in ow..<outWidth {
                                let c = columns[ow]
                                var best = src[c.lowerBound], bestIndex = Int32(truncatingIfNeeded: ih * width + c.lowerBound)
                                for iw in c.lowerBound + 1 ..< c.upperBound {
                                    Self.keepFirstMax(&best, &bestIndex, src[iw], Int32(truncatingIfNeeded: ih * width + iw))
                                }
                                vrow[ow] = best
                                irow[ow] = bestIndex
                            }
                        }
                        for oh in 0..<rows.count {
                            let r = rows[oh], grad = gyp + oh * outWidth
                            var ow = 0
                            while ow + 4 <= outWidth {
                                let first = r.lowerBound * outWidth + ow
                                var best = UnsafeRawPointer(values + first).loadUnaligned(as: SIMD4<Float>.self)
                                var bestIndex = UnsafeRawPointer(indices + first).loadUnaligned(as: SIMD4<Int32>.self)
                                for ih in r.lowerBound + 1 ..< r.upperBound {
                                    let v = UnsafeRawPointer(values + ih * outWidth + ow).loadUnaligned(as: SIMD4<Float>.self)
                                    let index = UnsafeRawPointer(indices + ih * outWidth + ow).loadUnaligned(as: SIMD4<Int32>.self)
                                    Self.keepFirstMax(&best, &bestIndex, v, index)
                                }
                                for lane in 0..<4 { gxp[Int(bestIndex[lane])] += grad[ow + lane] }
                                ow += 4
                            }
                            for ow in ow..<outWidth {
                                var best = values[r.lowerBound * outWidth + ow], bestIndex = indices[r.lowerBound * outWidth + ow]
                                for ih in r.lowerBound + 1 ..< r.upperBound {
                                    Self.keepFirstMax(&best, &bestIndex, values[ih * outWidth + ow], indices[ih * outWidth + ow])
                                }
                                gxp[Int(bestIndex)] += grad[ow]
                            }
                        }
                    }
                }
            }
        }
    }

    public func avgPool2dForward(input: Tensor, output: Tensor, geometry g: Pool2dGeometry) throws {
        let s = PoolShape(input: input, output: output, geometry: g, name: "avgPool2d")
        let x = pointer(input), y = pointer(output)
        let xs = input.sampleStride, ys = output.sampleStride
        // count_include_pad: without ceil mode every window lies inside the padded input.
        let scale = 1 / Float(g.kernelH * g.kernelW)
        let width = s.width, outWidth = s.outWidth
        if g.kernelH == 2 && g.kernelW == 2 && g.strideH == 2 && g.strideW == 2 && g.padH == 0 && g.padW == 0 {
            parallel.forEach(s.planes, cost: s.outPlane * 4) { p in
                let xp = s.plane(x, p, sampleStride: xs, planeSize: s.inPlane)
                let yp = s.plane(y, p, sampleStride: ys, planeSize: s.outPlane)
                for oh in 0..<s.outHeight {
                    let r0 = xp + 2 * oh * width, r1 = r0 + width, out = yp + oh * outWidth
                    for ow in 0..<outWidth {
                        out[ow] = ((r0[2 * ow] + r0[2 * ow + 1]) + (r1[2 * ow] + r1[2 * ow + 1])) * scale
                    }
                }
            }
            return
        }
        let windows = PoolWindows(s)
        windows.rows.withUnsafeBufferPointer { rows in
            windows.columns.withUnsafeBufferPointer { columns in
                parallel.forEach(s.planes, cost: s.outPlane * g.kernelH * g.kernelW) { p in
                    let xp = s.plane(x, p, sampleStride: xs, planeSize: s.inPlane)
                    let yp = s.plane(y, p, sampleStride: ys, planeSize: s.outPlane)
                    for oh in 0..<rows.count {
                        let r = rows[oh], out = yp + oh * outWidth
                        for ow in 0..<outWidth {
                            let c = columns[ow]
                            var sum: Float = 0
                            for ih in r {
                                let line = xp + ih * width
                                for iw in c { sum += line[iw] }
                            }
                            out[ow] = sum * scale
                        }
                    }
                }
            }
        }
    }

    public func avgPool2dBackward(gradOutput: Tensor, gradInput: Tensor, geometry g: Pool2dGeometry, accumulate: Bool) throws {
        let s = PoolShape(input: gradInput, output: gradOutput, geometry: g, name: "avgPool2dBackward")
        let gy = pointer(gradOutput), gx = pointer(gradInput)
        let gys = gradOutput.sampleStride, gxs = gradInput.sampleStride
        let scale = 1 / Float(g.kernelH * g.kernelW)
        let width = s.width, outWidth = s.outWidth
        if g.kernelH == 2 && g.kernelW == 2 && g.strideH == 2 && g.strideW == 2 && g.padH == 0 && g.padW == 0 {
            // Windows tile the input without overlap; an odd last row or column gets nothing.
            parallel.forEach(s.planes, cost: s.inPlane) { p in
                let gyp = s.plane(gy, p, sampleStride: gys, planeSize: s.outPlane)
                let gxp = s.plane(gx, p, sampleStride: gxs, planeSize: s.inPlane)
                for oh in 0..<s.outHeight {
                    let r0 = gxp + 2 * oh * width, r1 = r0 + width, grad = gyp + oh * outWidth
                    if accumulate {
                        for ow in 0..<outWidth {
                            let v = grad[ow] * scale
                            r0[2 * ow] += v; r0[2 * ow + 1] += v; r1[2 * ow] += v; r1[2 * ow + 1] += v
                        }
                    } else {
                        for ow in 0..<outWidth {
                            let v = grad[ow] * scale
                            r0[2 * ow] = v; r0[2 * ow + 1] = v; r1[2 * ow] = v; r1[2 * ow + 1] = v
                        }
                        for iw in 2 * outWidth..<width { r0[iw] = 0; r1[iw] = 0 }
                    }
                }
                if !accumulate {
                    let covered = 2 * s.outHeight * width
                    (gxp + covered).update(repeating: 0, count: s.inPlane - covered)
                }
            }
            return
        }
        let windows = PoolWindows(s)
        windows.rows.withUnsafeBufferPointer { rows in
            windows.columns.withUnsafeBufferPointer { columns in
                parallel.forEach(s.planes, cost: s.outPlane * g.kernelH * g.kernelW) { p in
                    let gyp = s.plane(gy, p, sampleStride: gys, planeSize: s.outPlane)
                    let gxp = s.plane(gx, p, sampleStride: gxs, planeSize: s.inPlane)
                    if !accumulate { gxp.update(repeating: 0, count: s.inPlane) }
                    for oh in 0..<rows.count {
                        let r = rows[oh], grad = gyp + oh * outWidth
                        for ow in 0..<outWidth {
                            let c = columns[ow]
                            let share = grad[ow] * scale
                            for ih in r {
                                let line = gxp + ih * width
                                for iw in c { line[iw] += share }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Checks a global pooling pair: input [N, C, H, W], pooled N x C (as [N, C] or [N, C, 1, 1]).
    private func globalPoolShape(_ input: Tensor, _ pooled: Tensor, _ name: String) -> (n: Int, c: Int, plane: Int) {
        precondition(input.rank == 4, "\(name): input \(input.shape) must be 4-D")
        let n = input.shape[0], c = input.shape[1]
        precondition(pooled.rank >= 1 && pooled.shape[0] == n && pooled.sampleSize == c,
                     "\(name): pooled tensor \(pooled.shape) should hold \(n) x \(c) values for input \(input.shape)")
        return (n, c, input.shape[2] * input.shape[3])
    }

    public func globalAvgPoolForward(input: Tensor, output: Tensor) throws {
        let (n, c, plane) = globalPoolShape(input, output, "globalAvgPool")
        let x = pointer(input), y = pointer(output)
        let xs = input.sampleStride, ys = output.sampleStride
        parallel.forEach(n * c, cost: plane) { p in
            let sample = p / c, channel = p % c
            let xp = x + sample * xs + channel * plane
            var sum: Float = 0
            for i in 0..<plane { sum += xp[i] }
            y[sample * ys + channel] = sum / Float(plane)
        }
    }

    public func globalAvgPoolBackward(gradOutput: Tensor, gradInput: Tensor, accumulate: Bool) throws {
        let (n, c, plane) = globalPoolShape(gradInput, gradOutput, "globalAvgPoolBackward")
        let gy = pointer(gradOutput), gx = pointer(gradInput)
        let gys = gradOutput.sampleStride, gxs = gradInput.sampleStride
        parallel.forEach(n * c, cost: plane) { p in
            let sample = p / c, channel = p % c
            let gxp = gx + sample * gxs + channel * plane
            let share = gy[sample * gys + channel] / Float(plane)
            if accumulate {
                for i in 0..<plane { gxp[i] += share }
            } else {
                gxp.update(repeating: share, count: plane)
            }
        }
    }
}
