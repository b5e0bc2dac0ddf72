import CLTrainRandom
import XCTest
import CLTrainRuntime
@testable import CLTrainNN

/// The hand-written backward of whole models against central finite differences of the batch
/// loss (BN in training mode): this checks the wiring — channel slices of dense blocks, gradient
/// accumulation into them, shortcuts, reshapes — on top of the per-op checks.
final class ModelGradientTests: XCTestCase {
    let device = Device(backend: CPUBackend())

    func loss(_ model: Model, _ input: Tensor, _ labels: Tensor) throws -> Double {
        try SoftmaxCrossEntropy().forward(model.forward(input, training: true), labels: labels).loss
    }

    /// Compare d(loss)/d(p[i]) for a few entries of a spread of parameters.
    func checkGradients(_ model: Model, inputShape: [Int], eps: Float = 1e-3, rtol: Double = 5e-2, file: StaticString = #filePath, line: UInt = #line) throws {
        var random = SeededRandom(seed: 7)
        let input = try device.tensor(random.uniforms(inputShape.reduce(1, *)), shape: inputShape)
        let labels = try device.tensor((0..<inputShape[0]).map { Float($0 % model.classes) }, shape: [inputShape[0]])

        let criterion = SoftmaxCrossEntropy()
        _ = try criterion.forward(model.forward(input, training: true), labels: labels)
        try model.backward(criterion.backward())

        let params = model.parameters
        let picks = Array(Set([0, 1, params.count / 3, params.count / 2, 2 * params.count / 3, params.count - 3, params.count - 2, params.count - 1]))
            .filter { $0 >= 0 && $0 < params.count }.sorted()
        var checked = 0
        for index in picks {
            let p = params[index]
            var values = try device.read(p.value)
            let gradient = try device.read(p.gradient)
            for _ in 0..<2 {
                let i = Int(random.next() % UInt64(values.count))
                let original = values[i]
                values[i] = original + eps
                try device.write(values, to: p.value)
                let plus = try loss(model, input, labels)
                values[i] = original - eps
                try device.write(values, to: p.value)
                let minus = try loss(model, input, labels)
                values[i] = original
                try device.write(values, to: p.value)
                let numeric = (plus - minus) / Double(2 * eps)
                let analytic = Double(gradient[i])
                XCTAssertEqual(analytic, numeric, accuracy: 2e-3 + rtol * abs(numeric),
                               "\(p.name)[\(i)]: analytic \(analytic), numeric \(numeric)", file: file, line: line)
                checked += 1
            }
        }
        XCTAssertGreaterThanOrEqual(checked, 10, file: file, line: line)
    }

    func testDenseNetBCSmallStem() throws {
        let config = DenseNet.Configuration(blocks: [2, 3], growthRate: 3, bottleneck: true, compression: 0.5,
                                            initialFeatures: 4, stem: .small)
        try checkGradients(DenseNet(config, inputChannels: 2, classes: 3, device: device, seed: 1), inputShape: [4, 2, 8, 8])
    }

    func testDenseNetWithoutBottleneckAndImageNetStem() throws {
        let config = DenseNet.Configuration(blocks: [2, 2], growthRate: 2, bottleneck: false, compression: 1,
                                            initialFeatures: 3, stem: .imagenet)
        try checkGradients(DenseNet(config, inputChannels: 1, classes: 4, device: device, seed: 2), inputShape: [4, 1, 17, 15])
    }

    /// DRN-C's undilated, shortcut-free last levels on tiny maps make the loss bend sharply,
    /// so central differences of its first layers are only good to ~15% here; the exact check of
    /// this wiring is PyTorchParityTests (drn-c-tiny matches PyTorch to 1e-4).
    func testDRNC() throws {
        var config = DRN.Configuration.c26()
        config.channels = [4, 4, 6, 6, 6, 6, 6, 6]
        config.layers = [1, 1, 2, 1, 2, 1, 1, 1]
        try checkGradients(DRN(config, inputChannels: 1, classes: 3, device: device, seed: 3), inputShape: [4, 1, 24, 24], eps: 5e-4, rtol: 0.15)
    }

    func testDRND() throws {
        var config = DRN.Configuration.d22()
        config.channels = [2, 3, 4, 4, 5, 5, 4, 4]
        config.layers = [1, 2, 1, 1, 1, 1, 2, 1]
        try checkGradients(DRN(config, inputChannels: 2, classes: 3, device: device, seed: 4), inputShape: [4, 2, 16, 16])
    }

    func testCIFARResNet() throws {
        try checkGradients(ResNet(.cifar(blocks: 1), inputChannels: 1, classes: 3, device: device, seed: 5), inputShape: [4, 1, 10, 10])
    }
}
