import CLTrainIO
import CLTrainRuntime

/// A value of the graph being exported: its name and its shape per sample (the batch
/// dimension, symbolic, is left out): [C, H, W] for feature maps, [F] for features.
public struct ONNXValue: Equatable {
    public let name: String
    public let shape: [Int]
}

/// Why a model cannot be exported.
public enum ONNXExportError: Error, CustomStringConvertible, Equatable {
    /// The model has no export walk.
    case unsupportedModel(String)
    /// The input is too small for a layer (its output would have no positions).
    case inputTooSmall(layer: String, input: [Int])

    public var description: String {
        switch self {
        case .unsupportedModel(let type):
            return "\(type) cannot be exported to ONNX (it has no export walk); export a model listed by `cltrain models`"
        case let .inputTooSmall(layer, input):
            return "the input is too small for \(layer) (its input would be \(input.map(String.init).joined(separator: "x")) "
                + "per sample); export at a larger --size"
        }
    }
}

/// A model that can write its eval-mode forward pass as ONNX nodes: each layer appends what it
/// computes to the builder, in the order `forward(_:training: false)` runs it.
public protocol ONNXExportable: Model {
    /// Append the nodes from `input` ([C, H, W] images) to the logits ([classes]).
    func exportONNX(_ builder: ONNXGraphBuilder, input: ONNXValue) throws -> ONNXValue
}

/// Collects the nodes and initializers of an inference graph as the layers append them. Value
/// and node names follow the layers' state_dict names (`features.conv0`, `layer1.0.bn1.relu`),
/// made unique with a suffix where one name would be used twice; initializers keep their
/// state_dict names (`features.conv0.weight`, `layer1.0.bn1.running_mean`).
public final class ONNXGraphBuilder {
    public private(set) var graph: ONNXGraph
    private var usedNames: Set<String> = []

    public init(name: String) {
        graph = ONNXGraph(name: name)
    }

    /// A graph input of float images `[batch] + shape`, the batch dimension symbolic.
    public func input(_ name: String, shape: [Int], batch: String) -> ONNXValue {
        let value = ONNXValue(name: unique(name), shape: shape)
        graph.inputs.append(ONNXValueInfo(name: value.name, dims: [.symbol(batch)] + shape.map { .size($0) }))
        return value
    }

    /// Mark `value`, the output of the last node, as the graph's output named `name`.
    public func output(_ value: ONNXValue, as name: String, batch: String) {
        precondition(graph.nodes.last?.outputs == [value.name], "the graph output must be the last node's")
        precondition(!usedNames.contains(name) || name == value.name, "output name \(name) already used")
        graph.nodes[graph.nodes.count - 1].outputs = [name]
        usedNames.insert(name)
        graph.outputs.append(ONNXValueInfo(name: name, dims: [.symbol(batch)] + value.shape.map { .size($0) }))
    }

    /// Add a parameter or buffer's current values as an initializer; returns its name.
    func initializer(_ name: String, _ tensor: Tensor) throws -> String {
        precondition(!usedNames.contains(name), "initializer \(name) added twice")
        usedNames.insert(name)
        graph.initializers.append(ONNXTensor(name: name, dims: tensor.shape, values: try tensor.device.read(tensor)))
        return name
    }

    func initializer(_ parameter: Parameter) throws -> String { try initializer(parameter.name, parameter.value) }
    func initializer(_ buffer: Buffer) throws -> String { try initializer(buffer.name, buffer.value) }

    /// Append one node named `name` (made unique) whose one output, of `shape` per sample, takes its name.
    func node(_ opType: String, _ name: String, inputs: [String], shape: [Int], attributes: [ONNXAttribute] = []) -> ONNXValue {
        let output = unique(name)
        graph.nodes.append(ONNXNode(opType, name: output, inputs: inputs, outputs: [output], attributes: attributes))
        return ONNXValue(name: output, shape: shape)
    }

    private func unique(_ name: String) -> String {
        var candidate = name
        var index = 1
        while usedNames.contains(candidate) {
            candidate = "\(name)_\(index)"
            index += 1
        }
        usedNames.insert(candidate)
        return candidate
    }
}

/// The whole-model entry point.
public enum ONNXExport {
    /// The symbolic batch dimension of the input and the output.
    public static let batch = "batch"

    /// `model`'s eval-mode forward pass as an ONNX model: input `input` [batch, C, height,
    /// width], already normalised as `model.forward` takes it, output `logits` [batch, classes];
    /// BN as BatchNormalization nodes holding the running statistics.
    public static func model(_ model: Model, name: String, height: Int, width: Int) throws -> ONNXModel {
        guard let exportable = model as? ONNXExportable else { throw ONNXExportError.unsupportedModel("\(type(of: model))") }
        let builder = ONNXGraphBuilder(name: name)
        let input = builder.input("input", shape: [model.inputChannels, height, width], batch: batch)
        let logits = try exportable.exportONNX(builder, input: input)
        precondition(logits.shape == [model.classes], "\(name): logits of shape \(logits.shape), expected [\(model.classes)]")
        builder.output(logits, as: "logits", batch: batch)
        return ONNXModel(graph: builder.graph)
    }
}
