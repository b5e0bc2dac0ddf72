import Foundation

/// SGD and Adam updates, element-wise over one parameter and its state (PyTorch semantics).
extension CPUBackend {
    public func sgdUpdate(parameter: Tensor, gradient: Tensor, momentumBuffer: Tensor, hyper: SGDParameters) throws {
        precondition(parameter.shape == gradient.shape && parameter.shape == momentumBuffer.shape,
                     "sgdUpdate: parameter \(parameter.shape), gradient \(gradient.shape), momentum \(momentumBuffer.shape) differ")
        let p = pointer(parameter), g = pointer(gradient), b = pointer(momentumBuffer)
        let pStride = parameter.sampleStride, gStride = gradient.sampleStride, bStride = momentumBuffer.sampleStride
        let lr = hyper.learningRate, momentum = hyper.momentum, wd = hyper.weightDecay, nesterov = hyper.nesterov
        let (rows, length) = rowLayout([parameter, gradient, momentumBuffer])
        parallel.forRows(rows, length: length) { row, columns in
            let pr = p + row * pStride, gr = g + row * gStride, br = b + row * bStride
            for i in columns {
                var d = gr[i] + wd * pr[i]
                let buffer = momentum * br[i] + d
                br[i] = buffer
                d = nesterov ? d + momentum * buffer : buffer
                pr[i] -= lr * d
            }
        }
    }

    public func adamUpdate(parameter: Tensor, gradient: Tensor, firstMoment: Tensor, secondMoment: Tensor, hyper: AdamParameters) throws {
        precondition(parameter.shape == gradient.shape && parameter.shape == firstMoment.shape && parameter.shape == secondMoment.shape,
                     "adamUpdate: parameter \(parameter.shape), gradient \(gradient.shape), moments \(firstMoment.shape), \(secondMoment.shape) differ")
        precondition(hyper.step >= 1, "adamUpdate: step \(hyper.step) must start at 1")
        let p = pointer(parameter), g = pointer(gradient), m = pointer(firstMoment), v = pointer(secondMoment)
        let ps = parameter.sampleStride, gs = gradient.sampleStride, ms = firstMoment.sampleStride, vs = secondMoment.sampleStride
        let b1 = hyper.beta1, b2 = hyper.beta2, eps = hyper.epsilon, wd = hyper.weightDecay
        let correction1 = Float(1 - pow(Double(b1), Double(hyper.step)))
        let correction2 = Float(1 - pow(Double(b2), Double(hyper.step)))
        let stepSize = hyper.learningRate / correction1
        let (rows, length) = rowLayout([parameter, gradient, firstMoment, secondMoment])
        parallel.forRows(rows, length: length) { row, columns in
            let pr = p + row * ps, gr = g + row * gs, mr = m + row * ms, vr = v + row * vs
            for i in columns {
                let grad = gr[i] + wd * pr[i]
                let first = b1 * mr[i] + (1 - b1) * grad
                let second = b2 * vr[i] + (1 - b2) * grad * grad
                mr[i] = first
                vr[i] = second
                pr[i] -= stepSize * first / ((second / correction2).squareRoot() + eps)
            }
        }
    }
}
