import CLTrainRuntime

/// An image classifier with a hand-written backward pass.
public protocol Model: AnyObject {
    /// The trainable tensors, in PyTorch's `state_dict` order.
    var parameters: [Parameter] { get }
    /// Running statistics and other non-trainable tensors.
    var buffers: [Buffer] { get }
    /// Every batch norm, for `num_batches_tracked`.
    var batchNorms: [BatchNorm2d] { get }
    var inputChannels: Int { get }
    var classes: Int { get }

    /// Logits [N, classes] of `input` [N, C, H, W]; in training mode it keeps what backward needs.
    func forward(_ input: Tensor, training: Bool) throws -> Tensor
    /// Accumulate every parameter's gradient from the gradient of the logits.
    func backward(_ gradLogits: Tensor) throws
}

extension Model {
    /// Number of trainable scalars.
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.count } }

    /// Set every gradient to zero.
    public func zeroGradients() throws {
        for p in parameters { try p.gradient.device.backend.fill(p.gradient, value: 0) }
    }
}
