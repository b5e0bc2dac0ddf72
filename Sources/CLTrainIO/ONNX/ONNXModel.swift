import Foundation

/// The part of ONNX's `onnx.proto` that an inference graph of float tensors needs, each message
/// with its encoding. Field numbers are onnx.proto's; fields are written in field-number order,
/// and repeated integers unpacked (onnx.proto is proto2), so the bytes equal what `onnx`'s
/// Python package writes for the same model.
public struct ONNXModel {
    /// IR version 8 (ONNX 1.10 and later read it) with the default-domain operator set 17.
    public var irVersion = 8
    public var opsetVersion = 17
    public var producerName = "cltrain"
    public var producerVersion = ""
    public var docString = ""
    public var graph: ONNXGraph
    /// `metadata_props`: key-value pairs a user can read back (`onnx.load(f).metadata_props`).
    public var metadata: [(key: String, value: String)] = []

    public init(graph: ONNXGraph) { self.graph = graph }

    /// The file's bytes: a serialized `ModelProto`.
    public func serialized() -> Data {
        var w = ProtobufWriter()
        w.int(1, irVersion)
        w.string(2, producerName)
        if !producerVersion.isEmpty { w.string(3, producerVersion) }
        if !docString.isEmpty { w.string(6, docString) }
        w.message(7) { graph.encode(into: &$0) }
        w.message(8) { opset in
            opset.string(1, "")
            opset.int(2, opsetVersion)
        }
        for (key, value) in metadata {
            w.message(14) { entry in
                entry.string(1, key)
                entry.string(2, value)
            }
        }
        return Data(w.bytes)
    }
}

/// `GraphProto`: nodes in topological order, the weights as initializers, inputs and outputs.
public struct ONNXGraph {
    public var name: String
    public var nodes: [ONNXNode] = []
    public var initializers: [ONNXTensor] = []
    public var inputs: [ONNXValueInfo] = []
    public var outputs: [ONNXValueInfo] = []
    public var docString = ""

    public init(name: String) { self.name = name }

    func encode(into w: inout ProtobufWriter) {
        for node in nodes { w.message(1) { node.encode(into: &$0) } }
        w.string(2, name)
        for tensor in initializers { w.message(5) { tensor.encode(into: &$0) } }
        if !docString.isEmpty { w.string(10, docString) }
        for input in inputs { w.message(11) { input.encode(into: &$0) } }
        for output in outputs { w.message(12) { output.encode(into: &$0) } }
    }
}

/// `NodeProto`: one operator of the default domain.
public struct ONNXNode {
    public var opType: String
    public var name: String
    public var inputs: [String]
    public var outputs: [String]
    public var attributes: [ONNXAttribute]

    public init(_ opType: String, name: String, inputs: [String], outputs: [String], attributes: [ONNXAttribute] = []) {
        self.opType = opType
        self.name = name
        self.inputs = inputs
        self.outputs = outputs
        self.attributes = attributes
    }

    func encode(into w: inout ProtobufWriter) {
        for input in inputs { w.string(1, input) }
        for output in outputs { w.string(2, output) }
        w.string(3, name)
        w.string(4, opType)
        for attribute in attributes { w.message(5) { attribute.encode(into: &$0) } }
    }
}

/// `AttributeProto` of the three kinds the exported operators take.
public struct ONNXAttribute: Equatable {
    public enum Value: Equatable {
        case float(Float)
        case int(Int)
        case ints([Int])
    }

    public var name: String
    public var value: Value

    public init(_ name: String, _ value: Value) {
        self.name = name
        self.value = value
    }

    public static func float(_ name: String, _ value: Float) -> ONNXAttribute { ONNXAttribute(name, .float(value)) }
    public static func int(_ name: String, _ value: Int) -> ONNXAttribute { ONNXAttribute(name, .int(value)) }
    public static func ints(_ name: String, _ values: [Int]) -> ONNXAttribute { ONNXAttribute(name, .ints(values)) }

    func encode(into w: inout ProtobufWriter) {
        w.string(1, name)
        // AttributeProto.AttributeType: FLOAT = 1, INT = 2, INTS = 7 (field 20).
        switch value {
        case .float(let f):
            w.float(2, f)
            w.int(20, 1)
        case .int(let i):
            w.int(3, i)
            w.int(20, 2)
        case .ints(let values):
            for v in values { w.int(8, v) }
            w.int(20, 7)
        }
    }
}

/// `TensorProto` of float32 values in `raw_data` (little-endian, row-major).
public struct ONNXTensor {
    public var name: String
    public var dims: [Int]
    public var values: [Float]

    public init(name: String, dims: [Int], values: [Float]) {
        precondition(dims.reduce(1, *) == values.count, "tensor \(name): \(values.count) values for dims \(dims)")
        self.name = name
        self.dims = dims
        self.values = values
    }

    func encode(into w: inout ProtobufWriter) {
        for d in dims { w.int(1, d) }
        w.int(2, ONNXValueInfo.float32)
        w.string(8, name)
        w.floatBytes(9, values)
    }
}

/// `ValueInfoProto` of a float32 tensor whose dimensions are sizes or symbolic names.
public struct ONNXValueInfo {
    public enum Dimension: Equatable {
        case size(Int)
        case symbol(String)
    }

    /// `TensorProto.DataType.FLOAT`.
    static let float32 = 1

    public var name: String
    public var dims: [Dimension]

    public init(name: String, dims: [Dimension]) {
        self.name = name
        self.dims = dims
    }

    func encode(into w: inout ProtobufWriter) {
        w.string(1, name)
        w.message(2) { type in  // TypeProto
            type.message(1) { tensor in  // TypeProto.Tensor
                tensor.int(1, Self.float32)
                tensor.message(2) { shape in  // TensorShapeProto
                    for dim in dims {
                        shape.message(1) { d in
                            switch dim {
                            case .size(let n): d.int(1, n)
                            case .symbol(let s): d.string(2, s)
                            }
                        }
                    }
                }
            }
        }
    }
}
