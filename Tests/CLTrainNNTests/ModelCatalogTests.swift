import XCTest
import CLTrainRuntime
@testable import CLTrainNN

final class ModelCatalogTests: XCTestCase {
    let device = Device(backend: CPUBackend())

    func count(_ name: String, channels: Int, classes: Int) throws -> Int {
        try XCTUnwrap(ModelCatalog.entry(named: name)).make(inputChannels: channels, classes: classes, device: device, seed: 1).parameterCount
    }

    func testParameterCountsMatchTheReferences() throws {
        XCTAssertEqual(try count("densenet-bc-100", channels: 1, classes: 10), 768_730)
        XCTAssertEqual(try count("densenet-bc-100", channels: 3, classes: 10), 769_162)
        XCTAssertEqual(try count("densenet-bc-40", channels: 1, classes: 10), 175_690)
        XCTAssertEqual(try count("drn-c-26", channels: 1, classes: 10), 20_617_146)
    }

    func testDenseNet121MatchesTorchvision() throws {
        XCTAssertEqual(try count("densenet-121", channels: 3, classes: 1000), 7_978_856)
    }

    func testSmallestInputsFollowTheGeometry() {
        let minimum = { (name: String) in ModelCatalog.entry(named: name)?.minimumInputSize }
        // ImageNet stem /4, then three 2x2 pools: ceil(ceil(29 / 2) / 2) = 8 -> 4 -> 2 -> 1; 28 gives 7 -> 3 -> 1 -> nothing.
        XCTAssertEqual(minimum("densenet-121"), 29)
        XCTAssertEqual(minimum("densenet-264"), 29)
        XCTAssertEqual(minimum("densenet-bc-100"), 4)
        XCTAssertEqual(minimum("densenet-bc-10-k4"), 4)
        XCTAssertEqual(minimum("resnet-18"), 1, "padded strided convolutions and pools take any size")
        XCTAssertEqual(minimum("drn-d-22"), 1)
        XCTAssertNil(DenseNet.Configuration.imagenet(blocks: [1, 1, 1, 1]).sizeSteps.output(28))
        XCTAssertEqual(DenseNet.Configuration.imagenet(blocks: [1, 1, 1, 1]).sizeSteps.output(29), 1)
    }

    /// The minimum agrees with the layers of the built model, walked by the ONNX export (which
    /// checks each convolution and pooling's window against its input): it takes the minimum and
    /// refuses one pixel less.
    func testTheSmallestInputAgreesWithTheBuiltLayers() throws {
        for name in ["densenet-bc-10-k4", "densenet-121", "resnet-cifar"] {
            let entry = try XCTUnwrap(ModelCatalog.entry(named: name))
            let model = try entry.make(inputChannels: 1, classes: 3, device: device, seed: 1)
            let size = entry.minimumInputSize
            XCTAssertNoThrow(try ONNXExport.model(model, name: name, height: size, width: size), name)
            if size > 1 {
                XCTAssertThrowsError(try ONNXExport.model(model, name: name, height: size - 1, width: size - 1), name) { error in
                    guard case ONNXExportError.inputTooSmall = error else { return XCTFail("\(name): \(error)") }
                }
            }
        }
    }

    /// A forward pass at the smallest size runs on the CPU backend and gives one row of logits per image.
    func testAForwardPassAtTheSmallestSizeRuns() throws {
        for name in ["densenet-bc-10-k4", "densenet-121", "resnet-cifar"] {
            let entry = try XCTUnwrap(ModelCatalog.entry(named: name))
            let model = try entry.make(inputChannels: 1, classes: 3, device: device, seed: 1)
            let size = entry.minimumInputSize
            let input = try device.tensor([Float](repeating: 0.5, count: 2 * size * size), shape: [2, 1, size, size])
            XCTAssertEqual(try model.forward(input, training: true).shape, [2, 3], name)
        }
    }
}
