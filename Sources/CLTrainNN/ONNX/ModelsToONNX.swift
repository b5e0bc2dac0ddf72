import CLTrainRuntime

// Each model's eval-mode forward pass, step for step, as ONNX nodes.

extension DenseNet: ONNXExportable {
    public func exportONNX(_ b: ONNXGraphBuilder, input: ONNXValue) throws -> ONNXValue {
        var x = try conv0.export(b, input)
        if let norm0 {
            x = try norm0.export(b, x, relu: true)
            x = try pool0.export(b, x, name: "features.pool0")
        }
        for (index, block) in denseBlocks.enumerated() {
            x = try block.export(b, x)
            if index < transitions.count { x = try transitions[index].export(b, x) }
        }
        x = try norm5.export(b, x, relu: true)
        return try linear.export(b, pool.export(b, x, name: "features.pool5"))
    }
}

extension DenseBlock {
    /// Each layer reads the concatenation of the block's input and every earlier layer's new
    /// features, and its own are concatenated after them (the block's one tensor in cltrain).
    func export(_ b: ONNXGraphBuilder, _ input: ONNXValue) throws -> ONNXValue {
        var features = input
        for layer in layers {
            let new = try layer.export(b, features)
            features = b.node("Concat", join(parentName(layer.norm1.name), "concat"), inputs: [features.name, new.name],
                              shape: [features.shape[0] + new.shape[0]] + features.shape.dropFirst(), attributes: [.int("axis", 1)])
        }
        return features
    }
}

extension DenseLayer {
    /// BN-ReLU-conv1 (1x1 to the bottleneck in BC), then BN-ReLU-conv2 (3x3 to k) in BC; dropout is off in eval.
    func export(_ b: ONNXGraphBuilder, _ x: ONNXValue) throws -> ONNXValue {
        var y = try conv1.export(b, norm1.export(b, x, relu: true))
        if let norm2, let conv2 { y = try conv2.export(b, norm2.export(b, y, relu: true)) }
        return y
    }
}

extension Transition {
    func export(_ b: ONNXGraphBuilder, _ x: ONNXValue) throws -> ONNXValue {
        let y = try conv.export(b, norm.export(b, x, relu: true))
        return try pool.export(b, y, name: join(parentName(norm.name), "pool"))
    }
}

extension BasicBlock {
    /// conv-BN-ReLU-conv-BN, plus the shortcut (identity or 1x1 conv-BN) unless `residual` is off, then ReLU.
    func export(_ b: ONNXGraphBuilder, _ x: ONNXValue) throws -> ONNXValue {
        let name = parentName(parentName(conv1.weight.name))
        var y = try bn1.export(b, conv1.export(b, x), relu: true)
        y = try bn2.export(b, conv2.export(b, y))
        if residual {
            var shortcut = x
            if let downsampleConv, let downsampleNorm {
                shortcut = try downsampleNorm.export(b, downsampleConv.export(b, x))
            }
            precondition(shortcut.shape == y.shape, "\(name): shortcut \(shortcut.shape), main path \(y.shape)")
            y = b.node("Add", join(name, "add"), inputs: [y.name, shortcut.name], shape: y.shape)
        }
        return relu2.export(b, y, name: join(name, "relu"))
    }
}

extension ConvNormReLU {
    func export(_ b: ONNXGraphBuilder, _ x: ONNXValue) throws -> ONNXValue {
        try norm.export(b, conv.export(b, x), relu: true)
    }
}

extension DRN: ONNXExportable {
    public func exportONNX(_ b: ONNXGraphBuilder, input: ONNXValue) throws -> ONNXValue {
        var x = input
        for stage in stages {
            switch stage {
            case .blocks(let blocks): for block in blocks { x = try block.export(b, x) }
            case .convs(let convs): for conv in convs { x = try conv.export(b, x) }
            }
        }
        // fc is a 1x1 convolution over the pooled [C, 1, 1] features.
        let logits = try fc.export(b, pool.export(b, x, name: "avgpool", flatten: false))
        return b.node("Flatten", "fc.flatten", inputs: [logits.name], shape: [classes], attributes: [.int("axis", 1)])
    }
}

extension ResNet: ONNXExportable {
    public func exportONNX(_ b: ONNXGraphBuilder, input: ONNXValue) throws -> ONNXValue {
        var x = try stem.export(b, input)
        if let maxPool { x = try maxPool.export(b, x, name: "maxpool") }
        for block in blocks { x = try block.export(b, x) }
        return try fc.export(b, pool.export(b, x, name: "avgpool"))
    }
}
