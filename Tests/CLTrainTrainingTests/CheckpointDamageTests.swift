import CLTrainData
import CLTrainIO
import CLTrainNN
import CLTrainRuntime
import CLTrainTestSupport
import Foundation
import Logging
import XCTest
@testable import CLTrainTraining

/// A checkpoint damaged after it was written (cut short, a flipped byte) is found by its checksum
/// and the previous one, kept beside it, is resumed from; with none good, one line says so.
final class CheckpointDamageTests: XCTestCase {
    let helper = Helper()
    var directory: URL!

    /// CheckpointTests' run: a tiny DenseNet, 160 images, 5 steps an epoch, 3 epochs.
    struct Helper {
        func makeTrainer(_ options: TrainingOptions, device: Device) throws -> Trainer {
            try CheckpointTests.makeTrainer(options, device: device)
        }

        func options(_ optimizer: OptimizerKind) -> TrainingOptions { CheckpointTests.options(optimizer) }

        func metadata() -> RunMetadata {
            RunMetadata(model: "densenet-bc-10-k4", dataset: "synthetic", inputChannels: 1, classes: 2, height: 8, width: 8,
                        normalization: Normalization(mean: [0.5], std: [0.25]))
        }
    }

    /// A run stopped at step 3 with a checkpoint every step: checkpoint.safetensors holds step 3,
    /// checkpoint-previous.safetensors step 2.
    override func setUpWithError() throws {
        directory = try makeTemporaryDirectory()
        let trainer = try helper.makeTrainer(helper.options(.sgd), device: Device(backend: CPUBackend()))
        trainer.checkpointEvery = 1
        trainer.onCheckpoint = { [directory, helper] in try Checkpoint.write(trainer, to: directory!, metadata: helper.metadata()) }
        trainer.stopRequested = { trainer.step >= 3 }
        XCTAssertThrowsError(try trainer.run())
    }

    var current: URL { Checkpoint.url(in: directory) }
    var previous: URL { Checkpoint.previousURL(in: directory) }

    func testAGoodCheckpointIsResumedWithoutFallback() throws {
        let saved = try Checkpoint.read(from: directory)
        XCTAssertEqual(saved.trainer.step, 3)
        XCTAssertNil(saved.fallback)
        XCTAssertEqual(try Checkpoint.read(from: directory).trainer.step, 3)
        XCTAssertEqual(SafetensorsChecksum.verify(try SafetensorsFile.read(contentsOf: current)), true)
        XCTAssertEqual(try Checkpoint.load(previous).get().trainer.step, 2)
    }

    func testATruncatedCheckpointFallsBackToThePreviousOne() throws {
        let data = try Data(contentsOf: current)
        try data.prefix(data.count / 2).write(to: current)
        let saved = try Checkpoint.read(from: directory)
        XCTAssertEqual(saved.trainer.step, 2)
        let note = try XCTUnwrap(saved.fallback)
        XCTAssertTrue(note.hasPrefix("checkpoint.safetensors is damaged"), note)
        XCTAssertTrue(note.contains("resuming from checkpoint-previous.safetensors at step 2"), note)
        XCTAssertFalse(note.contains("\n"))
        // The damaged file is set aside, so that the next checkpoint keeps the good one as previous.
        XCTAssertFalse(FileManager.default.fileExists(atPath: current.path))
        XCTAssertTrue(FileManager.default.fileExists(atPath: directory.appendingPathComponent(Checkpoint.damagedFileName).path))
    }

    func testAFlippedByteIsCaughtByTheChecksumAndTheStepsLostAreCounted() throws {
        var data = try Data(contentsOf: current)
        data[data.count - 5] ^= 0x10  // inside the last tensor's bytes: the file still parses
        try data.write(to: current)
        let saved = try Checkpoint.read(from: directory)
        XCTAssertEqual(saved.trainer.step, 2)
        let note = try XCTUnwrap(saved.fallback)
        XCTAssertTrue(note.contains("do not match its checksum"), note)
        XCTAssertTrue(note.contains("(1 steps, to step 3)"), note)
    }

    func testResumingFromThePreviousCheckpointIsExact() throws {
        let whole = try helper.makeTrainer(helper.options(.sgd), device: Device(backend: CPUBackend()))
        try whole.run()
        var data = try Data(contentsOf: current)
        data[data.count - 5] ^= 0x01
        try data.write(to: current)
        let saved = try Checkpoint.read(from: directory)
        let resumed = try helper.makeTrainer(saved.options, device: Device(backend: CPUBackend()))
        try Checkpoint.restore(saved, into: resumed)
        try resumed.run()
        for (a, b) in zip(try ModelWeights.stateTensors(of: whole.model), try ModelWeights.stateTensors(of: resumed.model)) {
            XCTAssertEqual(a.values, b.values, "\(a.name) differs after resuming from the previous checkpoint")
        }
    }

    func testNoGoodCheckpointIsOneLine() throws {
        try Data("not a checkpoint".utf8).write(to: current)
        var data = try Data(contentsOf: previous)
        data[data.count - 1] ^= 0xFF
        try data.write(to: previous)
        assertOneLineError(CheckpointError.self, try Checkpoint.read(from: directory),
                           prefix: directory.path + " has no good checkpoint to resume from",
                           mentions: ["checkpoint.safetensors is damaged", "checkpoint-previous.safetensors is damaged", "--out"]) { _ in true }
    }

    func testBothMissingIsTheNoCheckpointError() throws {
        try FileManager.default.removeItem(at: current)
        try FileManager.default.removeItem(at: previous)
        XCTAssertThrowsError(try Checkpoint.read(from: directory)) { XCTAssertTrue("\($0)".contains("holds no checkpoint"), "\($0)") }
    }

    func testOnlyThePreviousLeftIsResumedFrom() throws {
        try FileManager.default.removeItem(at: current)
        let saved = try Checkpoint.read(from: directory)
        XCTAssertEqual(saved.trainer.step, 2)
        XCTAssertTrue(try XCTUnwrap(saved.fallback).hasPrefix("checkpoint.safetensors is missing"))
    }

    func testACheckpointWithoutChecksumStillLoads() throws {
        // As written before checksums: the same file without its checksum entry.
        let file = try SafetensorsFile.read(contentsOf: current)
        var metadata = file.metadata
        metadata[SafetensorsChecksum.key] = nil
        let tensors = try file.tensorNames.filter { file.tensors[$0]!.dtype == .f32 }.map { ($0, file.tensors[$0]!.shape, try file.floats($0)) }
        let scalars = try file.tensorNames.filter { file.tensors[$0]!.dtype != .f32 }.map { (name: $0, value: Int64(try file.integer($0))) }
        try SafetensorsWriter.write(tensors: tensors, int64Scalars: scalars, metadata: metadata, to: current)
        XCTAssertNil(SafetensorsChecksum.verify(try SafetensorsFile.read(contentsOf: current)))
        let saved = try Checkpoint.read(from: directory)
        XCTAssertEqual(saved.trainer.step, 3)
        XCTAssertNil(saved.fallback)
    }
}

/// `--on-write-error`: stop throws at once; continue warns, goes on and writes again later.
final class RunFileWritesTests: XCTestCase {
    func failure(_ path: String) -> WeightsFileError { .writeFailed(file: path, reason: "write: No space left on device, 0 bytes free on its disk") }

    func testStopThrowsTheRunsError() {
        let writes = RunFileWrites(policy: .stop, logger: Logger(label: "test")) { RunWriteFailed(failure: $0, step: 7, folder: "/runs/a") }
        XCTAssertThrowsError(try writes.write("/runs/a/weights.safetensors") { throw self.failure("/runs/a/weights.safetensors") }) { error in
            let text = "\(error)"
            XCTAssertTrue(error is RunWriteFailed, text)
            XCTAssertTrue(text.hasPrefix("/runs/a/weights.safetensors: cannot write (write: No space left on device, 0 bytes free"), text)
            XCTAssertTrue(text.hasSuffix("The run stopped at step 7; free some space, then resume with: cltrain train --resume /runs/a"), text)
        }
    }

    func testContinueRetriesAtTheNextCheckpointAndANewerWriteReplacesTheOld() throws {
        let writes = RunFileWrites(policy: .continue, logger: Logger(label: "test")) { RunWriteFailed(failure: $0, step: 1, folder: "/f") }
        var full = true
        var written: [String] = []
        try writes.write("a") { if full { throw self.failure("a") }; written.append("a1") }
        try writes.write("b") { if full { throw self.failure("b") }; written.append("b1") }
        try writes.write("a") { if full { throw self.failure("a") }; written.append("a2") }
        try writes.retryPending()
        XCTAssertEqual(written, [])
        full = false
        try writes.retryPending()
        XCTAssertEqual(written.sorted(), ["a2", "b1"])
        try writes.finish()
    }

    func testContinueStillFailsAtTheEndWhenAFileCannotBeWritten() {
        let writes = RunFileWrites(policy: .continue, logger: Logger(label: "test")) { RunWriteFailed(failure: $0, step: 1, folder: "/f") }
        XCTAssertNoThrow(try writes.write("a") { throw self.failure("a") })
        XCTAssertThrowsError(try writes.finish()) { XCTAssertTrue($0 is RunWriteFailed) }
    }

    func testOtherErrorsPassThrough() {
        struct Other: Error {}
        let writes = RunFileWrites(policy: .continue, logger: Logger(label: "test")) { RunWriteFailed(failure: $0, step: 1, folder: "/f") }
        XCTAssertThrowsError(try writes.write("a") { throw Other() }) { XCTAssertTrue($0 is Other) }
    }
}
