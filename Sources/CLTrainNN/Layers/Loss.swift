import CLTrainRuntime

/// Mean softmax cross-entropy over a batch, with what the metrics need; with label smoothing ε
/// the target is (1 - ε) onehot + ε / C (PyTorch's `F.cross_entropy(label_smoothing=ε)`).
public final class SoftmaxCrossEntropy {
    public var labelSmoothing: Float
    private var probabilities: Tensor?
    private var labels: Tensor?

    public init(labelSmoothing: Float = 0) {
        self.labelSmoothing = labelSmoothing
    }

    public struct Result {
        /// Mean loss over the batch.
        public var loss: Double
        /// Per-sample losses.
        public var losses: [Float]
        /// Samples whose largest logit is their label.
        public var correct: Int
        /// Softmax probabilities, row-major N x classes.
        public var probabilities: [Float]
    }

    /// Loss of `logits` [N, C] against `labels` [N] (class indices as floats).
    public func forward(_ logits: Tensor, labels: Tensor) throws -> Result {
        let device = logits.device
        let n = logits.shape[0], classes = logits.shape[1]
        let probabilities = try device.makeTensor([n, classes])
        let losses = try device.makeTensor([n])
        try device.backend.softmaxCrossEntropyForward(logits: logits, labels: labels, probabilities: probabilities, losses: losses,
                                                      labelSmoothing: labelSmoothing)
        self.probabilities = probabilities
        self.labels = labels
        let lossValues = try device.read(losses)
        let probabilityValues = try device.read(probabilities)
        let labelValues = try device.read(labels)
        var correct = 0
        for i in 0..<n {
            let row = probabilityValues[i * classes..<(i + 1) * classes]
            if let best = row.indices.max(by: { row[$0] < row[$1] }), best - i * classes == Int(labelValues[i]) { correct += 1 }
        }
        let mean = lossValues.reduce(0.0) { $0 + Double($1) } / Double(max(n, 1))
        return Result(loss: mean, losses: lossValues, correct: correct, probabilities: probabilityValues)
    }

    /// The gradient of the mean loss with respect to the logits of the last forward, times
    /// `weight` (a data-parallel rank's loss weight; 1 otherwise).
    public func backward(weight: Float = 1) throws -> Tensor {
        guard let probabilities, let labels else { preconditionFailure("loss: backward without a forward") }
        self.probabilities = nil
        self.labels = nil
        let grad = try probabilities.device.makeTensor(probabilities.shape)
        try probabilities.device.backend.softmaxCrossEntropyBackward(probabilities: probabilities, labels: labels, gradLogits: grad,
                                                                     scale: weight / Float(probabilities.shape[0]), labelSmoothing: labelSmoothing)
        return grad
    }
}
