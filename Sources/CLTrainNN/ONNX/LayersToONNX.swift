import CLTrainIO
import CLTrainRuntime

// Each layer's eval-mode forward as ONNX nodes (opset 17).

/// `name` without its last component (`layer1.0.conv1.weight` -> `layer1.0.conv1`).
func parentName(_ name: String) -> String {
    guard let dot = name.lastIndex(of: ".") else { return "" }
    return String(name[..<dot])
}

extension Conv2d {
    /// Conv with the weight, the bias when there is one, and the geometry's pads, strides and dilations.
    func export(_ b: ONNXGraphBuilder, _ x: ONNXValue) throws -> ONNXValue {
        let name = parentName(weight.name)
        let g = geometry
        precondition(x.shape.count == 3 && x.shape[0] == inChannels, "conv \(name): input \(x.shape)")
        guard x.shape[1] + 2 * g.padH >= g.dilationH * (g.kernelH - 1) + 1,
              x.shape[2] + 2 * g.padW >= g.dilationW * (g.kernelW - 1) + 1
        else { throw ONNXExportError.inputTooSmall(layer: name, input: x.shape) }
        var inputs = [x.name, try b.initializer(weight)]
        if let bias { inputs.append(try b.initializer(bias)) }
        return b.node("Conv", name, inputs: inputs, shape: [outChannels, g.outputHeight(x.shape[1]), g.outputWidth(x.shape[2])],
                      attributes: [.ints("dilations", [g.dilationH, g.dilationW]), .int("group", 1),
                                   .ints("kernel_shape", [g.kernelH, g.kernelW]), .ints("pads", [g.padH, g.padW, g.padH, g.padW]),
                                   .ints("strides", [g.strideH, g.strideW])])
    }
}

extension BatchNorm2d {
    /// BatchNormalization in inference mode with the running statistics, then Relu when `relu`.
    func export(_ b: ONNXGraphBuilder, _ x: ONNXValue, relu: Bool = false) throws -> ONNXValue {
        precondition(x.shape.first == channels, "\(name): input \(x.shape)")
        let inputs = [x.name, try b.initializer(weight), try b.initializer(bias), try b.initializer(runningMean),
                      try b.initializer(runningVar)]
        let y = b.node("BatchNormalization", name, inputs: inputs, shape: x.shape, attributes: [.float("epsilon", epsilon)])
        return relu ? b.node("Relu", join(name, "relu"), inputs: [y.name], shape: y.shape) : y
    }
}

extension Linear {
    /// Gemm: x W^T + b.
    func export(_ b: ONNXGraphBuilder, _ x: ONNXValue) throws -> ONNXValue {
        precondition(x.shape == [inFeatures], "\(weight.name): input \(x.shape)")
        var inputs = [x.name, try b.initializer(weight)]
        if let bias { inputs.append(try b.initializer(bias)) }
        return b.node("Gemm", parentName(weight.name), inputs: inputs, shape: [outFeatures], attributes: [.int("transB", 1)])
    }
}

extension Pool2dGeometry {
    func export(_ b: ONNXGraphBuilder, _ opType: String, _ name: String, _ x: ONNXValue) throws -> ONNXValue {
        guard x.shape[1] + 2 * padH >= kernelH, x.shape[2] + 2 * padW >= kernelW else {
            throw ONNXExportError.inputTooSmall(layer: name, input: x.shape)
        }
        var attributes: [ONNXAttribute] = [.ints("kernel_shape", [kernelH, kernelW])]
        if padH > 0 || padW > 0 { attributes.append(.ints("pads", [padH, padW, padH, padW])) }
        attributes.append(.ints("strides", [strideH, strideW]))
        return b.node(opType, name, inputs: [x.name], shape: [x.shape[0], outputHeight(x.shape[1]), outputWidth(x.shape[2])],
                      attributes: attributes)
    }
}

extension MaxPool2d {
    /// MaxPool (padding never wins: ONNX pads with -inf, as the backends skip it).
    func export(_ b: ONNXGraphBuilder, _ x: ONNXValue, name: String) throws -> ONNXValue {
        try geometry.export(b, "MaxPool", name, x)
    }
}

extension AvgPool2d {
    /// AveragePool (the transitions' 2x2 pool has no padding, so count_include_pad does not matter).
    func export(_ b: ONNXGraphBuilder, _ x: ONNXValue, name: String) throws -> ONNXValue {
        precondition(geometry.padH == 0 && geometry.padW == 0, "average pooling with padding is not exported")
        return try geometry.export(b, "AveragePool", name, x)
    }
}

extension GlobalAvgPool {
    /// GlobalAveragePool to [C, 1, 1], then Flatten to [C] unless `flatten` is false.
    func export(_ b: ONNXGraphBuilder, _ x: ONNXValue, name: String, flatten: Bool = true) -> ONNXValue {
        let pooled = b.node("GlobalAveragePool", name, inputs: [x.name], shape: [x.shape[0], 1, 1])
        return flatten ? b.node("Flatten", join(name, "flatten"), inputs: [pooled.name], shape: [x.shape[0]], attributes: [.int("axis", 1)])
                       : pooled
    }
}

extension ReLU {
    func export(_ b: ONNXGraphBuilder, _ x: ONNXValue, name: String) -> ONNXValue {
        b.node("Relu", name, inputs: [x.name], shape: x.shape)
    }
}
