import Foundation

/// Softmax cross-entropy, one sample per task, computed stably (the maximum logit subtracted).
extension CPUBackend {
    /// The class index held by label `value`, checked against `classes`.
    @inline(__always)
    static func classIndex(_ value: Float, classes: Int, sample: Int) -> Int {
        let index = Int(exactly: value) ?? -1
        precondition(index >= 0 && index < classes, "softmaxCrossEntropy: label \(value) of sample \(sample) is not a class index below \(classes)")
        return index
    }

    public func softmaxCrossEntropyForward(logits: Tensor, labels: Tensor, probabilities: Tensor, losses: Tensor, labelSmoothing: Float) throws {
        precondition(logits.rank == 2 && probabilities.shape == logits.shape,
                     "softmaxCrossEntropy: logits \(logits.shape) and probabilities \(probabilities.shape) must be the same [N, C]")
        let n = logits.shape[0], classes = logits.shape[1]
        precondition(labels.count == n && losses.count == n,
                     "softmaxCrossEntropy: labels \(labels.shape) and losses \(losses.shape) need \(n) values for logits \(logits.shape)")
        let x = pointer(logits), p = pointer(probabilities), l = dense(labels), loss = dense(losses)
        let xs = logits.sampleStride, ps = probabilities.sampleStride
        parallel.forEach(n, cost: 4 * classes) { sample in
            let row = x + sample * xs, out = p + sample * ps
            var largest = -Float.infinity
            for j in 0..<classes { largest = max(largest, row[j]) }
            var sum = 0.0, shiftedSum = 0.0
            for j in 0..<classes {
                sum += exp(Double(row[j] - largest))
                shiftedSum += Double(row[j] - largest)
            }
            let logSum = log(sum)
            for j in 0..<classes { out[j] = Float(exp(Double(row[j] - largest) - logSum)) }
            let label = Self.classIndex(l[sample], classes: classes, sample: sample)
            // -Σ q_j log p_j = logSum - (1 - ε)(z_label - max) - ε/C Σ_j (z_j - max).
            let e = Double(labelSmoothing)
            loss[sample] = Float(logSum - (1 - e) * Double(row[label] - largest) - e / Double(classes) * shiftedSum)
        }
    }

    public func softmaxCrossEntropyBackward(probabilities: Tensor, labels: Tensor, gradLogits: Tensor, scale: Float,
                                            labelSmoothing: Float) throws {
        precondition(probabilities.rank == 2 && gradLogits.shape == probabilities.shape,
                     "softmaxCrossEntropyBackward: probabilities \(probabilities.shape) and gradLogits \(gradLogits.shape) must be the same [N, C]")
        let n = probabilities.shape[0], classes = probabilities.shape[1]
        precondition(labels.count == n, "softmaxCrossEntropyBackward: labels \(labels.shape) need \(n) values")
        let p = pointer(probabilities), g = pointer(gradLogits), l = dense(labels)
        let ps = probabilities.sampleStride, gs = gradLogits.sampleStride
        let off = labelSmoothing / Float(classes), on = 1 - labelSmoothing + off
        parallel.forEach(n, cost: classes) { sample in
            let row = p + sample * ps, out = g + sample * gs
            let label = Self.classIndex(l[sample], classes: classes, sample: sample)
            for j in 0..<classes { out[j] = scale * (row[j] - (j == label ? on : off)) }
        }
    }
}
