import CLTrainRuntime

/// Dilated Residual Networks C and D (Yu et al. 2017) with fyu/drn's names: eight levels, the
/// last five at output stride 8 with dilation 2 and 4 instead of further striding; C keeps
/// residual blocks at its start and drops the shortcut in levels 7-8, D uses plain conv-BN-ReLU
/// there. The classifier `fc` is a 1x1 convolution (with bias) after global average pooling.
public final class DRN: Model {
    public enum Architecture: String, Sendable { case c = "C", d = "D" }

    public struct Configuration: Equatable, Sendable {
        public var architecture: Architecture
        /// Blocks (C) or convolutions (D levels 1, 2, 7, 8) per level, eight entries.
        public var layers: [Int]
        public var channels: [Int] = [16, 32, 64, 128, 256, 512, 512, 512]

        public static func c26() -> Configuration { Configuration(architecture: .c, layers: [1, 1, 2, 2, 2, 2, 1, 1]) }
        public static func c42() -> Configuration { Configuration(architecture: .c, layers: [1, 1, 3, 4, 6, 3, 1, 1]) }
        public static func d22() -> Configuration { Configuration(architecture: .d, layers: [1, 1, 2, 2, 2, 2, 1, 1]) }
        public static func d38() -> Configuration { Configuration(architecture: .d, layers: [1, 1, 3, 4, 6, 3, 1, 1]) }
    }

    /// One level: residual blocks, or (DRN-D) a run of conv-BN-ReLU.
    enum Stage {
        case blocks([BasicBlock])
        case convs([ConvNormReLU])

        func forward(_ x: Tensor, training: Bool) throws -> Tensor {
            var x = x
            switch self {
            case .blocks(let blocks): for b in blocks { x = try b.forward(x, training: training) }
            case .convs(let convs): for c in convs { x = try c.forward(x, training: training) }
            }
            return x
        }

        func backward(_ gradOutput: Tensor) throws -> Tensor {
            var g = gradOutput
            switch self {
            case .blocks(let blocks): for b in blocks.reversed() { g = try b.backward(g) }
            case .convs(let convs): for c in convs.reversed() { g = try c.backward(g) }
            }
            return g
        }

        /// The parameter gradients alone (the network's first stage: its first layer makes no input gradient).
        func backwardParameters(_ gradOutput: Tensor) throws {
            switch self {
            case .blocks:
                _ = try backward(gradOutput)
            case .convs(let convs):
                var g = gradOutput
                for c in convs.dropFirst().reversed() { g = try c.backward(g) }
                try convs.first?.backwardParameters(g)
            }
        }
    }

    public let configuration: Configuration
    public let inputChannels: Int
    public let classes: Int
    public let parameters: [Parameter]
    public let buffers: [Buffer]
    public let batchNorms: [BatchNorm2d]

    /// The 7x7 stem convolution (see `Configuration.sizeSteps`).
    static let stemGeometry = Conv2dGeometry(kernel: 7, padding: 3)

    let stages: [Stage]
    let pool = GlobalAvgPool()
    let fc: Conv2d

    public init(_ configuration: Configuration, inputChannels: Int, classes: Int, device: Device, seed: UInt64) throws {
        precondition(configuration.layers.count == 8 && configuration.channels.count == 8, "DRN has eight levels")
        self.configuration = configuration
        self.inputChannels = inputChannels
        self.classes = classes
        let builder = ModelBuilder(device: device, seed: seed)
        let ch = configuration.channels, n = configuration.layers
        var inplanes = ch[0]
        var stages: [Stage] = []

        func blocks(_ level: Int, stride: Int = 1, dilation: Int = 1, newLevel: Bool = true, residual: Bool = true) throws -> Stage {
            let planes = ch[level - 1]
            let first = dilation == 1 ? (1, 1) : (newLevel ? dilation / 2 : dilation, dilation)
            var list = [try BasicBlock(builder, "layer\(level).0", inplanes, planes, stride: stride, dilation: first,
                                       residual: residual, initialization: .heFanOut)]
            inplanes = planes
            for i in Swift.stride(from: 1, to: n[level - 1], by: 1) {
                list.append(try BasicBlock(builder, "layer\(level).\(i)", planes, planes, dilation: (dilation, dilation),
                                           residual: residual, initialization: .heFanOut))
            }
            return .blocks(list)
        }

        func convs(_ name: String, count: Int, channels: Int, stride: Int = 1, dilation: Int = 1) throws -> Stage {
            var list: [ConvNormReLU] = []
            for i in 0..<count {
                list.append(try ConvNormReLU(builder, convName: "\(name).\(3 * i)", normName: "\(name).\(3 * i + 1)", inplanes, channels,
                                             Conv2dGeometry(kernel: 3, stride: i == 0 ? stride : 1, padding: dilation, dilation: dilation),
                                             initialization: .heFanOut))
                inplanes = channels
            }
            return .convs(list)
        }

        switch configuration.architecture {
        case .c:
            stages.append(.convs([try ConvNormReLU(builder, convName: "conv1", normName: "bn1", inputChannels, ch[0],
                                                   Self.stemGeometry, initialization: .heFanOut)]))
            stages.append(try blocks(1))
            stages.append(try blocks(2, stride: 2))
        case .d:
            stages.append(.convs([try ConvNormReLU(builder, convName: "layer0.0", normName: "layer0.1", inputChannels, ch[0],
                                                   Self.stemGeometry, initialization: .heFanOut)]))
            stages.append(try convs("layer1", count: n[0], channels: ch[0]))
            stages.append(try convs("layer2", count: n[1], channels: ch[1], stride: 2))
        }
        stages.append(try blocks(3, stride: 2))
        stages.append(try blocks(4, stride: 2))
        stages.append(try blocks(5, dilation: 2, newLevel: false))
        stages.append(try blocks(6, dilation: 4, newLevel: false))
        switch configuration.architecture {
        case .c:
            stages.append(try blocks(7, dilation: 2, newLevel: false, residual: false))
            stages.append(try blocks(8, dilation: 1, newLevel: false, residual: false))
        case .d:
            stages.append(try convs("layer7", count: n[6], channels: ch[6], dilation: 2))
            stages.append(try convs("layer8", count: n[7], channels: ch[7], dilation: 1))
        }
        self.stages = stages
        fc = try Conv2d(builder, "fc", ch[7], classes, Conv2dGeometry(kernel: 1), bias: true, initialization: .heFanOut)
        parameters = builder.parameters
        buffers = builder.buffers
        batchNorms = builder.batchNorms
    }

    public func features(_ input: Tensor, training: Bool) throws -> Tensor {
        var x = input
        for stage in stages { x = try stage.forward(x, training: training) }
        return x
    }

    public func head(_ features: Tensor, training: Bool) throws -> Tensor {
        let pooled = try pool.forward(features)
        let logits = try fc.forward(pooled.reshaped([pooled.n, pooled.c, 1, 1]), training: training)
        return logits.reshaped([logits.n, classes])
    }

    public func headBackward(_ gradLogits: Tensor) throws -> Tensor {
        let g = try fc.backward(gradLogits.reshaped([gradLogits.shape[0], classes, 1, 1]))
        return try pool.backward(g.reshaped([g.n, g.c]))
    }

    public func featuresBackward(_ gradFeatures: Tensor) throws {
        var grad = gradFeatures
        for stage in stages.dropFirst().reversed() { grad = try stage.backward(grad) }
        try stages.first?.backwardParameters(grad)
    }

    public var classifier: (weight: Parameter, bias: Parameter?, prefix: String) { (fc.weight, fc.bias, "fc") }
}
