import CLTrainRandom
import XCTest
@testable import CLTrainNN
@testable import CLTrainRuntime

/// The notice a data-parallel run starts each gradient's sum on: every parameter is told once
/// per backward, and what its gradient holds then is what it holds at the end of backward.
final class GradientFinalNoticeTests: XCTestCase {
    func testEveryGradientIsFinalWhenItsLayerSaysSo() throws {
        let device = Device(backend: CPUBackend())
        var drn = DRN.Configuration.d22()
        drn.channels = [4, 4, 8, 8, 8, 8, 8, 8]
        let models: [(String, Model)] = [
            ("densenet-bc-10-k4", try DenseNet(.bc(depth: 10, growthRate: 4), inputChannels: 1, classes: 3, device: device, seed: 5)),
            ("small drn-d-22", try DRN(drn, inputChannels: 1, classes: 3, device: device, seed: 5)),
            ("resnet-cifar", try ResNet(.cifar(blocks: 1), inputChannels: 1, classes: 3, device: device, seed: 5)),
        ]
        for (name, model) in models {
            var random = SeededRandom(seed: 7)
            let input = try device.tensor(random.uniforms(4 * 16 * 16, -1, 2), shape: [4, 1, 16, 16])
            let labels = try device.tensor([0, 1, 2, 0], shape: [4])
            var atNotice: [String: [[Float]]] = [:]
            for parameter in model.parameters {
                parameter.onGradientFinal = { [unowned parameter] in atNotice[parameter.name, default: []].append(try device.read(parameter.gradient)) }
            }
            let criterion = SoftmaxCrossEntropy()
            _ = try criterion.forward(model.forward(input, training: true), labels: labels)
            try model.backward(criterion.backward())
            for parameter in model.parameters {
                XCTAssertEqual(atNotice[parameter.name]?.count, 1, "\(name): \(parameter.name) told once")
                XCTAssertEqual(atNotice[parameter.name]?.first, try device.read(parameter.gradient), "\(name): \(parameter.name) final when told")
                parameter.onGradientFinal = nil
            }
        }
    }
}
