import CLTrainTestSupport
import Foundation
import XCTest
@testable import CLTrainIO

final class SafetensorsRoundTripTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws { directory = try makeTemporaryDirectory() }

    func testRoundTripSeveralTensorsWithMetadata() throws {
        let url = directory.appendingPathComponent("model.safetensors")
        let conv: [Float] = (0..<108).map { (index: Int) -> Float in Float(index) * 0.25 - 7 }
        let tensors: [SafetensorsWriter.Tensor] = [
            ("features.conv0.weight", [4, 3, 3, 3], conv),
            ("features.norm0.weight", [4], [1, 1, 1, 1]),
            ("classifier.bias", [2], [-.infinity, .greatestFiniteMagnitude]),
            ("empty", [0, 5], []),
            ("scalar", [], [Float.pi]),
        ]
        let metadata = ["format": "pt", "epoch": "12", "quote\"and\\slash\n": "ünïcødé ✓"]
        try SafetensorsWriter.write(tensors: tensors, metadata: metadata, to: url)

        let file = try SafetensorsFile.read(contentsOf: url)
        XCTAssertEqual(file.metadata, metadata)
        XCTAssertEqual(Set(file.tensors.keys), Set(tensors.map(\.name)))
        for tensor in tensors {
            let record = try file.tensor(tensor.name)
            XCTAssertEqual(record.dtype, .f32)
            XCTAssertEqual(record.shape, tensor.shape)
            XCTAssertEqual(try file.floats(tensor.name), tensor.values)
            XCTAssertEqual(try file.floats(tensor.name, shape: tensor.shape), tensor.values)
        }
        // Data is packed in name order, as the Python package does for one dtype.
        XCTAssertEqual(file.tensorNames, ["classifier.bias", "empty", "features.conv0.weight", "features.norm0.weight", "scalar"])
        XCTAssertEqual(try directoryEntries(directory), ["model.safetensors"])
        // Header length is a multiple of 8.
        let bytes = try Data(contentsOf: url)
        XCTAssertEqual(safetensorsHeaderLength(bytes) % 8, 0)
    }

    func testNaNSurvivesBitExactly() throws {
        let nan = Float(bitPattern: 0x7FC0_1234)
        let data = try SafetensorsWriter.encode(tensors: [("x", [1], [nan])])
        let values = try SafetensorsFile.decode(data, source: "x").floats("x")
        XCTAssertEqual(values.map(\.bitPattern), [0x7FC0_1234])
    }

    /// The whole file computed by hand.
    func testByteExactLayoutOfATinyFile() throws {
        let data = try SafetensorsWriter.encode(
            tensors: [("b", [2], [1, -2]), ("a", [], [0.5])],
            metadata: ["k": "v"]
        )
        let header = #"{"__metadata__":{"k":"v"},"a":{"dtype":"F32","shape":[],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#
        XCTAssertEqual(header.utf8.count, 132)  // padded by 4 spaces to 136 = 0x88
        var expected: [UInt8] = [0x88, 0, 0, 0, 0, 0, 0, 0]
        expected += Array(header.utf8) + [0x20, 0x20, 0x20, 0x20]
        expected += [0x00, 0x00, 0x00, 0x3F]  // a = 0.5
        expected += [0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x00, 0xC0]  // b = [1, -2]
        XCTAssertEqual(data.count, 156)
        XCTAssertEqual(Array(data), expected)
    }

    func testNoMetadataWritesNoMetadataKeyAndAlignedHeader() throws {
        let data = try SafetensorsWriter.encode(tensors: [("w", [1], [2])])
        let header = #"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#  // 54 bytes -> 56
        XCTAssertEqual(Array(data.prefix(8)), [56, 0, 0, 0, 0, 0, 0, 0])
        XCTAssertEqual(header.utf8.count, 54)
        XCTAssertEqual(String(decoding: data[8..<64], as: UTF8.self), header + "  ")
        XCTAssertEqual(Array(data[64...]), [0, 0, 0, 0x40])
    }

    func testHandMadeHalfBFloatDoubleAndIntegerTensors() throws {
        // F16: 1, -2, 65504 (max), 2^-24 (smallest subnormal), inf. BF16: 1.5, -0. F64: 0.1. I64: -3, 7. I32: 9.
        let f16: [UInt8] = [0x00, 0x3C, 0x00, 0xC0, 0xFF, 0x7B, 0x01, 0x00, 0x00, 0x7C]
        let bf16: [UInt8] = [0xC0, 0x3F, 0x00, 0x80]
        let f64: [UInt8] = withUnsafeBytes(of: (0.1 as Double).bitPattern.littleEndian, Array.init)
        let i64: [UInt8] = withUnsafeBytes(of: Int64(-3).littleEndian, Array.init) + withUnsafeBytes(of: Int64(7).littleEndian, Array.init)
        let i32: [UInt8] = [9, 0, 0, 0]
        let header = """
        {"h":{"dtype":"F16","shape":[5],"data_offsets":[0,10]},"bf":{"dtype":"BF16","shape":[2],"data_offsets":[10,14]},\
        "d":{"dtype":"F64","shape":[],"data_offsets":[14,22]},"n":{"dtype":"I64","shape":[2],"data_offsets":[22,38]},\
        "s":{"dtype":"I32","shape":[1],"data_offsets":[38,42]}}
        """
        let file = try SafetensorsFile.decode(handMadeFile(header: header, data: f16 + bf16 + f64 + i64 + i32), source: "t")
        XCTAssertEqual(try file.floats("h"), [1, -2, 65504, 0x1p-24, .infinity])
        let bfValues = try file.floats("bf")
        XCTAssertEqual(bfValues, [1.5, 0])
        XCTAssertEqual(bfValues[1].sign, .minus)
        XCTAssertEqual(try file.floats("d"), [Float(0.1)])
        XCTAssertEqual(try file.tensor("n").integers(), [-3, 7])
        XCTAssertEqual(try file.integer("s"), 9)
        XCTAssertEqual(file.tensorNames, ["h", "bf", "d", "n", "s"])
    }

    func testHalfConversionMatchesSwiftFloat16ForEveryBitPattern() {
        #if !((os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64))
        for bits in 0...UInt16.max {
            let ours = ElementDecoding.floatFromHalf(bits)
            let reference = Float(Float16(bitPattern: bits))
            if reference.isNaN {
                XCTAssertTrue(ours.isNaN)
            } else {
                XCTAssertEqual(ours.bitPattern, reference.bitPattern, "half bits \(bits)")
            }
        }
        #endif
    }

    func testHeaderWithWhitespaceAndExtraFieldsAndNullMetadataIsRead() throws {
        let header = "{ \"__metadata__\" : null ,\n \"w\" : {\"shape\":[2],\"extra\":[1,{\"x\":true}],\"dtype\":\"F32\",\"data_offsets\":[0,8]} }    "
        let file = try SafetensorsFile.decode(handMadeFile(header: header, data: littleEndianBytes([3, 4])), source: "t")
        XCTAssertEqual(file.metadata, [:])
        XCTAssertEqual(try file.floats("w"), [3, 4])
    }

    func testEscapedNamesRoundTrip() throws {
        let names = ["a\"b", "tab\there", "ctl\u{01}", "é/ü", "emoji🙂"]
        let data = try SafetensorsWriter.encode(tensors: names.enumerated().map { ($1, [1], [Float($0)]) })
        let file = try SafetensorsFile.decode(data, source: "t")
        for (index, name) in names.enumerated() {
            XCTAssertEqual(try file.floats(name), [Float(index)])
        }
        // Escaped the serde_json way.
        let header = String(decoding: data[8...], as: UTF8.self)
        XCTAssertTrue(header.contains(#""ctl\u0001""#))
        XCTAssertTrue(header.contains(#""tab\there""#))
        XCTAssertTrue(header.contains(#""a\"b""#))
    }
}
