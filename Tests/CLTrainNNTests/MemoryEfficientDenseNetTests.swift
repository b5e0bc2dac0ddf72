import CLTrainRandom
import CLTrainTestSupport
import CLTrainTraining
import XCTest
@testable import CLTrainNN
@testable import CLTrainRuntime

/// DenseNet's training memory: a batch norm's output found again from its saved statistics is
/// bitwise the training forward's (what the convolutions that apply a BN-ReLU as they read, and
/// the backward that finds the ReLU's mask from the input, rely on), memory grows linearly with
/// depth, and no step after the first allocates.
final class MemoryEfficientDenseNetTests: XCTestCase {
    func devices() -> [(String, Device)] {
        var list = [("cpu", Device(backend: CPUBackend()))]
        if let device = try? SharedOpenCL.device.get() {
            list.append(("opencl", device))
        }
        return list
    }

    func testBatchNormApplyRecomputesTheTrainingOutputBitwise() throws {
        for (name, device) in devices() {
            var random = SeededRandom(seed: 3)
            let shape = [3, 5, 7, 6]
            let input = try device.tensor(random.uniforms(shape.reduce(1, *), -2, 3), shape: shape)
            let weight = try device.tensor(random.uniforms(5, 0.5, 1.5), shape: [5])
            let bias = try device.tensor(random.uniforms(5), shape: [5])
            let mean = try device.zeros([5]), invStd = try device.zeros([5])
            for relu in [false, true] {
                let output = try device.makeTensor(shape), again = try device.makeTensor(shape)
                try device.backend.batchNormForwardTraining(
                    input: input, output: output, weight: weight, bias: bias, runningMean: device.zeros([5]),
                    runningVar: device.full([5], value: 1), saveMean: mean, saveInvStd: invStd, momentum: 0.1, epsilon: 1e-5, relu: relu)
                try device.backend.batchNormApply(input: input, output: again, mean: mean, invStd: invStd, weight: weight, bias: bias,
                                                  relu: relu)
                XCTAssertEqual(try device.read(again), try device.read(output), "\(name), relu \(relu)")
            }
        }
    }

    /// Pool peak of one training step of DenseNet-BC with n layers per block (k = 4, 8x8 inputs).
    func peakBytes(layersPerBlock n: Int) throws -> Int {
        let device = Device(backend: CPUBackend())
        let model = try DenseNet(.bc(depth: 6 * n + 4, growthRate: 4), inputChannels: 1, classes: 3, device: device, seed: 0)
        var random = SeededRandom(seed: 1)
        let input = try device.tensor(random.uniforms(4 * 64), shape: [4, 1, 8, 8])
        let labels = try device.tensor([0, 1, 2, 0], shape: [4])
        let criterion = SoftmaxCrossEntropy()
        // The model's own tensors (parameters, gradients, batch norm buffers) grow with the square
        // of the depth in any DenseNet, as its parameter count does: count what training adds.
        let before = device.pool.statistics.liveBytes
        _ = try criterion.forward(model.forward(input, training: true), labels: labels)
        try model.backward(criterion.backward())
        return device.pool.statistics.peakLiveBytes - before
    }

    func testTrainingMemoryGrowsLinearlyWithDepth() throws {
        let p4 = try peakBytes(layersPerBlock: 4), p8 = try peakBytes(layersPerBlock: 8), p16 = try peakBytes(layersPerBlock: 16)
        // Linear: 8 more layers cost about twice what 4 more did. Quadratic (every layer keeping
        // its own copy of its input, as a torch.cat DenseNet does) would cost about 4 times.
        let ratio = Double(p16 - p8) / Double(p8 - p4)
        XCTAssertLessThan(ratio, 2.6, "peak \(p4), \(p8), \(p16) bytes for 4, 8, 16 layers per block")
        XCTAssertGreaterThan(ratio, 1.4, "peak \(p4), \(p8), \(p16) bytes for 4, 8, 16 layers per block")
    }

    /// `bench train` reports device allocations per step after the first, which must be 0. In
    /// DenseNet-BC-40 a transition's batch-norm buffers (96 channels) share a size class with a
    /// block's shared statistics (84 channels): made lazily in the first step, they took buffers
    /// that the second step's statistics then had to allocate again.
    func testNoStepAfterTheFirstAllocates() throws {
        let device = Device(backend: CPUBackend())
        let model = try DenseNet(.bc(depth: 40, growthRate: 12), inputChannels: 1, classes: 3, device: device, seed: 0)
        var random = SeededRandom(seed: 1)
        let input = try device.tensor(random.uniforms(2 * 784), shape: [2, 1, 28, 28])
        let labels = try device.tensor([0, 2], shape: [2])
        var recipe = TrainingOptions()
        recipe.learningRate = 0.01
        let step = try TrainingStep(model: model, options: recipe)
        var allocations: [Int] = []
        for _ in 0..<4 {
            try step(input, labels: labels)
            allocations.append(device.pool.statistics.deviceAllocations)
        }
        XCTAssertEqual(Set(allocations).count, 1, "device allocations after each step: \(allocations)")
    }
}
