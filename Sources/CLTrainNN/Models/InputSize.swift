import CLTrainRuntime

/// What one layer does to the side of a square input: the convolutions and poolings whose window,
/// stride or padding can change the size. A model lists them in the order its forward pass meets
/// them (`sizeSteps` of each configuration, built from the same geometries as its layers); the
/// size-keeping layers (3x3 convolutions padded by their dilation, 1x1 convolutions of stride 1,
/// BN, ReLU) take any input and are left out.
public struct SizeStep: Equatable, Sendable {
    /// The window's extent over the input, dilation included.
    public let extent: Int
    public let stride: Int
    public let padding: Int

    public init(_ geometry: Conv2dGeometry) {
        extent = geometry.dilationH * (geometry.kernelH - 1) + 1
        stride = geometry.strideH
        padding = geometry.padH
    }

    public init(_ geometry: Pool2dGeometry) {
        extent = geometry.kernelH
        stride = geometry.strideH
        padding = geometry.padH
    }

    /// The output side for an input side, as PyTorch computes it; nil when the padded input is
    /// narrower than the window (PyTorch raises "Output size is too small"; integer division
    /// rounding toward zero would hide it as a size of 1).
    public func output(_ side: Int) -> Int? {
        let padded = side + 2 * padding
        guard side >= 1, padded >= extent else { return nil }
        return (padded - extent) / stride + 1
    }
}

extension Array where Element == SizeStep {
    /// The side of the last step's output for an input side, nil when a step cannot take its input.
    public func output(_ side: Int) -> Int? {
        var side = side
        for step in self {
            guard let next = step.output(side) else { return nil }
            side = next
        }
        return side
    }

    /// The smallest input side every step takes. Each step's output grows with its input, so the
    /// first side that passes is the smallest.
    public var minimumInput: Int {
        var side = 1
        while output(side) == nil { side += 1 }
        return side
    }
}

extension DenseNet.Configuration {
    /// The stem's (and with `.imagenet`, its pool's) and each transition's effect on the size.
    public var sizeSteps: [SizeStep] {
        let stem: [SizeStep] = switch stem {
        case .small: [SizeStep(DenseNet.smallStemGeometry)]
        case .imagenet: [SizeStep(DenseNet.imagenetStemGeometry), SizeStep(DenseNet.stemPoolGeometry)]
        }
        return stem + Array(repeating: SizeStep(Transition.poolGeometry), count: max(blocks.count - 1, 0))
    }
}

extension ResNet.Configuration {
    /// The stem (and its max pool), then each level's strided first block (its 3x3 convolution and
    /// its 1x1 shortcut).
    public var sizeSteps: [SizeStep] {
        var steps = imagenetStem ? [SizeStep(ResNet.imagenetStemGeometry), SizeStep(ResNet.stemPoolGeometry)]
                                 : [SizeStep(ResNet.smallStemGeometry)]
        for level in levels where level.stride != 1 {
            steps.append(SizeStep(BasicBlock.firstGeometry(stride: level.stride, dilation: 1)))
        }
        return steps
    }
}

extension DRN.Configuration {
    /// The 7x7 stem, then the three levels that halve the size (2, 3 and 4).
    public var sizeSteps: [SizeStep] {
        [SizeStep(DRN.stemGeometry)] + Array(repeating: SizeStep(BasicBlock.firstGeometry(stride: 2, dilation: 1)), count: 3)
    }
}
