import CLTrainData
import CLTrainNN
import CLTrainRuntime
import CLTrainTestSupport
import Foundation
import Logging
import XCTest
@testable import CLTrainTraining

/// A device that fails mid-run (CL_OUT_OF_RESOURCES, a device lost), simulated by a backend that
/// throws on cue: the run writes the checkpoint of the last good step when the failed step had
/// not begun its update and the weights can be read, keeps the previous checkpoint otherwise, and
/// its error names the device's error and the resume command.
final class DeviceFailureTests: XCTestCase {
    var directory: URL!
    let logger = Logger(label: "test")

    override func setUpWithError() throws {
        directory = try makeTemporaryDirectory()
        let labels = (0..<64).map { UInt8($0 % 10) }
        let images = idxImages(count: 64, rows: 28, cols: 28) { UInt8(Int(labels[$0 / 784]) * 24 + ((($0 &* 2_654_435_761) >> 7) & 15)) }
        for split in ["train", "t10k"] {
            try Data(images).write(to: directory.appendingPathComponent("\(split)-images-idx3-ubyte"))
            try Data(idxLabels(labels)).write(to: directory.appendingPathComponent("\(split)-labels-idx1-ubyte"))
        }
    }

    /// Two epochs of 4 steps, augmented, with a moving average (its state is in the checkpoint too).
    func request(_ out: String, checkpointEvery: Int? = nil, device: Device? = nil) -> TrainingRun.Request {
        var options = TrainingOptions()
        options.model = "densenet-bc-10-k4"
        options.dataDirectory = directory.path
        options.epochs = 2
        options.batchSize = 16
        options.learningRate = 0.05
        options.device = .cpu
        options.ema = 0.9
        options.checkpointEvery = checkpointEvery
        var request = TrainingRun.Request(options: options)
        request.out = directory.appendingPathComponent(out).path
        request.device = device
        // The faulting backend's convolutions take their rules: so do the reference runs'.
        request.tune = .off
        return request
    }

    /// The tensors of a safetensors file: its bytes after the header (whose metadata holds timings).
    func tensorBytes(_ url: URL) throws -> Data {
        let bytes = try Data(contentsOf: url)
        let headerLength = bytes.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        return bytes.dropFirst(8 + headerLength)
    }

    /// The checkpoint of a run stopped after `step` steps.
    func reference(step: Int) throws -> Data {
        let run = try TrainingRun(request("reference-\(step)"), logger: logger)
        XCTAssertThrowsError(try run.run(stopRequested: { run.trainer.step >= step })) { XCTAssertTrue($0 is TrainingInterrupted, "\($0)") }
        XCTAssertEqual(run.trainer.step, step)
        return try tensorBytes(Checkpoint.url(in: run.outDirectory))
    }

    /// Runs until `op`'s first call in step `step` fails; returns the failure.
    func fail(at op: String, step: Int, checkpointEvery: Int? = nil, lost: Bool = false) throws -> (TrainingFailed, TrainingRun) {
        let backend = FaultInjectingBackend(CPUBackend())
        backend.lost = lost
        let run = try TrainingRun(request("failed-\(op)-\(step)", checkpointEvery: checkpointEvery, device: Device(backend: backend)),
                                  logger: logger)
        var failure: TrainingFailed?
        XCTAssertThrowsError(try run.run(onProgress: { if $0.step == step - 1 { backend.failAt = op } })) { failure = $0 as? TrainingFailed }
        if step == 1 { XCTFail("arm the fault from a step's progress: step must be at least 2") }
        return (try XCTUnwrap(failure, "the run did not fail with TrainingFailed"), run)
    }

    func testAFailureInTheForwardWritesTheCheckpointOfTheLastGoodStep() throws {
        // The classifier comes after every BN layer: their running statistics have already moved.
        let (failure, run) = try fail(at: "linearForward", step: 3)
        let folder = run.outDirectory.path
        XCTAssertEqual(failure.step, 3)
        XCTAssertTrue(failure.lastStepIntact)
        XCTAssertEqual(failure.outcome, .wrote(folder: folder, step: 2))
        XCTAssertEqual(try tensorBytes(Checkpoint.url(in: run.outDirectory)), try reference(step: 2), "not the state after step 2")
        let saved = try Checkpoint.read(from: run.outDirectory)
        XCTAssertEqual(saved.trainer.step, 2)
        XCTAssertEqual(saved.trainer.position, 32)
        XCTAssertEqual(failure.description, "training stopped at step 3 (epoch 1) on clEnqueueNDRangeKernel failed with CL_OUT_OF_RESOURCES (-5); "
                       + "wrote the checkpoint of step 2, the last good one, in \(folder). Resume with: cltrain train --resume \(folder)")
    }

    func testAFailureInTheBackwardWritesTheCheckpointOfTheLastGoodStep() throws {
        let (failure, run) = try fail(at: "conv2dBackwardWeight", step: 6)
        XCTAssertEqual(failure.outcome, .wrote(folder: run.outDirectory.path, step: 5))
        XCTAssertEqual(try tensorBytes(Checkpoint.url(in: run.outDirectory)), try reference(step: 5), "not the state after step 5")
    }

    func testAResumeAfterTheFailureEndsOnTheWeightsOfAnUninterruptedRun() throws {
        let whole = try TrainingRun(request("whole"), logger: logger)
        try whole.run()
        // The failed run ends before the resume (a run holds its folder's lock while it lives).
        let folder = try fail(at: "batchNormBackward", step: 3).1.outDirectory
        var resume = TrainingRun.Request(options: TrainingOptions())
        resume.resume = folder.path
        resume.tune = .off
        let resumed = try TrainingRun(resume, logger: logger)
        try resumed.run()
        XCTAssertEqual(try tensorBytes(resumed.weightsURL), try tensorBytes(whole.weightsURL))
        XCTAssertEqual(try tensorBytes(resumed.emaWeightsURL), try tensorBytes(whole.emaWeightsURL))
    }

    func testAFailureDuringTheUpdateKeepsThePreviousCheckpoint() throws {
        let (failure, run) = try fail(at: "sgdUpdate", step: 4, checkpointEvery: 2)
        let folder = run.outDirectory.path
        XCTAssertFalse(failure.lastStepIntact)
        XCTAssertEqual(failure.outcome, .kept(folder: folder, step: 2, because: TrainingFailed.halfUpdated))
        XCTAssertEqual(try tensorBytes(Checkpoint.url(in: run.outDirectory)), try reference(step: 2), "the checkpoint of step 2 was replaced")
        XCTAssertEqual(failure.description, "training stopped at step 4 (epoch 1) on clEnqueueNDRangeKernel failed with CL_OUT_OF_RESOURCES (-5); "
                       + "the failure came during the weight update, which may have left the weights half-updated, "
                       + "so the checkpoint of step 2 is kept. Resume with: cltrain train --resume \(folder)")
    }

    func testALostDeviceKeepsThePreviousCheckpoint() throws {
        let (failure, run) = try fail(at: "conv2dForward", step: 4, checkpointEvery: 2, lost: true)
        guard case .kept(_, let step, _) = failure.outcome else { return XCTFail("\(failure.outcome)") }
        XCTAssertEqual(step, 2)
        XCTAssertEqual(try tensorBytes(Checkpoint.url(in: run.outDirectory)), try reference(step: 2))
        XCTAssertTrue(failure.description.contains("could not be") && failure.description.contains("CL_OUT_OF_RESOURCES"),
                      failure.description)
        XCTAssertTrue(failure.description.hasSuffix("Resume with: cltrain train --resume \(run.outDirectory.path)"), failure.description)
    }

    func testAFailureBeforeAnyCheckpointSaysToStartAgain() throws {
        let (failure, _) = try fail(at: "sgdUpdate", step: 2)
        XCTAssertTrue(failure.description.hasSuffix("and no checkpoint was written yet: start the run again"), failure.description)
    }

    struct Killed: Error {}

    /// A kill between the last epoch's checkpoint and its weights file leaves a finished
    /// checkpoint and a weights file an epoch behind: resuming writes the last epoch's files.
    func testResumingAFinishedCheckpointWritesTheLastEpochsWeights() throws {
        let whole = try TrainingRun(request("whole"), logger: logger)
        try whole.run()
        // The killed run ends before the resume (a run holds its folder's lock while it lives).
        let (folder, weightsURL, emaWeightsURL): (URL, URL, URL)
        do {
            let killed = try TrainingRun(request("killed"), logger: logger)
            // The caller's epoch hook runs after the checkpoint and before the weights are written.
            XCTAssertThrowsError(try killed.run(onEpochEnd: { if $0.epoch == 2 { throw Killed() } }))
            (folder, weightsURL, emaWeightsURL) = (killed.outDirectory, killed.weightsURL, killed.emaWeightsURL)
        }
        XCTAssertEqual(try Checkpoint.read(from: folder).trainer.epoch, 2)
        XCTAssertNotEqual(try tensorBytes(weightsURL), try tensorBytes(whole.weightsURL))
        var resume = TrainingRun.Request(options: TrainingOptions())
        resume.resume = folder.path
        try TrainingRun(resume, logger: logger).run()
        XCTAssertEqual(try tensorBytes(weightsURL), try tensorBytes(whole.weightsURL))
        XCTAssertEqual(try tensorBytes(emaWeightsURL), try tensorBytes(whole.emaWeightsURL))
    }
}
