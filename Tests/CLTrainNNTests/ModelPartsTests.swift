import CLTrainRandom
import XCTest
import CLTrainRuntime
@testable import CLTrainNN

/// The split of every model family into `features` and `head`: forward is the head of the
/// features, backward is the features' backward of the head's, the features are non-negative
/// (their final ReLU applied) and the classifier named by `classifier` is the one the head applies
/// (so a class activation map, the classifier at every position, averages to the logits).
final class ModelPartsTests: XCTestCase {
    let device = Device(backend: CPUBackend())

    func models() throws -> [(String, Model)] {
        var drnC = DRN.Configuration.c26()
        drnC.channels = [4, 4, 6, 6, 6, 6, 6, 6]
        var drnD = DRN.Configuration.d22()
        drnD.channels = [2, 3, 4, 4, 5, 5, 4, 4]
        let denseNet = DenseNet.Configuration(blocks: [2, 2], growthRate: 2, bottleneck: true, compression: 0.5,
                                              initialFeatures: 3, stem: .imagenet)
        return [
            ("densenet", try DenseNet(denseNet, inputChannels: 2, classes: 3, device: device, seed: 1)),
            ("drn-c", try DRN(drnC, inputChannels: 2, classes: 3, device: device, seed: 2)),
            ("drn-d", try DRN(drnD, inputChannels: 2, classes: 3, device: device, seed: 3)),
            ("resnet-cifar", try ResNet(.cifar(blocks: 1), inputChannels: 2, classes: 3, device: device, seed: 4)),
            ("resnet-18", try ResNet(.resnet([1, 1, 1, 1]), inputChannels: 2, classes: 3, device: device, seed: 5)),
        ]
    }

    func testForwardIsTheHeadOfTheFeatures() throws {
        var random = SeededRandom(seed: 9)
        for (name, model) in try models() {
            let input = try device.tensor(random.uniforms(2 * 2 * 20 * 20), shape: [2, 2, 20, 20])
            let logits = try device.read(model.forward(input, training: false))
            let features = try model.features(input, training: false)
            XCTAssertEqual(features.rank, 4, name)
            XCTAssertEqual(features.n, 2, name)
            let values = try device.read(features)
            XCTAssertTrue(values.allSatisfy { $0 >= 0 }, "\(name): the features end with a ReLU")
            XCTAssertEqual(try device.read(model.head(features, training: false)), logits, name)

            // The classifier at every position of the features, averaged, gives the logits.
            let (weight, bias, prefix) = model.classifier
            XCTAssertEqual(weight.name, "\(prefix).weight", name)
            XCTAssertEqual(bias?.name, "\(prefix).bias", name)
            XCTAssertEqual(Array(weight.shape.prefix(2)), [model.classes, features.c], name)
            let w = try device.read(weight.value), b = try bias.map { try device.read($0.value) }
            let positions = features.h * features.w
            for image in 0..<2 {
                for k in 0..<model.classes {
                    var sum = 0.0
                    for c in 0..<features.c {
                        for p in 0..<positions { sum += Double(w[k * features.c + c]) * Double(values[(image * features.c + c) * positions + p]) }
                    }
                    let map = sum / Double(positions) + Double(b?[k] ?? 0)
                    XCTAssertEqual(map, Double(logits[image * model.classes + k]), accuracy: 1e-4, "\(name) image \(image) class \(k)")
                }
            }
        }
    }

    /// `backward` and `featuresBackward(headBackward)` accumulate the same gradients, bitwise.
    func testBackwardIsTheFeaturesBackwardOfTheHeads() throws {
        var random = SeededRandom(seed: 10)
        for (name, model) in try models() {
            let input = try device.tensor(random.uniforms(2 * 2 * 20 * 20), shape: [2, 2, 20, 20])
            let labels = try device.tensor([0, 2], shape: [2])
            let backup = try model.buffers.map { try device.read($0.value) }
            func gradients(_ split: Bool) throws -> [[Float]] {
                for (b, values) in zip(model.buffers, backup) { try device.write(values, to: b.value) }
                try model.zeroGradients()
                let criterion = SoftmaxCrossEntropy()
                if split {
                    _ = try criterion.forward(model.head(model.features(input, training: true), training: true), labels: labels)
                    try model.featuresBackward(model.headBackward(criterion.backward()))
                } else {
                    _ = try criterion.forward(model.forward(input, training: true), labels: labels)
                    try model.backward(criterion.backward())
                }
                return try model.parameters.map { try device.read($0.gradient) }
            }
            let whole = try gradients(false)
            XCTAssertTrue(whole.contains { $0.contains { $0 != 0 } }, name)
            XCTAssertEqual(try gradients(true), whole, name)
        }
    }
}
