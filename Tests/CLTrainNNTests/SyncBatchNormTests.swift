import CLTrainRandom
import CLTrainTestSupport
import XCTest
@testable import CLTrainNN
@testable import CLTrainRuntime

/// Synchronised batch norm's layer side: with an identity sum (one shard is the whole batch) a
/// training step is bitwise the step without synchronisation, through every path that computes
/// or reads batch statistics (DenseNet's shared block statistics and the convolutions that
/// apply BN-ReLU as they read, DRN's conv-BN-ReLU and residual blocks). The sums across ranks
/// are DataParallelTests' (mpirun against one process).
final class SyncBatchNormTests: XCTestCase {
    func models(_ device: Device) throws -> [(String, () throws -> Model)] {
        var drn = DRN.Configuration.d22()
        drn.channels = [4, 4, 8, 8, 8, 8, 8, 8]
        var drnC = DRN.Configuration.c26()
        drnC.channels = [4, 4, 8, 8, 8, 8, 8, 8]
        return [
            ("densenet-bc-10-k4", { try DenseNet(.bc(depth: 10, growthRate: 4), inputChannels: 1, classes: 3, device: device, seed: 5) }),
            ("small drn-d-22", { try DRN(drn, inputChannels: 1, classes: 3, device: device, seed: 5) }),
            ("small drn-c-26", { try DRN(drnC, inputChannels: 1, classes: 3, device: device, seed: 5) }),
        ]
    }

    func testAnIdentitySumChangesNothingBitwise() throws {
        let device = Device(backend: CPUBackend())
        for (name, make) in try models(device) {
            var random = SeededRandom(seed: 7)
            let input = try device.tensor(random.uniforms(4 * 16 * 16, -1, 2), shape: [4, 1, 16, 16])
            let labels = try device.tensor([0, 1, 2, 0], shape: [4])
            var calls = 0
            func step(_ model: Model) throws -> [Float] {
                let criterion = SoftmaxCrossEntropy()
                let logits = try model.forward(input, training: true)
                _ = try criterion.forward(logits, labels: labels)
                try model.backward(criterion.backward())
                return try device.read(logits)
            }
            let plain = try make(), synchronised = try make()
            for norm in synchronised.batchNorms { norm.synchronization = { _ in calls += 1 } }
            for round in 0..<2 {
                XCTAssertEqual(try step(synchronised), try step(plain), "\(name): logits, step \(round)")
                for (a, b) in zip(synchronised.parameters, plain.parameters) {
                    XCTAssertEqual(try device.read(a.gradient), try device.read(b.gradient), "\(name): \(a.name) gradient, step \(round)")
                }
                for (a, b) in zip(synchronised.buffers, plain.buffers) {
                    // The running variance goes through var + eps and back (a rounding apart).
                    assertClose(try device.read(a.value), try device.read(b.value), rtol: 1e-5, atol: 1e-7, "\(name): \(a.name)")
                }
            }
            XCTAssertGreaterThan(calls, 2 * synchronised.batchNorms.count, "\(name): the sum was called in forward and backward")
        }
    }
}
