// Launch code of Kernels/loss.cl.
import CLTrainKernels

extension OpenCLBackend {
    public func softmaxCrossEntropyForward(logits: Tensor, labels: Tensor, probabilities: Tensor, losses: Tensor, labelSmoothing: Float) throws {
        let z = Self.samples(logits)
        precondition(probabilities.shape == logits.shape && labels.count == z.n && losses.count == z.n,
                     "softmax cross-entropy shapes: logits \(logits.shape), labels \(labels.shape), losses \(losses.shape)")
        try launchElements(.loss, "softmax_cross_entropy_forward", count: z.n,
                           Self.args(Self.strided(logits), Self.strided(labels), Self.strided(probabilities), Self.strided(losses),
                                     [.int(z.n), .int(z.size), .float(labelSmoothing)]))
    }

    public func softmaxCrossEntropyBackward(probabilities: Tensor, labels: Tensor, gradLogits: Tensor, scale: Float,
                                            labelSmoothing: Float) throws {
        let p = Self.samples(probabilities)
        precondition(gradLogits.shape == probabilities.shape && labels.count == p.n, "softmax cross-entropy backward shapes differ")
        try launchElements(.loss, "softmax_cross_entropy_backward", count: p.n * p.size,
                           Self.args(Self.strided(probabilities), Self.strided(labels), Self.strided(gradLogits), [.int(p.n), .int(p.size), .float(scale), .float(labelSmoothing)]))
    }
}
