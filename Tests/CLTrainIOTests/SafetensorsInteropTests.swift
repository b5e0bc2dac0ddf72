import CLTrainTestSupport
import Foundation
import XCTest
@testable import CLTrainIO

/// Files shared with Python's `safetensors` package.
final class SafetensorsInteropTests: XCTestCase {
    func fixtureURL() throws -> URL {
        try XCTUnwrap(Bundle.module.url(forResource: "python_fixture", withExtension: "safetensors", subdirectory: "Fixtures"))
    }

    /// Fixtures/python_fixture.safetensors was written by Fixtures/make_fixture.py.
    func testReadsFileWrittenByPythonSafetensors() throws {
        let file = try SafetensorsFile.read(contentsOf: try fixtureURL())
        XCTAssertEqual(file.metadata, ["format": "pt", "note": "cltrain fixture"])
        XCTAssertEqual(Set(file.tensors.keys), [
            "features.conv0.weight", "features.norm0.bias", "features.norm0.num_batches_tracked", "half.values", "scalar",
        ])
        XCTAssertEqual(try file.floats("features.conv0.weight", shape: [2, 1, 2, 3]), (0..<12).map { Float($0) * 0.5 })
        XCTAssertEqual(try file.floats("features.norm0.bias"), [-1.5, 2.25])
        XCTAssertEqual(try file.tensor("scalar").shape, [])
        XCTAssertEqual(try file.floats("scalar"), [3])
        XCTAssertEqual(try file.integer("features.norm0.num_batches_tracked"), 7)
        XCTAssertEqual(try file.tensor("half.values").dtype, .f16)
        XCTAssertEqual(try file.floats("half.values"), [1, -2.5, 65504, 0x1p-14])
        assertWeightsError(try file.floats("half.values", allowConversion: false), file: file.source,
                           mentions: ["half.values", "F16"]) {
            if case .wrongDType(_, "half.values", "F16", _) = $0 { return true } else { return false }
        }
        try file.validate(against: [
            ("features.conv0.weight", [2, 1, 2, 3]), ("features.norm0.bias", [2]),
            ("features.norm0.num_batches_tracked", []), ("half.values", [4]), ("scalar", []),
        ])
    }

    /// Re-encoding the fixture's F32 tensors gives Python's exact bytes for them, so our layout
    /// (sorting, offsets, JSON, padding) is Python's. One metadata key: Python's safetensors keeps
    /// metadata in a hash map, so the order of several keys varies from run to run.
    func testOurLayoutMatchesPythonForF32Only() throws {
        guard pythonHasSafetensors() else {
            throw XCTSkip("python3 with safetensors and numpy not found; pip install safetensors numpy to run this test")
        }
        let directory = try makeTemporaryDirectory()
        let url = directory.appendingPathComponent("py.safetensors")
        _ = try runPython("""
        import sys, numpy as np
        from safetensors.numpy import save_file
        save_file({"b": np.array([1, -2], dtype=np.float32), "a": np.array(0.5, dtype=np.float32),
                   "c.weight": np.arange(6, dtype=np.float32).reshape(2, 3) / 4}, sys.argv[1], metadata={"k": "v"})
        """, [url.path])
        let ours = try SafetensorsWriter.encode(
            tensors: [("c.weight", [2, 3], (0..<6).map { Float($0) / 4 }), ("b", [2], [1, -2]), ("a", [], [0.5])],
            metadata: ["k": "v"])
        XCTAssertEqual(ours, try Data(contentsOf: url))
    }

    func testPythonReadsFileWeWrite() throws {
        guard pythonHasSafetensors() else {
            throw XCTSkip("python3 with safetensors and numpy not found; pip install safetensors numpy to run this test")
        }
        let directory = try makeTemporaryDirectory()
        let url = directory.appendingPathComponent("ours.safetensors")
        try SafetensorsWriter.write(
            tensors: [
                ("layer3.0.conv1.weight", [2, 2, 1, 1], [0.5, -1, 2.25, 1e-3]),
                ("fc.bias", [3], [1, 2, 3]),
                ("scalar", [], [-4]),
            ],
            metadata: ["format": "pt", "epoch": "3"],
            to: url)
        let output = try runPython("""
        import sys, json
        from safetensors import safe_open
        with safe_open(sys.argv[1], framework="numpy") as f:
            out = {"metadata": f.metadata(), "tensors": {}}
            for name in f.keys():
                t = f.get_tensor(name)
                out["tensors"][name] = {"dtype": str(t.dtype), "shape": list(t.shape), "values": t.reshape(-1).tolist()}
        print(json.dumps(out, sort_keys=True))
        """, [url.path])
        struct Dump: Decodable {
            struct Tensor: Decodable { var dtype: String; var shape: [Int]; var values: [Float] }
            var metadata: [String: String]
            var tensors: [String: Tensor]
        }
        let dump = try JSONDecoder().decode(Dump.self, from: Data(output.utf8))
        XCTAssertEqual(dump.metadata, ["format": "pt", "epoch": "3"])
        XCTAssertEqual(dump.tensors.count, 3)
        XCTAssertEqual(dump.tensors["layer3.0.conv1.weight"]?.shape, [2, 2, 1, 1])
        XCTAssertEqual(dump.tensors["layer3.0.conv1.weight"]?.values, [0.5, -1, 2.25, 1e-3])
        XCTAssertEqual(dump.tensors["layer3.0.conv1.weight"]?.dtype, "float32")
        XCTAssertEqual(dump.tensors["fc.bias"]?.values, [1, 2, 3])
        XCTAssertEqual(dump.tensors["scalar"]?.shape, [])
        XCTAssertEqual(dump.tensors["scalar"]?.values, [-4])
    }
}
