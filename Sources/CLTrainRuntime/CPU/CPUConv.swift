/// Convolution as per-sample im2col + GEMM (a 1x1/s1/p0 convolution uses the input directly).
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

    /// Unfold one sample `[C, H, W]` into `col[C * kh * kw, Ho * Wo]` (zeros where padded).
    func im2col(_ x: UnsafePointer<Float>, _ col: UnsafeMutablePointer<Float>, _ s: ConvShape) {
        let g = s.geometry
        let kernelArea = g.kernelH * g.kernelW
        parallel.forEach(s.patch, cost: s.outPlane) { row in
            let c = row / kernelArea, ki = (row % kernelArea) / g.kernelW, kj = row % g.kernelW
            let plane = x + c * s.inPlane
            let out = col + row * s.outPlane
            for oh in 0..<s.outHeight {
                let ih = oh * g.strideH - g.padH + ki * g.dilationH
                let dst = out + oh * s.outWidth
                if ih < 0 || ih >= s.height {
                    for ow in 0..<s.outWidth { dst[ow] = 0 }
                    continue
                }
                let src = plane + ih * s.width
                for ow in 0..<s.outWidth {
                    let iw = ow * g.strideW - g.padW + kj * g.dilationW
                    dst[ow] = iw >= 0 && iw < s.width ? src[iw] : 0
                }
            }
        }
    }

    /// Fold `col[C * kh * kw, Ho * Wo]` back into one sample `[C, H, W]`, summing overlaps;
    /// overwrites the sample unless `accumulate`. Split by channel, so threads never collide.
    func col2im(_ col: UnsafePointer<Float>, _ x: UnsafeMutablePointer<Float>, _ s: ConvShape, accumulate: Bool) {
        let g = s.geometry
        let kernelArea = g.kernelH * g.kernelW
        parallel.forEach(s.inChannels, cost: kernelArea * s.outPlane) { c in
            let plane = x + c * s.inPlane
            if !accumulate { plane.update(repeating: 0, count: s.inPlane) }
            for k in 0..<kernelArea {
                let ki = k / g.kernelW, kj = k % g.kernelW
                let src = col + (c * kernelArea + k) * s.outPlane
                for oh in 0..<s.outHeight {
                    let ih = oh * g.strideH - g.padH + ki * g.dilationH
                    if ih < 0 || ih >= s.height { continue }
                    let dst = plane + ih * s.width
                    let row = src + oh * s.outWidth
                    for ow in 0..<s.outWidth {
                        let iw = ow * g.strideW - g.padW + kj * g.dilationW
                        if iw >= 0 && iw < s.width { dst[iw] += row[ow] }
                    }
                }
            }
        }
    }

    public func conv2dForward(input: Tensor, weight: Tensor, bias: Tensor?, output: Tensor, geometry: Conv2dGeometry) throws {
        let s = ConvShape(input: input, weight: weight, output: output, geometry: geometry)
        if let bias { precondition(bias.count == s.outChannels, "conv2d: bias \(bias.shape) for \(s.outChannels) output channels") }
        let x = pointer(input), w = dense(weight), y = pointer(output)
        let b = bias.map { dense($0) }
        let pointwise = geometry.isPointwise
        let col = UnsafeMutablePointer<Float>.allocate(capacity: pointwise ? 0 : s.patch * s.outPlane)
        defer { col.deallocate() }
        for sample in 0..<s.n {
            let xs = x + sample * input.sampleStride, ys = y + sample * output.sampleStride
            if let b {
                for co in 0..<s.outChannels { (ys + co * s.outPlane).update(repeating: b[co], count: s.outPlane) }
            }
            if !pointwise { im2col(xs, col, s) }
            gemm(transposeA: false, transposeB: false, m: s.outChannels, n: s.outPlane, k: s.patch, alpha: 1,
                 a: w, lda: s.patch, b: pointwise ? xs : col, ldb: s.outPlane,
                 beta: b == nil ? 0 : 1, c: ys, ldc: s.outPlane)
        }
    }

    public func conv2dBackwardData(gradOutput: Tensor, weight: Tensor, gradInput: Tensor, geometry: Conv2dGeometry, accumulate: Bool) throws {
        let s = ConvShape(input: gradInput, weight: weight, output: gradOutput, geometry: geometry)
        let gy = pointer(gradOutput), w = dense(weight), gx = pointer(gradInput)
        let pointwise = geometry.isPointwise
        let col = UnsafeMutablePointer<Float>.allocate(capacity: pointwise ? 0 : s.patch * s.outPlane)
        defer { col.deallocate() }
        for sample in 0..<s.n {
            let gys = gy + sample * gradOutput.sampleStride, gxs = gx + sample * gradInput.sampleStride
            if pointwise {
                // gradInput_n[Cin, HW] (+)= W^T[Cin, Cout] * gradOutput_n[Cout, HW]
                gemm(transposeA: true, transposeB: false, m: s.inChannels, n: s.outPlane, k: s.outChannels, alpha: 1,
                     a: w, lda: s.inChannels, b: gys, ldb: s.outPlane, beta: accumulate ? 1 : 0, c: gxs, ldc: s.outPlane)
            } else {
                gemm(transposeA: true, transposeB: false, m: s.patch, n: s.outPlane, k: s.outChannels, alpha: 1,
                     a: w, lda: s.patch, b: gys, ldb: s.outPlane, beta: 0, c: col, ldc: s.outPlane)
                col2im(col, gxs, s, accumulate: accumulate)
            }
        }
    }

    public func conv2dBackwardWeight(input: Tensor, gradOutput: Tensor, gradWeight: Tensor, gradBias: Tensor?, geometry: Conv2dGeometry) throws {
        let s = ConvShape(input: input, weight: gradWeight, output: gradOutput, geometry: geometry)
        if let gradBias {
            precondition(gradBias.count == s.outChannels, "conv2d: gradBias \(gradBias.shape) for \(s.outChannels) output channels")
        }
        let x = pointer(input), gy = pointer(gradOutput), gw = dense(gradWeight)
        let pointwise = geometry.isPointwise
        let col = UnsafeMutablePointer<Float>.allocate(capacity: pointwise ? 0 : s.patch * s.outPlane)
        defer { col.deallocate() }
        for sample in 0..<s.n {
            let xs = x + sample * input.sampleStride, gys = gy + sample * gradOutput.sampleStride
            if !pointwise { im2col(xs, col, s) }
            // gradWeight[Cout, K] += gradOutput_n[Cout, HoWo] * col_n[K, HoWo]^T
            gemm(transposeA: false, transposeB: true, m: s.outChannels, n: s.patch, k: s.outPlane, alpha: 1,
                 a: gys, lda: s.outPlane, b: pointwise ? xs : col, ldb: s.outPlane, beta: 1, c: gw, ldc: s.patch)
        }
        if let gradBias {
            let gb = dense(gradBias)
            let stride = gradOutput.sampleStride
            parallel.forEach(s.outChannels, cost: s.n * s.outPlane) { co in
                var sum = 0.0
                for sample in 0..<s.n {
                    let p = gy + sample * stride + co * s.outPlane
                    for i in 0..<s.outPlane { sum += Double(p[i]) }
                }
                gb[co] += Float(sum)
            }
        }
    }
}
