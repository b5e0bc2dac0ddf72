import CLTrainRuntime

/// DenseNet (Huang et al. 2017) with torchvision's state_dict names.
///
/// Each dense block allocates its whole output once; every layer reads the channels written so
/// far as a view and writes its k new channels straight into its slice, so concatenation costs
/// no copy. In the backward pass the block's gradient is one tensor too: each layer's first batch
/// norm adds its input gradient into the slice it read. In training, a layer's BN-ReLUs are never
/// written out: each is applied by the convolution that reads it, a few samples at a time as it
/// reads them (`BatchNormReLU`), and its backward finds the ReLU's mask from the input. So no
/// layer keeps a normalised copy of the block (the memory of Pleiss et al.'s memory-efficient
/// DenseNet, without its recomputation): training memory grows linearly with depth, not with
/// its square. In eval, the BN-ReLUs go through two buffers shared by the block.
public final class DenseNet: Model {
    public struct Configuration: Equatable, Sendable {
        public enum Stem: Sendable { case small, imagenet }
        public var blocks: [Int]
        public var growthRate: Int
        /// Bottleneck 1x1 convolutions of `bottleneckWidth * growthRate` channels (BC).
        public var bottleneck: Bool
        public var bottleneckWidth = 4
        /// Channels kept by a transition (0.5 for BC, 1 for plain DenseNet).
        public var compression: Double
        public var initialFeatures: Int
        /// `.small`: one 3x3 convolution (CIFAR-style); `.imagenet`: 7x7/2 conv, BN, ReLU, 3x3/2 max pool.
        public var stem: Stem

        /// DenseNet-BC for small images: depth L = 6n + 4, three blocks of n bottleneck layers.
        public static func bc(depth: Int, growthRate: Int) -> Configuration {
            let n = (depth - 4) / 6
            return Configuration(blocks: [n, n, n], growthRate: growthRate, bottleneck: true, compression: 0.5,
                                 initialFeatures: 2 * growthRate, stem: .small)
        }

        /// Plain DenseNet for small images: depth L = 3n + 4, 16 initial channels.
        public static func plain(depth: Int, growthRate: Int) -> Configuration {
            let n = (depth - 4) / 3
            return Configuration(blocks: [n, n, n], growthRate: growthRate, bottleneck: false, compression: 1,
                                 initialFeatures: 16, stem: .small)
        }

        /// The ImageNet DenseNets (121: 6-12-24-16, 169: 6-12-32-32, 201: 6-12-48-32, 264: 6-12-64-48).
        public static func imagenet(blocks: [Int], growthRate: Int = 32) -> Configuration {
            Configuration(blocks: blocks, growthRate: growthRate, bottleneck: true, compression: 0.5,
                          initialFeatures: 2 * growthRate, stem: .imagenet)
        }
    }

    public let configuration: Configuration
    public let inputChannels: Int
    public let classes: Int
    public let parameters: [Parameter]
    public let buffers: [Buffer]
    public let batchNorms: [BatchNorm2d]

    /// Dropout after each dense layer's new features in training (torchvision's `drop_rate`).
    public var dropRate: Float = 0 {
        didSet {
            precondition(dropRate >= 0 && dropRate < 1, "drop rate \(dropRate) outside [0, 1)")
            for block in denseBlocks { for layer in block.layers { layer.dropRate = dropRate } }
        }
    }

    let conv0: Conv2d
    let norm0: BatchNorm2d?
    /// The stems' layers that set the size (see `Configuration.sizeSteps`).
    static let smallStemGeometry = Conv2dGeometry(kernel: 3, padding: 1)
    static let imagenetStemGeometry = Conv2dGeometry(kernel: 7, stride: 2, padding: 3)
    static let stemPoolGeometry = Pool2dGeometry(kernel: 3, stride: 2, padding: 1)

    let pool0 = MaxPool2d(DenseNet.stemPoolGeometry)
    let denseBlocks: [DenseBlock]
    let transitions: [Transition]
    let norm5: BatchNorm2d
    let pool = GlobalAvgPool()
    /// The classifier (`classifier.weight` [classes, C], `classifier.bias`).
    let linear: Linear

    public init(_ configuration: Configuration, inputChannels: Int, classes: Int, device: Device, seed: UInt64) throws {
        precondition(!configuration.blocks.isEmpty && configuration.blocks.allSatisfy { $0 > 0 }, "DenseNet needs blocks of at least one layer")
        self.configuration = configuration
        self.inputChannels = inputChannels
        self.classes = classes
        let builder = ModelBuilder(device: device, seed: seed)
        var channels = configuration.initialFeatures
        switch configuration.stem {
        case .small:
            conv0 = try Conv2d(builder, "features.conv0", inputChannels, channels, Self.smallStemGeometry)
            norm0 = nil
        case .imagenet:
            conv0 = try Conv2d(builder, "features.conv0", inputChannels, channels, Self.imagenetStemGeometry)
            norm0 = try BatchNorm2d(builder, "features.norm0", channels)
        }
        var blocks: [DenseBlock] = []
        var transitions: [Transition] = []
        for (index, layers) in configuration.blocks.enumerated() {
            let block = try DenseBlock(builder, "features.denseblock\(index + 1)", inputChannels: channels, layers: layers,
                                       configuration: configuration, seed: UInt32(truncatingIfNeeded: seed) &+ UInt32(index << 16))
            blocks.append(block)
            channels = block.outputChannels
            if index < configuration.blocks.count - 1 {
                let out = Int(Double(channels) * configuration.compression)
                transitions.append(try Transition(builder, "features.transition\(index + 1)", channels, out))
                channels = out
            }
        }
        denseBlocks = blocks
        self.transitions = transitions
        norm5 = try BatchNorm2d(builder, "features.norm5", channels)
        linear = try Linear(builder, "classifier", channels, classes, zeroBias: true)
        parameters = builder.parameters
        buffers = builder.buffers
        batchNorms = builder.batchNorms
    }

    public func features(_ input: Tensor, training: Bool) throws -> Tensor {
        var x = try conv0.forward(input, training: training)
        if let norm0 {
            x = try norm0.forward(x, training: training, relu: true)
            x = try pool0.forward(x, training: training)
        }
        for (index, block) in denseBlocks.enumerated() {
            x = try block.forward(x, training: training)
            if index < transitions.count { x = try transitions[index].forward(x, training: training) }
        }
        return try norm5.forward(x, training: training, relu: true)
    }

    public func head(_ features: Tensor, training: Bool) throws -> Tensor {
        try linear.forward(pool.forward(features), training: training)
    }

    public func headBackward(_ gradLogits: Tensor) throws -> Tensor {
        try pool.backward(linear.backward(gradLogits))
    }

    public func featuresBackward(_ gradFeatures: Tensor) throws {
        var g = try norm5.backward(gradFeatures)
        for index in denseBlocks.indices.reversed() {
            if index < transitions.count { g = try transitions[index].backward(g) }
            g = try denseBlocks[index].backward(g)
        }
        if let norm0 {
            g = try norm0.backward(pool0.backward(g))
        }
        try conv0.backwardParameters(g)
    }

    public var classifier: (weight: Parameter, bias: Parameter?, prefix: String) { (linear.weight, linear.bias, "classifier") }
}

/// BN-ReLU-1x1 conv (bottleneck, BC only), BN-ReLU-3x3 conv to k channels (each BN-ReLU one pass).
final class DenseLayer {
    let norm1: BatchNorm2d
    let conv1: Conv2d
    let norm2: BatchNorm2d?
    let conv2: Conv2d?
    var dropRate: Float = 0
    /// Distinguishes this layer's dropout masks from every other layer's.
    let dropoutStream: UInt32
    /// The mask seed of the last training forward with dropout (nil: none applied).
    private var dropoutSeed: UInt32?

    init(_ builder: ModelBuilder, _ name: String, inputChannels: Int, configuration c: DenseNet.Configuration, dropoutStream: UInt32) throws {
        self.dropoutStream = dropoutStream
        norm1 = try BatchNorm2d(builder, join(name, "norm1"), inputChannels)
        if c.bottleneck {
            let width = c.bottleneckWidth * c.growthRate
            conv1 = try Conv2d(builder, join(name, "conv1"), inputChannels, width, Conv2dGeometry(kernel: 1))
            norm2 = try BatchNorm2d(builder, join(name, "norm2"), width)
            conv2 = try Conv2d(builder, join(name, "conv2"), width, c.growthRate, Conv2dGeometry(kernel: 3, padding: 1))
        } else {
            conv1 = try Conv2d(builder, join(name, "conv1"), inputChannels, c.growthRate, Conv2dGeometry(kernel: 3, padding: 1))
            norm2 = nil
            conv2 = nil
        }
    }

    /// Training: read `input` (the block's channels so far) and write the new features into
    /// `output`, each BN-ReLU applied by the convolution after it.
    /// `statistics`: the batch statistics of `input`'s channels, computed once by the block.
    func forwardTraining(_ input: Tensor, into output: Tensor, statistics: BatchStatistics?) throws {
        let first = try norm1.normalization(of: input, statistics: statistics)
        if let norm2, let conv2 {
            let bottleneck = try conv1.forward(input, training: true, normalizedBy: first)
            _ = try conv2.forward(bottleneck, into: output, training: true, normalizedBy: norm2.normalization(of: bottleneck))
        } else {
            _ = try conv1.forward(input, into: output, training: true, normalizedBy: first)
        }
        try applyDropout(output, training: true)
    }

    /// Eval: as `forwardTraining`, the BN-ReLUs written into `shared` (input-shaped) and
    /// `sharedBottleneck`, both overwritten by the next layer.
    func forwardEval(_ input: Tensor, into output: Tensor, shared: Tensor, sharedBottleneck: Tensor?) throws {
        let x = try norm1.forward(input, into: shared, training: false, relu: true)
        if let norm2, let conv2, let sharedBottleneck {
            let bottleneck = try conv1.forward(x, training: false)
            let y = try norm2.forward(bottleneck, into: sharedBottleneck, training: false, relu: true)
            _ = try conv2.forward(y, into: output, training: false)
        } else {
            _ = try conv1.forward(x, into: output, training: false)
        }
        try applyDropout(output, training: false)
    }

    private func applyDropout(_ output: Tensor, training: Bool) throws {
        dropoutSeed = nil
        if training && dropRate > 0 {
            // A fresh mask per step: the step count is norm1's, which checkpoints keep.
            let seed = DropoutMask.hash(seed: dropoutStream, index: UInt32(truncatingIfNeeded: norm1.batchesTracked))
            try output.device.backend.dropoutForward(input: output, output: output, probability: dropRate, seed: seed)
            dropoutSeed = seed
        }
    }

    /// From the gradient of this layer's new features, add the gradient of its input into
    /// `gradInput` (the block gradient's leading channels). The first batch norm's backward runs
    /// fused with the convolution's and may leave part of its input gradient in `deferring`
    /// (returns whether it did; see `DeferredNormGradient`).
    func backward(_ gradOutput: Tensor, addingInto gradInput: Tensor, deferring: DeferredNormGradient) throws -> Bool {
        var g = gradOutput
        if let seed = dropoutSeed {
            try g.device.backend.dropoutBackward(gradOutput: g, gradInput: g, probability: dropRate, seed: seed, accumulate: false)
        }
        if let norm2, let conv2 {
            g = try conv2.backward(g)
            g = try norm2.backward(g)
        }
        return try conv1.backward(g, through: norm1, addingInto: gradInput, deferring: deferring)
    }
}

/// The layers of one dense block over one shared output tensor.
final class DenseBlock {
    let layers: [DenseLayer]
    let inputChannels: Int
    let growthRate: Int
    var outputChannels: Int { inputChannels + layers.count * growthRate }
    /// The output of the last training forward, which the layers' batch norms read (kept for
    /// applying their deferred input-gradient terms in backward).
    private var trainingOutput: Tensor?

    init(_ builder: ModelBuilder, _ name: String, inputChannels: Int, layers count: Int, configuration: DenseNet.Configuration,
         seed: UInt32) throws {
        self.inputChannels = inputChannels
        self.growthRate = configuration.growthRate
        layers = try (0..<count).map {
            try DenseLayer(builder, join(name, "denselayer\($0 + 1)"), inputChannels: inputChannels + $0 * configuration.growthRate,
                           configuration: configuration, dropoutStream: DropoutMask.hash(seed: seed, index: UInt32($0)))
        }
    }

    func forward(_ input: Tensor, training: Bool) throws -> Tensor {
        let output = try input.device.makeTensor([input.n, outputChannels, input.h, input.w])
        try input.device.backend.channelCopy(from: input, to: output.channels(0..<inputChannels), accumulate: false)
        let device = input.device
        guard training else {
            let shared = try device.makeTensor([input.n, outputChannels - growthRate, input.h, input.w])
            let sharedBottleneck = try layers[0].norm2.map { try device.makeTensor([input.n, $0.channels, input.h, input.w]) }
            for (index, layer) in layers.enumerated() {
                let start = inputChannels + index * growthRate
                try layer.forwardEval(output.channels(0..<start), into: output.channels(start..<start + growthRate),
                                      shared: shared.channels(0..<start), sharedBottleneck: sharedBottleneck)
            }
            return output
        }
        // Every channel's batch statistics are computed once, when it is written, and read by the
        // first batch norm of every later layer (they all see the same values).
        var statistics: BatchStatistics?
        let epsilon = layers[0].norm1.epsilon
        if layers.allSatisfy({ $0.norm1.epsilon == epsilon }) {
            let count = outputChannels - growthRate
            statistics = BatchStatistics(mean: try device.makeTensor([count]), invStd: try device.makeTensor([count]),
                                         unbiasedVariance: try device.makeTensor([count]), epsilon: epsilon)
        }
        func computeStatistics(_ range: Range<Int>) throws {
            guard let s = statistics?.channels(range) else { return }
            try device.backend.batchNormStatistics(input: output.channels(range), mean: s.mean, invStd: s.invStd,
                                                   unbiasedVariance: s.unbiasedVariance, epsilon: s.epsilon)
            // Synchronised batch norm: the channels' statistics of the global batch, which every
            // reader (and the backward's recomputation of the normalised input) then uses.
            if let sum = layers[0].norm1.synchronization { try s.synchronize(count: output.count / outputChannels, sum: sum) }
        }
        try computeStatistics(0..<inputChannels)
        trainingOutput = output
        for (index, layer) in layers.enumerated() {
            let start = inputChannels + index * growthRate
            try layer.forwardTraining(output.channels(0..<start), into: output.channels(start..<start + growthRate),
                                      statistics: statistics?.channels(0..<start))
            if index < layers.count - 1 { try computeStatistics(start..<start + growthRate) }
        }
        return output
    }

    /// `gradOutput`, the gradient of the whole block output, is consumed: the layers add their
    /// input gradients into its leading channels, and its first `inputChannels` are returned.
    ///
    /// Each layer's first batch norm reads every channel before it; where the backend fuses that
    /// batch norm's backward into its convolution's, the per-channel terms `b x + c` of the input
    /// gradients are summed over the layers and added once per channel, when the backward reaches
    /// the layer that wrote it (its gradient is complete then) and for the block's input at the end.
    func backward(_ gradOutput: Tensor) throws -> Tensor {
        let g = gradOutput
        guard let output = trainingOutput else { preconditionFailure("dense block: backward without a training forward") }
        trainingOutput = nil
        let deferring = try DeferredNormGradient(channels: outputChannels - growthRate, device: g.device)
        var deferred = false
        for (index, layer) in layers.enumerated().reversed() {
            let start = inputChannels + index * growthRate, slice = start..<start + growthRate
            if deferred, index < layers.count - 1 {
                try deferring.channels(slice).apply(input: output.channels(slice), gradInput: g.channels(slice))
            }
            let fused = try layer.backward(g.channels(slice), addingInto: g.channels(0..<start), deferring: deferring.channels(0..<start))
            deferred = deferred || fused
        }
        if deferred {
            try deferring.channels(0..<inputChannels).apply(input: output.channels(0..<inputChannels),
                                                            gradInput: g.channels(0..<inputChannels))
        }
        return g.channels(0..<inputChannels)
    }
}

/// BN-ReLU-1x1 conv-2x2 average pool between two blocks.
final class Transition {
    let norm: BatchNorm2d
    let conv: Conv2d
    static let poolGeometry = Pool2dGeometry(kernel: 2, stride: 2)
    let pool = AvgPool2d(Transition.poolGeometry)

    init(_ builder: ModelBuilder, _ name: String, _ inputChannels: Int, _ outputChannels: Int) throws {
        norm = try BatchNorm2d(builder, join(name, "norm"), inputChannels)
        conv = try Conv2d(builder, join(name, "conv"), inputChannels, outputChannels, Conv2dGeometry(kernel: 1))
    }

    func forward(_ input: Tensor, training: Bool) throws -> Tensor {
        // In training the convolution applies the BN-ReLU as it reads (as in the dense layers).
        let y = training
            ? try conv.forward(input, training: true, normalizedBy: norm.normalization(of: input))
            : try conv.forward(norm.forward(input, training: false, relu: true), training: false)
        return try pool.forward(y, training: training)
    }

    func backward(_ gradOutput: Tensor) throws -> Tensor {
        let g = try conv.backward(pool.backward(gradOutput))
        return try norm.backward(g)
    }
}
