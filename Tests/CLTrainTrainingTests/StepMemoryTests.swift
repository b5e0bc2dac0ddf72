import CLTrainData
import CLTrainNN
import CLTrainRuntime
import CLTrainTestSupport
import Logging
import XCTest
@testable import CLTrainTraining

/// The start-up estimate of a step's memory: it scales with the batch's pixels, it leaves the run
/// bitwise as it would have been, and it says in one line with the figures when a step does not fit.
final class StepMemoryTests: XCTestCase {
    func makeTrainer(resize: Int?, batchSize: Int = 32, dropout: Float = 0.2) throws -> Trainer {
        var o = TrainingOptions()
        o.model = "densenet-bc-10-k4"
        o.epochs = 1
        o.learningRate = 0.1
        o.augment = false
        o.seed = 3
        o.resize = resize
        o.batchSize = batchSize
        o.steps = 3
        o.dropout = dropout
        let device = Device(backend: CPUBackend())
        let train = TrainerTests.dataset(count: 96, seed: 1)
        let model = try ModelCatalog.entry(named: o.model)!.make(inputChannels: 1, classes: 2, device: device, seed: o.seed, dropout: o.dropout)
        return try Trainer(options: o, model: model, device: device, train: train, test: nil,
                           normalization: Normalization.compute(train), logger: Logger(label: "test"))
    }

    func state(_ trainer: Trainer) throws -> [[UInt32]] {
        let tensors = trainer.model.parameters.flatMap { [$0.value, $0.gradient] } + trainer.model.buffers.map(\.value)
            + trainer.extraState.map(\.tensor)
        return try tensors.map { try trainer.device.read($0).map(\.bitPattern) } + [trainer.model.batchNorms.map { UInt32($0.batchesTracked) }]
    }

    func testTheEstimateLeavesTheRunBitwiseUnchanged() throws {
        let plain = try makeTrainer(resize: 16)
        let probed = try makeTrainer(resize: 16)
        let before = try state(probed)
        _ = try probed.estimateStepMemory()
        XCTAssertEqual(try state(probed), before, "the estimate changed the model's state")
        try plain.run()
        try probed.run()
        XCTAssertEqual(try state(probed), try state(plain))
    }

    func testTheEstimateScalesWithTheBatchsPixels() throws {
        let small = try makeTrainer(resize: 16).estimateStepMemory()
        let large = try makeTrainer(resize: 64).estimateStepMemory()
        XCTAssertEqual(small.stateBytes, large.stateBytes)
        XCTAssertEqual(Double(large.stepBytes) / Double(small.stepBytes), 16, accuracy: 1, "the probes differ: 16 x 16 and 32 x 32")
        XCTAssertEqual(large.batchBytes, 3 * 4 * 32 * 64 * 64)
        // The measured peak of a real step at 64 x 64 is within a factor of two of the estimate.
        let trainer = try makeTrainer(resize: 64)
        let memory = try trainer.estimateStepMemory()
        trainer.device.pool.resetPeak()
        let base = trainer.device.pool.statistics.liveBytes
        try trainer.run()
        let measured = trainer.device.pool.statistics.peakLiveBytes - base
        print("step memory at 64 x 64, batch 32: estimated \(memory.stepBytes), measured \(measured)")
        XCTAssertLessThan(Double(measured), 2 * Double(memory.stepBytes))
        XCTAssertGreaterThan(Double(measured), 0.5 * Double(memory.stepBytes))
    }

    func testAStepThatDoesNotFitIsOneLineWithTheFigures() {
        let memory = StepMemory(stateBytes: 1 << 20, stepBytes: 40 << 30, batchBytes: 6 << 30, batchSize: 64, height: 3000, width: 3000)
        XCTAssertNil(memory.warning(device: "opencl:GPU", available: 80 << 30, deviceIsHost: false))
        XCTAssertEqual(memory.warning(device: "opencl:GPU", available: 16 << 30, deviceIsHost: false),
                       "a training step on 64 images of 3000x3000 needs about 40.0 GiB of device memory but opencl:GPU has 16.0 GiB available: "
                       + "lower --batch-size or --resize")
        XCTAssertNotNil(memory.warning(device: "cpu:x", available: 44 << 30, deviceIsHost: true), "the batches count on the host")
        // Up to twice what is available: a warning (the estimate runs high); beyond: refused, same line.
        XCTAssertNotNil(try memory.check(device: "opencl:GPU", available: 30 << 30, deviceIsHost: false))
        XCTAssertThrowsError(try memory.check(device: "opencl:GPU", available: 16 << 30, deviceIsHost: false)) {
            XCTAssertEqual("\($0)", memory.warning(device: "opencl:GPU", available: 16 << 30, deviceIsHost: false))
        }
    }
}
