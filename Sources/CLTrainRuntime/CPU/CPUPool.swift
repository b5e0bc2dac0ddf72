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

    /// Index in the plane of the first maximum (row-major in the window) of output (oh, ow);
    /// padded positions never win. NaN counts as the maximum.
    @inline(__always)
    static func argmax(_ x: UnsafePointer<Float>, _ oh: Int, _ ow: Int, _ s: PoolShape) -> Int {
        let g = s.geometry
        let h0 = oh * g.strideH - g.padH, w0 = ow * g.strideW - g.padW
        var best = -Float.infinity, bestIndex = -1
        for ih in max(h0, 0)..<min(h0 + g.kernelH, s.height) {
            for iw in max(w0, 0)..<min(w0 + g.kernelW, s.width) {
                let v = x[ih * s.width + iw]
                if bestIndex < 0 || v > best || (v.isNaN && !best.isNaN) {
                    best = v
                    bestIndex = ih * s.width + iw
                }
            }
        }
        return bestIndex
    }

    public func maxPool2dForward(input: Tensor, output: Tensor, geometry: Pool2dGeometry) throws {
        let s = PoolShape(input: input, output: output, geometry: geometry, name: "maxPool2d")
        let x = pointer(input), y = pointer(output)
        let xs = input.sampleStride, ys = output.sampleStride
        parallel.forEach(s.planes, cost: s.outPlane * geometry.kernelH * geometry.kernelW) { p in
            let xp = s.plane(x, p, sampleStride: xs, planeSize: s.inPlane)
            let yp = s.plane(y, p, sampleStride: ys, planeSize: s.outPlane)
            for oh in 0..<s.outHeight {
                for ow in 0..<s.outWidth {
                    yp[oh * s.outWidth + ow] = xp[Self.argmax(xp, oh, ow, s)]
                }
            }
        }
    }

    public func maxPool2dBackward(input: Tensor, gradOutput: Tensor, gradInput: Tensor, geometry: Pool2dGeometry, accumulate: Bool) throws {
        let s = PoolShape(input: input, output: gradOutput, geometry: geometry, name: "maxPool2dBackward")
        precondition(gradInput.shape == input.shape, "maxPool2dBackward: gradInput \(gradInput.shape) differs from input \(input.shape)")
        let x = pointer(input), gy = pointer(gradOutput), gx = pointer(gradInput)
        let xs = input.sampleStride, gys = gradOutput.sampleStride, gxs = gradInput.sampleStride
        parallel.forEach(s.planes, cost: s.outPlane * geometry.kernelH * geometry.kernelW) { p in
            let xp = s.plane(x, p, sampleStride: xs, planeSize: s.inPlane)
            let gyp = s.plane(gy, p, sampleStride: gys, planeSize: s.outPlane)
            let gxp = s.plane(gx, p, sampleStride: gxs, planeSize: s.inPlane)
            if !accumulate { gxp.update(repeating: 0, count: s.inPlane) }
            for oh in 0..<s.outHeight {
                for ow in 0..<s.outWidth {
                    gxp[Self.argmax(xp, oh, ow, s)] += gyp[oh * s.outWidth + ow]
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
        parallel.forEach(s.planes, cost: s.outPlane * g.kernelH * g.kernelW) { p in
            let xp = s.plane(x, p, sampleStride: xs, planeSize: s.inPlane)
            let yp = s.plane(y, p, sampleStride: ys, planeSize: s.outPlane)
            for oh in 0..<s.outHeight {
                let h0 = oh * g.strideH - g.padH
                for ow in 0..<s.outWidth {
                    let w0 = ow * g.strideW - g.padW
                    var sum: Float = 0
                    for ih in max(h0, 0)..<min(h0 + g.kernelH, s.height) {
                        for iw in max(w0, 0)..<min(w0 + g.kernelW, s.width) { sum += xp[ih * s.width + iw] }
                    }
                    yp[oh * s.outWidth + ow] = sum * scale
                }
            }
        }
    }

    public func avgPool2dBackward(gradOutput: Tensor, gradInput: Tensor, geometry g: Pool2dGeometry, accumulate: Bool) throws {
        let s = PoolShape(input: gradInput, output: gradOutput, geometry: g, name: "avgPool2dBackward")
        let gy = pointer(gradOutput), gx = pointer(gradInput)
        let gys = gradOutput.sampleStride, gxs = gradInput.sampleStride
        let scale = 1 / Float(g.kernelH * g.kernelW)
        parallel.forEach(s.planes, cost: s.outPlane * g.kernelH * g.kernelW) { p in
            let gyp = s.plane(gy, p, sampleStride: gys, planeSize: s.outPlane)
            let gxp = s.plane(gx, p, sampleStride: gxs, planeSize: s.inPlane)
            if !accumulate { gxp.update(repeating: 0, count: s.inPlane) }
            for oh in 0..<s.outHeight {
                let h0 = oh * g.strideH - g.padH
                for ow in 0..<s.outWidth {
                    let w0 = ow * g.strideW - g.padW
                    let share = gyp[oh * s.outWidth + ow] * scale
                    for ih in max(h0, 0)..<min(h0 + g.kernelH, s.height) {
                        for iw in max(w0, 0)..<min(w0 + g.kernelW, s.width) { gxp[ih * s.width + iw] += share }
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
