import XCTest
@testable import CLTrainIO

/// The hand-written protobuf encoding of ONNX messages against bytes written by the `onnx`
/// Python package (onnx.helper, `SerializeToString()`) for the same messages.
final class ONNXEncodingTests: XCTestCase {
    func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
    func hex(_ data: Data) -> String { hex(Array(data)) }

    func testVarints() {
        let cases: [(UInt64, String)] = [(0, "00"), (1, "01"), (127, "7f"), (128, "8001"), (300, "ac02"),
                                         (UInt64(UInt32.max), "ffffffff0f"), (.max, "ffffffffffffffffff01")]
        for (value, expected) in cases {
            var w = ProtobufWriter()
            w.appendVarint(value)
            XCTAssertEqual(hex(w.bytes), expected, "varint \(value)")
        }
    }

    func testScalarFields() {
        var w = ProtobufWriter()
        w.int(1, 8)                 // key 0x08, varint
        w.int(3, -1)                // negative int64: ten bytes
        w.float(2, 1)               // key 0x15, fixed32 little-endian
        w.string(4, "ab")           // key 0x22, length, bytes
        w.floatBytes(9, [1, -2])    // raw_data
        w.int(20, 7)                // a two-byte key
        XCTAssertEqual(hex(w.bytes), "0808" + "18ffffffffffffffffff01" + "150000803f" + "22026162"
                       + "4a080000803f000000c0" + "a00107")
    }

    func testNegativeIntAttribute() {
        var w = ProtobufWriter()
        ONNXAttribute.int("axis", -1).encode(into: &w)
        XCTAssertEqual(hex(w.bytes), "0a046178697318ffffffffffffffffff01a00102")
    }

    /// helper.make_node('Conv', ['x', 'w'], ['y'], name='c', dilations=[1, 1], epsilon=1e-5, group=1)
    func testNode() {
        let node = ONNXNode("Conv", name: "c", inputs: ["x", "w"], outputs: ["y"],
                            attributes: [.ints("dilations", [1, 1]), .float("epsilon", 1e-5), .int("group", 1)])
        var w = ProtobufWriter()
        node.encode(into: &w)
        XCTAssertEqual(hex(w.bytes), "0a01780a01771201791a01632204436f6e76"
                       + "2a120a0964696c6174696f6e7340014001a00107"
                       + "2a110a07657073696c6f6e15acc52737a00101"
                       + "2a0c0a0567726f75701801a00102")
    }

    /// numpy_helper.from_array(np.array([1, -2], np.float32), 't')
    func testTensorWithRawData() {
        var w = ProtobufWriter()
        ONNXTensor(name: "t", dims: [2], values: [1, -2]).encode(into: &w)
        XCTAssertEqual(hex(w.bytes), "080210014201744a080000803f000000c0")
    }

    /// helper.make_tensor_value_info('in', TensorProto.FLOAT, ['batch', 3])
    func testValueInfoWithSymbolicBatch() {
        var w = ProtobufWriter()
        ONNXValueInfo(name: "in", dims: [.symbol("batch"), .size(3)]).encode(into: &w)
        XCTAssertEqual(hex(w.bytes), "0a02696e12130a110801120d0a07120562617463680a020803")
    }

    /// A one-Relu model: helper.make_model(graph, opset_imports=[make_opsetid('', 17)], ir_version=8,
    /// producer_name='cltrain') with set_model_props(model, {'k': 'v'}).
    func testModel() {
        var graph = ONNXGraph(name: "g")
        graph.nodes = [ONNXNode("Relu", name: "r", inputs: ["in"], outputs: ["out"])]
        graph.inputs = [ONNXValueInfo(name: "in", dims: [.symbol("batch"), .size(3)])]
        graph.outputs = [ONNXValueInfo(name: "out", dims: [.symbol("batch"), .size(3)])]
        var model = ONNXModel(graph: graph)
        model.metadata = [("k", "v")]
        XCTAssertEqual(hex(model.serialized()),
                       "08081207636c747261696e"
                       + "3a4e0a120a02696e12036f75741a0172220452656c75120167"
                       + "5a190a02696e12130a110801120d0a07120562617463680a020803"
                       + "621a0a036f757412130a110801120d0a07120562617463680a020803"
                       + "42040a001011" + "72060a016b120176")
    }
}
