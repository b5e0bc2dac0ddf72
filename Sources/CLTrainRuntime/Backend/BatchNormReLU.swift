/// A batch norm followed by a ReLU, applied to a convolution's input as the convolution reads
/// it: `max(0, (x - mean) * invStd * weight + bias)` per channel, computed exactly as
/// `batchNormApply` with `relu` computes it. DenseNet's layers normalise every earlier channel
/// of their block; handing the normalisation to the convolution that reads it means no
/// normalised copy of the block is written out and read back (nor recomputed for the backward).
public struct BatchNormReLU {
    public let mean: Tensor
    public let invStd: Tensor
    public let weight: Tensor
    public let bias: Tensor

    public init(mean: Tensor, invStd: Tensor, weight: Tensor, bias: Tensor) {
        precondition([invStd.count, weight.count, bias.count].allSatisfy { $0 == mean.count },
                     "batch norm + ReLU: mean \(mean.shape), invStd \(invStd.shape), weight \(weight.shape), bias \(bias.shape) differ")
        self.mean = mean
        self.invStd = invStd
        self.weight = weight
        self.bias = bias
    }

    public var channels: Int { mean.count }

    /// `y = x * scale + shift` for one channel: a batch norm with these statistics and affine
    /// parameters, `scale = weight invStd`, `shift = bias - mean scale` in Double (as the CPU's
    /// `batchNormApply` computes it, and so every mask recomputed from the input).
    public static func scaleShift(mean: Float, invStd: Float, weight: Float, bias: Float) -> (scale: Float, shift: Float) {
        let k = Double(weight) * Double(invStd)
        return (Float(k), Float(Double(bias) - Double(mean) * k))
    }
}

/// Where the gradient after a batch norm's fused ReLU counts: where the forward's output was
/// positive. Read from that output, or found again from the input with the forward's
/// statistics and affine parameters (the backward then needs the normalised output nowhere).
public enum ReLUMask {
    case output(Tensor)
    /// The batch norm's `bias`; the statistics and weight are the backward's own arguments.
    case input(bias: Tensor)
}
