import CLTrainRuntime

/// The residual basic block of ResNet and DRN: conv3x3-BN-ReLU-conv3x3-BN, plus the shortcut
/// (identity, or a 1x1 conv and BN named `downsample.0`/`downsample.1`), then ReLU. DRN-C's last
/// levels drop the shortcut (`residual: false`).
final class BasicBlock {
    let conv1: Conv2d
    let bn1: BatchNorm2d
    let conv2: Conv2d
    let bn2: BatchNorm2d
    let downsampleConv: Conv2d?
    let downsampleNorm: BatchNorm2d?
    let residual: Bool
    let relu2 = ReLU()

    /// The first convolution's geometry: the one that may change the size (see `sizeSteps`); the
    /// 1x1 shortcut of the same stride gives the same size.
    static func firstGeometry(stride: Int, dilation: Int) -> Conv2dGeometry {
        Conv2dGeometry(kernel: 3, stride: stride, padding: dilation, dilation: dilation)
    }

    init(_ builder: ModelBuilder, _ name: String, _ inChannels: Int, _ outChannels: Int, stride: Int = 1,
         dilation: (Int, Int) = (1, 1), residual: Bool = true, initialization: ConvInit) throws {
        conv1 = try Conv2d(builder, join(name, "conv1"), inChannels, outChannels,
                           Self.firstGeometry(stride: stride, dilation: dilation.0),
                           initialization: initialization)
        bn1 = try BatchNorm2d(builder, join(name, "bn1"), outChannels)
        conv2 = try Conv2d(builder, join(name, "conv2"), outChannels, outChannels,
                           Conv2dGeometry(kernel: 3, padding: dilation.1, dilation: dilation.1), initialization: initialization)
        bn2 = try BatchNorm2d(builder, join(name, "bn2"), outChannels)
        if stride != 1 || inChannels != outChannels {
            downsampleConv = try Conv2d(builder, join(name, "downsample.0"), inChannels, outChannels,
                                        Conv2dGeometry(kernel: 1, stride: stride), initialization: initialization)
            downsampleNorm = try BatchNorm2d(builder, join(name, "downsample.1"), outChannels)
        } else {
            downsampleConv = nil
            downsampleNorm = nil
        }
        self.residual = residual
    }

    func forward(_ input: Tensor, training: Bool) throws -> Tensor {
        var x = try bn1.forward(conv1.forward(input, training: training), training: training, relu: true)
        x = try bn2.forward(conv2.forward(x, training: training), training: training)
        if residual {
            var shortcut = input
            if let downsampleConv, let downsampleNorm {
                shortcut = try downsampleNorm.forward(downsampleConv.forward(input, training: training), training: training)
            }
            try x.device.backend.add(x, shortcut, output: x)
        }
        return try relu2.forward(x, training: training)
    }

    func backward(_ gradOutput: Tensor) throws -> Tensor {
        let g = try relu2.backward(gradOutput)
        let gradMain = try conv2.backward(bn2.backward(g))
        let gradInput = try conv1.backward(bn1.backward(gradMain))
        if residual {
            if let downsampleConv, let downsampleNorm {
                try downsampleConv.backward(downsampleNorm.backward(g), into: gradInput, accumulate: true)
            } else {
                try g.device.backend.axpy(alpha: 1, x: g, y: gradInput)
            }
        }
        return gradInput
    }
}

/// conv-BN-ReLU, the unit of DRN-D's levels (`name.0`, `name.1` in a Sequential).
final class ConvNormReLU {
    let conv: Conv2d
    let norm: BatchNorm2d

    init(_ builder: ModelBuilder, convName: String, normName: String, _ inChannels: Int, _ outChannels: Int,
         _ geometry: Conv2dGeometry, initialization: ConvInit) throws {
        conv = try Conv2d(builder, convName, inChannels, outChannels, geometry, initialization: initialization)
        norm = try BatchNorm2d(builder, normName, outChannels)
    }

    func forward(_ input: Tensor, training: Bool) throws -> Tensor {
        try norm.forward(conv.forward(input, training: training), training: training, relu: true)
    }

    func backward(_ gradOutput: Tensor) throws -> Tensor {
        try conv.backward(norm.backward(gradOutput))
    }

    /// The parameter gradients alone (the first layer of a network: no input gradient is made).
    func backwardParameters(_ gradOutput: Tensor) throws {
        try conv.backwardParameters(norm.backward(gradOutput))
    }
}
