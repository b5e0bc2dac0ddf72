import CLTrainRuntime

/// ResNet with basic blocks, as torchvision names it (`conv1`, `bn1`, `layerX.Y.*`, `fc`), in three
/// variants: ResNet-18/34 (7x7/2 stem and 3x3/2 max pool), DRN-A-18/34 of fyu/drn (the same,
/// with levels 3 and 4 at stride 1 and dilation 2 and 4), and the small CIFAR ResNet (a 3x3
/// stem and three levels of 16/32/64 channels). Global average pooling precedes `fc`.
public final class ResNet: Model {
    public struct Level: Equatable, Sendable {
        public var channels: Int
        public var blocks: Int
        public var stride: Int
        public var dilation: Int
    }

    public struct Configuration: Equatable, Sendable {
        public var imagenetStem: Bool
        public var levels: [Level]

        public static func resnet(_ blocks: [Int]) -> Configuration {
            Configuration(imagenetStem: true, levels: zip([64, 128, 256, 512], zip(blocks, [1, 2, 2, 2])).map {
                Level(channels: $0.0, blocks: $0.1.0, stride: $0.1.1, dilation: 1)
            })
        }

        public static func drnA(_ blocks: [Int]) -> Configuration {
            Configuration(imagenetStem: true, levels: zip([64, 128, 256, 512], zip(blocks, [(1, 1), (2, 1), (1, 2), (1, 4)])).map {
                Level(channels: $0.0, blocks: $0.1.0, stride: $0.1.1.0, dilation: $0.1.1.1)
            })
        }

        /// Three levels of `blocks` basic blocks with 16, 32 and 64 channels.
        public static func cifar(blocks: Int = 2) -> Configuration {
            Configuration(imagenetStem: false, levels: [
                Level(channels: 16, blocks: blocks, stride: 1, dilation: 1),
                Level(channels: 32, blocks: blocks, stride: 2, dilation: 1),
                Level(channels: 64, blocks: blocks, stride: 2, dilation: 1),
            ])
        }
    }

    public let configuration: Configuration
    public let inputChannels: Int
    public let classes: Int
    public let parameters: [Parameter]
    public let buffers: [Buffer]
    public let batchNorms: [BatchNorm2d]

    /// The stems' layers that set the size (see `Configuration.sizeSteps`).
    static let imagenetStemGeometry = Conv2dGeometry(kernel: 7, stride: 2, padding: 3)
    static let smallStemGeometry = Conv2dGeometry(kernel: 3, padding: 1)
    static let stemPoolGeometry = Pool2dGeometry(kernel: 3, stride: 2, padding: 1)

    let stem: ConvNormReLU
    let maxPool: MaxPool2d?
    let blocks: [BasicBlock]
    let pool = GlobalAvgPool()
    let fc: Linear

    public init(_ configuration: Configuration, inputChannels: Int, classes: Int, device: Device, seed: UInt64) throws {
        self.configuration = configuration
        self.inputChannels = inputChannels
        self.classes = classes
        let builder = ModelBuilder(device: device, seed: seed)
        var channels = configuration.imagenetStem ? 64 : configuration.levels[0].channels
        stem = try ConvNormReLU(builder, convName: "conv1", normName: "bn1", inputChannels, channels,
                                configuration.imagenetStem ? Self.imagenetStemGeometry : Self.smallStemGeometry,
                                initialization: .heFanOut)
        maxPool = configuration.imagenetStem ? MaxPool2d(Self.stemPoolGeometry) : nil
        var blocks: [BasicBlock] = []
        for (index, level) in configuration.levels.enumerated() {
            for b in 0..<level.blocks {
                // fyu/drn's DRN-A: the first block of a level is undilated.
                let dilation = b == 0 ? 1 : level.dilation
                blocks.append(try BasicBlock(builder, "layer\(index + 1).\(b)", channels, level.channels,
                                             stride: b == 0 ? level.stride : 1, dilation: (dilation, dilation),
                                             initialization: .heFanOut))
                channels = level.channels
            }
        }
        self.blocks = blocks
        fc = try Linear(builder, "fc", channels, classes)
        parameters = builder.parameters
        buffers = builder.buffers
        batchNorms = builder.batchNorms
    }

    public func features(_ input: Tensor, training: Bool) throws -> Tensor {
        var x = try stem.forward(input, training: training)
        if let maxPool { x = try maxPool.forward(x, training: training) }
        for block in blocks { x = try block.forward(x, training: training) }
        return x
    }

    public func head(_ features: Tensor, training: Bool) throws -> Tensor {
        try fc.forward(pool.forward(features), training: training)
    }

    public func headBackward(_ gradLogits: Tensor) throws -> Tensor {
        try pool.backward(fc.backward(gradLogits))
    }

    public func featuresBackward(_ gradFeatures: Tensor) throws {
        var g = gradFeatures
        for block in blocks.reversed() { g = try block.backward(g) }
        if let maxPool { g = try maxPool.backward(g) }
        try stem.backwardParameters(g)
    }

    public var classifier: (weight: Parameter, bias: Parameter?, prefix: String) { (fc.weight, fc.bias, "fc") }
}
