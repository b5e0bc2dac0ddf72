import CLTrainRuntime

/// An image classifier with a hand-written backward pass, in two parts: the features (everything
/// up to the global pooling) and the head (global average pooling and the classifier).
/// `forward` is `head(features(x))` and `backward` is `featuresBackward(headBackward(g))`, so
/// a caller can run the parts alone: class activation maps weigh `features`' output by the
/// classifier, and a frozen backbone runs `features` in inference mode and stops its backward
/// at `headBackward`.
public protocol Model: AnyObject {
    /// The trainable tensors, in PyTorch's `state_dict` order.
    var parameters: [Parameter] { get }
    /// Running statistics and other non-trainable tensors.
    var buffers: [Buffer] { get }
    /// Every batch norm, for `num_batches_tracked`.
    var batchNorms: [BatchNorm2d] { get }
    var inputChannels: Int { get }
    var classes: Int { get }

    /// The network up to its global pooling, with the final ReLU applied: [N, C, h, w] (what
    /// class activation maps weigh); in training mode it keeps what `featuresBackward` needs.
    func features(_ input: Tensor, training: Bool) throws -> Tensor
    /// Global average pooling and the classifier on `features`' output: logits [N, classes].
    func head(_ features: Tensor, training: Bool) throws -> Tensor
    /// Backward through `head` only (accumulating the classifier's gradients); returns the
    /// gradient of the features.
    func headBackward(_ gradLogits: Tensor) throws -> Tensor
    /// Backward through `features` from the gradient of its output (after a training-mode
    /// `features`), accumulating every feature parameter's gradient.
    func featuresBackward(_ gradFeatures: Tensor) throws
    /// The classifier's weight as it is stored ([classes, C] for a Linear, [classes, C, 1, 1] for
    /// DRN's 1x1 convolution `fc`), its bias, and their state_dict prefix ("classifier" / "fc").
    var classifier: (weight: Parameter, bias: Parameter?, prefix: String) { get }

    /// Logits [N, classes] of `input` [N, C, H, W]; in training mode it keeps what backward needs.
    func forward(_ input: Tensor, training: Bool) throws -> Tensor
    /// Accumulate every parameter's gradient from the gradient of the logits.
    func backward(_ gradLogits: Tensor) throws
}

extension Model {
    public func forward(_ input: Tensor, training: Bool) throws -> Tensor {
        try head(features(input, training: training), training: training)
    }

    public func backward(_ gradLogits: Tensor) throws {
        try featuresBackward(headBackward(gradLogits))
    }

    /// Number of trainable scalars.
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.count } }

    /// Set every gradient to zero.
    public func zeroGradients() throws {
        for p in parameters { try p.gradient.device.backend.fill(p.gradient, value: 0) }
    }
}
