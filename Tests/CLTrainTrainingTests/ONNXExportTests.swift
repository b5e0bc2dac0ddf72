import CLTrainData
import CLTrainIO
import CLTrainNN
import CLTrainRandom
import CLTrainRuntime
import CLTrainTestSupport
import Foundation
import XCTest
@testable import CLTrainTraining

/// `cltrain export` against onnxruntime: each model family, its BN statistics made non-trivial,
/// saved with cltrain's metadata, exported by the use case, checked by `onnx.checker` and run by
/// onnxruntime on real Fashion-MNIST images (seeded random ones where the data set is absent);
/// the logits must be cltrain's eval-mode logits to 1e-4 relative (to the largest magnitude).
/// Needs `python3` with onnx, onnxruntime and numpy on PATH; skips otherwise.
final class ONNXExportTests: XCTestCase {
    static let normalization = Normalization(mean: [0.2860], std: [0.3530])

    static let pythonHasONNXRuntime: Bool = {
        let python = try? RunningProcess(URL(fileURLWithPath: "/usr/bin/env"), ["python3", "-c", "import onnx, onnxruntime, numpy"])
        return python?.finish().status == 0
    }()

    func requireONNXRuntime() throws {
        guard Self.pythonHasONNXRuntime else {
            throw XCTSkip("python3 with onnx, onnxruntime and numpy not found; pip install onnx onnxruntime numpy "
                          + "(or put a venv with them first on PATH) to run the ONNX interop tests")
        }
    }

    /// `count` test images zero-padded to `size` x `size` and normalised, as the model takes them.
    func images(count: Int, size: Int) throws -> [Float] {
        let path = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"
        let n = Self.normalization
        guard FileManager.default.fileExists(atPath: path) else {
            var random = SeededRandom(seed: 5)
            return (0..<count * size * size).map { _ in (random.uniform(0, 1) - n.mean[0]) / n.std[0] }
        }
        let data = try IDX.readUnlabeled(path)
        let pad = (size - data.height) / 2
        precondition(pad >= 0 && data.channels == 1)
        var values = [Float](repeating: -n.mean[0] / n.std[0], count: count * size * size)
        for i in 0..<count {
            let image = Array(data.image(i))
            for y in 0..<data.height {
                for x in 0..<data.width {
                    values[(i * size + y + pad) * size + x + pad] = (Float(image[y * data.width + x]) / 255 - n.mean[0]) / n.std[0]
                }
            }
        }
        return values
    }

    /// Running statistics of a real batch (one training forward with momentum 1) and random BN
    /// weights and biases, so that every BatchNormalization node's four tensors matter.
    func makeBatchNormsNonTrivial(_ model: Model, input: Tensor) throws {
        for norm in model.batchNorms { norm.momentum = 1 }
        _ = try model.forward(input, training: true)
        var random = SeededRandom(seed: 11)
        for norm in model.batchNorms {
            norm.momentum = 0.1
            let device = norm.weight.value.device
            try device.write(random.uniforms(norm.channels, 0.5, 1.5), to: norm.weight.value)
            try device.write(random.uniforms(norm.channels, -0.2, 0.2), to: norm.bias.value)
        }
    }

    /// The largest |a - b| over the largest |b| (infinite when the counts differ).
    func largestDifference(_ a: [Float], _ b: [Float]) -> Float {
        guard a.count == b.count, !b.isEmpty else { return .infinity }
        let scale = b.map(abs).max()!
        return zip(a, b).map { abs($0 - $1) }.max()! / max(scale, .leastNormalMagnitude)
    }

    /// Export `name` at `size` x `size` and compare onnxruntime's logits with cltrain's; returns
    /// the largest difference relative to the largest logit.
    @discardableResult
    func checkExport(_ name: String, size: Int, batch: Int = 6, line: UInt = #line) throws -> Float {
        let device = Device(backend: CPUBackend())
        let model = try XCTUnwrap(ModelCatalog.entry(named: name)).make(inputChannels: 1, classes: 10, device: device, seed: 3)
        let values = try images(count: batch, size: size)
        let input = try device.tensor(values, shape: [batch, 1, size, size])
        try makeBatchNormsNonTrivial(model, input: input)
        let expected = try device.read(model.forward(input, training: false))

        let directory = try makeTemporaryDirectory()
        let weights = directory.appendingPathComponent("w.safetensors"), onnx = directory.appendingPathComponent("m.onnx")
        let metadata = RunMetadata(model: name, dataset: "fashion-mnist", inputChannels: 1, classes: 10, height: size, width: size,
                                   normalization: Self.normalization)
        try ModelWeights.save(model, to: weights, metadata: metadata.dictionary)
        let summary = try ModelExport.onnx(model: name, weights: weights.path, output: onnx.path, channels: nil, size: nil, classes: 10)
        XCTAssertEqual(summary.inputShape, [1, size, size], line: line)
        XCTAssertTrue(summary.shapeFromMetadata, line: line)

        let inputFile = directory.appendingPathComponent("input.f32")
        try values.withUnsafeBufferPointer { try Data(buffer: $0).write(to: inputFile) }
        let result = try RunningProcess(URL(fileURLWithPath: "/usr/bin/env"), ["python3", "-c", Self.script, onnx.path, inputFile.path,
                                                                               "\(batch)", "\(size)"]).finish()
        XCTAssertEqual(result.status, 0, "\(name): \(result.stderr)", line: line)
        guard result.status == 0 else { return .infinity }
        struct Output: Decodable { var logits: [Float]; var first: [Float]; var metadata: [String: String] }
        let output = try JSONDecoder().decode(Output.self, from: Data(result.stdout.utf8))
        XCTAssertEqual(output.metadata["cltrain.mean"], "0.286", line: line)
        let error = largestDifference(output.logits, expected)
        XCTAssertLessThanOrEqual(error, 1e-4, "\(name): onnxruntime's logits against cltrain's", line: line)
        let firstError = largestDifference(output.first, Array(expected[0..<10]))
        XCTAssertLessThanOrEqual(firstError, 1e-4, "\(name): a batch of one", line: line)
        print("ONNX export \(name) at \(size)x\(size): \(summary.nodes) nodes, largest difference \(error) of the largest logit")
        return error
    }

    /// Checks the model (onnx.checker with shape inference), that onnx re-serializes our bytes
    /// unchanged, the symbolic batch dimension, and runs it on the batch and on its first image.
    static let script = """
    import json, sys
    import numpy as np, onnx, onnxruntime as ort
    path, data, batch, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    raw = open(path, "rb").read()
    model = onnx.load_from_string(raw)
    onnx.checker.check_model(model, full_check=True)
    assert model.SerializeToString() == raw, "onnx re-serializes the file differently"
    assert model.ir_version == 8 and [(o.domain, o.version) for o in model.opset_import] == [("", 17)]
    (inp,), (out,) = model.graph.input, model.graph.output
    dims = lambda v: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
    assert dims(inp) == ["batch", 1, size, size], dims(inp)
    assert dims(out) == ["batch", 10], dims(out)
    x = np.fromfile(data, dtype="<f4").reshape(batch, 1, size, size)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    logits = session.run(["logits"], {"input": x})[0]
    first = session.run(["logits"], {"input": x[:1]})[0]
    meta = {p.key: p.value for p in model.metadata_props}
    print(json.dumps({"logits": logits.reshape(-1).tolist(), "first": first.reshape(-1).tolist(), "metadata": meta}))
    """

    func testDenseNetBC40() throws {
        try requireONNXRuntime()
        try checkExport("densenet-bc-40", size: 28)
    }

    /// DenseNet-121 at 32 x 32 (Fashion-MNIST padded by 2): its four halvings after the stem need
    /// at least 32 pixels, and it keeps the test short.
    func testDenseNet121() throws {
        try requireONNXRuntime()
        try checkExport("densenet-121", size: 32, batch: 4)
    }

    func testDRNC26() throws {
        try requireONNXRuntime()
        try checkExport("drn-c-26", size: 28, batch: 4)
    }

    func testDRND22() throws {
        try requireONNXRuntime()
        try checkExport("drn-d-22", size: 28, batch: 4)
    }

    func testResNet18() throws {
        try requireONNXRuntime()
        try checkExport("resnet-18", size: 28)
    }
}

/// The use case's bad inputs: each fails with an error that names what to do, and leaves an
/// existing output file as it was and no temporary file behind. No Python needed.
final class ModelExportErrorTests: XCTestCase {
    var directory: URL!
    var output: URL!
    static let previous = Data("previous export".utf8)

    override func setUpWithError() throws {
        directory = try makeTemporaryDirectory()
        output = directory.appendingPathComponent("m.onnx")
        try Self.previous.write(to: output)
    }

    /// densenet-bc-10-k4 weights for 1-channel images, with cltrain's metadata unless `metadata` is false.
    func weights(metadata: Bool = true, size: Int = 8) throws -> String {
        let model = try XCTUnwrap(ModelCatalog.entry(named: "densenet-bc-10-k4"))
            .make(inputChannels: 1, classes: 3, device: Device(backend: CPUBackend()), seed: 1)
        let url = directory.appendingPathComponent(metadata ? "w.safetensors" : "plain.safetensors")
        let stored = RunMetadata(model: "densenet-bc-10-k4", dataset: "synthetic", inputChannels: 1, classes: 3, height: size, width: size,
                                 normalization: .identity(channels: 1))
        try ModelWeights.save(model, to: url, metadata: metadata ? stored.dictionary : [:])
        return url.path
    }

    func expectFailure(_ body: () throws -> ModelExport.Summary, mentioning words: [String], line: UInt = #line) {
        XCTAssertThrowsError(try body(), line: line) { error in
            let message = String(describing: error)
            XCTAssertFalse(message.contains("\n"), message, line: line)
            for word in words { XCTAssertTrue(message.contains(word), "'\(message)' lacks '\(word)'", line: line) }
        }
        XCTAssertEqual(try Data(contentsOf: output), Self.previous, "the previous file was changed", line: line)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".tmp") }, [],
                       line: line)
    }

    func testUnknownModel() throws {
        let w = try weights()
        expectFailure({ try ModelExport.onnx(model: "vgg-16", weights: w, output: output.path, channels: nil, size: nil, classes: 10) },
                      mentioning: ["vgg-16", "cltrain models"])
    }

    func testWeightsOfAnotherModel() throws {
        let w = try weights()
        expectFailure({ try ModelExport.onnx(model: "densenet-bc-16-k4", weights: w, output: output.path, channels: nil, size: nil,
                                             classes: 10) },
                      mentioning: ["w.safetensors"])
    }

    func testNoMetadataNeedsChannelsAndSize() throws {
        let w = try weights(metadata: false)
        expectFailure({ try ModelExport.onnx(model: "densenet-bc-10-k4", weights: w, output: output.path, channels: nil, size: nil,
                                             classes: 3) },
                      mentioning: ["--channels", "--size"])
        let summary = try ModelExport.onnx(model: "densenet-bc-10-k4", weights: w, output: output.path, channels: 1, size: 12, classes: 3)
        XCTAssertEqual(summary.inputShape, [1, 12, 12])
        XCTAssertFalse(summary.shapeFromMetadata)
        XCTAssertEqual(Array(try Data(contentsOf: output).prefix(2)), [0x08, 0x08])  // ir_version 8
    }

    func testChannelsDisagreeingWithMetadata() throws {
        let w = try weights()
        expectFailure({ try ModelExport.onnx(model: "densenet-bc-10-k4", weights: w, output: output.path, channels: 3, size: nil,
                                             classes: 3) },
                      mentioning: ["1-channel"])
    }

    func testInputTooSmall() throws {
        let w = try weights()
        expectFailure({ try ModelExport.onnx(model: "densenet-bc-10-k4", weights: w, output: output.path, channels: nil, size: 2,
                                             classes: 3) },
                      mentioning: ["too small", "--size"])
    }

    func testUnwritableOutput() throws {
        let w = try weights()
        let elsewhere = directory.appendingPathComponent("missing/m.onnx").path
        expectFailure({ try ModelExport.onnx(model: "densenet-bc-10-k4", weights: w, output: elsewhere, channels: nil, size: nil,
                                             classes: 3) },
                      mentioning: ["missing/m.onnx"])
    }
}
