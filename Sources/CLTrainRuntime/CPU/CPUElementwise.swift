import Foundation

/// Fill, add, axpy, ReLU and dropout, element by element.
extension CPUBackend {
    public func fill(_ tensor: Tensor, value: Float) throws {
        let base = pointer(tensor), stride = tensor.sampleStride
        let (rows, length) = rowLayout([tensor])
        parallel.forRows(rows, length: length) { row, columns in
            let p = base + row * stride
            for i in columns { p[i] = value }
        }
    }

    public func add(_ a: Tensor, _ b: Tensor, output: Tensor) throws {
        precondition(a.shape == b.shape && a.shape == output.shape,
                     "add: shapes \(a.shape) + \(b.shape) -> \(output.shape) differ")
        let pa = pointer(a), pb = pointer(b), po = pointer(output)
        let sa = a.sampleStride, sb = b.sampleStride, so = output.sampleStride
        let (rows, length) = rowLayout([a, b, output])
        parallel.forRows(rows, length: length) { row, columns in
            let x = pa + row * sa, y = pb + row * sb, z = po + row * so
            for i in columns { z[i] = x[i] + y[i] }
        }
    }

    public func axpy(alpha: Float, x: Tensor, y: Tensor) throws {
        precondition(x.shape == y.shape, "axpy: shapes \(x.shape) and \(y.shape) differ")
        let px = pointer(x), py = pointer(y), sx = x.sampleStride, sy = y.sampleStride
        let (rows, length) = rowLayout([x, y])
        parallel.forRows(rows, length: length) { row, columns in
            let u = px + row * sx, v = py + row * sy
            for i in columns { v[i] += alpha * u[i] }
        }
    }

    public func dropoutForward(input: Tensor, output: Tensor, probability: Float, seed: UInt32) throws {
        precondition(input.shape == output.shape, "dropout: input \(input.shape) and output \(output.shape) differ")
        try dropout(from: input, into: output, probability: probability, seed: seed, accumulate: false)
    }

    public func dropoutBackward(gradOutput: Tensor, gradInput: Tensor, probability: Float, seed: UInt32, accumulate: Bool) throws {
        precondition(gradOutput.shape == gradInput.shape, "dropout: gradOutput \(gradOutput.shape) and gradInput \(gradInput.shape) differ")
        try dropout(from: gradOutput, into: gradInput, probability: probability, seed: seed, accumulate: accumulate)
    }

    /// `y (+)= x * keep / (1 - p)`, the mask of `DropoutMask` over dense indices.
    private func dropout(from source: Tensor, into destination: Tensor, probability: Float, seed: UInt32, accumulate: Bool) throws {
        precondition(probability >= 0 && probability < 1, "dropout probability \(probability) outside [0, 1)")
        let x = pointer(source), y = pointer(destination), xs = source.sampleStride, ys = destination.sampleStride
        let rows = source.rank == 0 ? 1 : source.shape[0], length = source.rank == 0 ? 1 : source.sampleSize
        let threshold = DropoutMask.threshold(probability: probability), scale = 1 / (1 - probability)
        parallel.forRows(rows, length: length) { row, columns in
            let p = x + row * xs, q = y + row * ys
            for i in columns {
                let keep = !DropoutMask.drops(seed: seed, index: UInt32(truncatingIfNeeded: row * length + i), threshold: threshold)
                let value = keep ? p[i] * scale : 0
                if accumulate { q[i] += value } else { q[i] = value }
            }
        }
    }

    public func reluForward(input: Tensor, output: Tensor) throws {
        precondition(input.shape == output.shape, "relu: input \(input.shape) and output \(output.shape) differ")
        let x = pointer(input), y = pointer(output), xs = input.sampleStride, ys = output.sampleStride
        let (rows, length) = rowLayout([input, output])
        parallel.forRows(rows, length: length) { row, columns in
            let p = x + row * xs, q = y + row * ys
            for i in columns { q[i] = max(p[i], 0) }
        }
    }

    public func reluBackward(output: Tensor, gradOutput: Tensor, gradInput: Tensor, accumulate: Bool) throws {
        precondition(output.shape == gradOutput.shape && output.shape == gradInput.shape,
                     "reluBackward: output \(output.shape), gradOutput \(gradOutput.shape), gradInput \(gradInput.shape) differ")
        let y = pointer(output), gy = pointer(gradOutput), gx = pointer(gradInput)
        let ys = output.sampleStride, gys = gradOutput.sampleStride, gxs = gradInput.sampleStride
        let (rows, length) = rowLayout([output, gradOutput, gradInput])
        parallel.forRows(rows, length: length) { row, columns in
            let p = y + row * ys, d = gy + row * gys, q = gx + row * gxs
            // Branch-free selects: with a data-dependent branch (and a load only on one side)
            // random signs mispredict half the time.
            if accumulate {
                for i in columns {
                    let g = d[i]
                    q[i] += p[i] > 0 ? g : 0
                }
            } else {
                for i in columns {
                    let g = d[i]
                    q[i] = p[i] > 0 ? g : 0
                }
            }
        }
    }
}
