import CLTrainTestSupport
import CLTrainTraining
import Foundation
import XCTest
@testable import CLTrainReport

/// Events files as TensorBoard reads them: written by `TensorBoardLog`, read back by Python's
/// tensorboard (`EventAccumulator`, what `tensorboard --logdir` uses), when python3 has it.
final class TensorBoardLogTests: XCTestCase {
    func testEachWriterGetsANewFile() throws {
        let directory = try makeTemporaryDirectory()
        let first = try EventFileWriter(directory: directory, wallTime: 1_700_000_000)
        let second = try EventFileWriter(directory: directory, wallTime: 1_700_000_000)
        XCTAssertNotEqual(first.url, second.url)
        XCTAssertTrue(first.url.lastPathComponent.hasPrefix("events.out.tfevents.1700000000."), first.url.lastPathComponent)
        // Each starts with its file-version record and nothing else yet.
        let bytes = try Data(contentsOf: second.url)
        XCTAssertEqual(Array(bytes), RecordFraming.frame(TensorBoardEvent.fileVersion(wallTime: 1_700_000_000)))
    }

    func testAFullDiskIsAOneLineError() {
        assertOneLineError(TensorBoardError.self, try EventFileWriter(appendingTo: URL(fileURLWithPath: "/dev/full"), wallTime: 0),
                           prefix: "cannot write the TensorBoard events file /dev/full", mentions: ["space", "--out"]) { !$0.creating }
    }

    func testAMissingFolderIsAOneLineError() {
        let missing = URL(fileURLWithPath: "/nonexistent-cltrain-folder", isDirectory: true)
        assertOneLineError(TensorBoardError.self, try EventFileWriter(directory: missing), prefix: "cannot create the TensorBoard events file",
                           mentions: ["--out"]) { $0.creating }
    }

    func testTrainPointsAreMeansOverTheStepsSinceTheLastOne() throws {
        let directory = try makeTemporaryDirectory()
        let log = try TensorBoardLog(directory: directory, every: 2, clock: { 10 })
        try log.recordStep(1, loss: 1, accuracy: 0.5, images: 3)
        XCTAssertEqual(try Data(contentsOf: log.writer.url).count, RecordFraming.frame(TensorBoardEvent.fileVersion(wallTime: 10)).count)
        try log.recordStep(2, loss: 2, accuracy: 1, images: 1)  // (3 * 1 + 2) / 4, (3 * 0.5 + 1) / 4
        let expected = RecordFraming.frame(TensorBoardEvent.fileVersion(wallTime: 10))
            + RecordFraming.frame(TensorBoardEvent.scalars([("train/loss", 1.25), ("train/accuracy", 0.625)], step: 2, wallTime: 10))
        XCTAssertEqual(Array(try Data(contentsOf: log.writer.url)), expected)
    }

    /// A run logs steps 1...120 and epoch 1 at step 120, then is killed; the resumed run starts from
    /// its checkpoint at step 100 in a second file and logs to step 150. TensorBoard reads both
    /// files, drops what the first logged after step 100, and a record cut short at the end of a
    /// file loses only itself.
    func testTensorBoardReadsARunAndItsResumption() throws {
        guard pythonCanImport("tensorboard.backend.event_processing.event_accumulator") else {
            throw XCTSkip("python3 with tensorboard not found; pip install tensorboard (or put a venv with it first on PATH) to run this test")
        }
        let directory = try makeTemporaryDirectory()
        var clock = 1_700_000_000.0
        let first = try TensorBoardLog(directory: directory, every: 50, clock: { clock })
        for step in 1...120 { try first.recordStep(step, loss: step <= 50 ? 2 : 1, accuracy: step <= 50 ? 0.25 : 0.5, images: 64) }
        try first.record(EpochMetrics(epoch: 1, step: 120, learningRate: 0.1, trainLoss: 1.4, trainAccuracy: 0.4, testLoss: 1.5,
                                      testAccuracy: 0.375, seconds: 10, imagesPerSecond: 768))
        first.writer.close()
        clock += 1
        let second = try TensorBoardLog(directory: directory, every: 50, resumedAfter: 100, clock: { clock })
        for step in 101...150 { try second.recordStep(step, loss: 0.75, accuracy: 0.75, images: 64) }
        try second.record(EpochMetrics(epoch: 2, step: 150, learningRate: 0.01, trainLoss: 0.8, trainAccuracy: 0.7, testLoss: 0.5,
                                       testAccuracy: 0.875, seconds: 10, imagesPerSecond: 640))
        second.writer.close()
        // A record cut short, as a kill in the middle of a write leaves it.
        let handle = try FileHandle(forWritingTo: second.writer.url)
        handle.seekToEndOfFile()
        handle.write(Data(RecordFraming.frame(TensorBoardEvent.scalars([("test/loss", 9)], step: 151, wallTime: clock)).prefix(20)))
        handle.closeFile()

        let scalars = try tensorBoardScalars(in: directory)
        XCTAssertEqual(Set(scalars.keys), ["train/loss", "train/accuracy", "test/loss", "test/accuracy", "learning_rate", "images_per_second"])
        XCTAssertEqual(scalars["train/loss"]?.map(\.step), [50, 100, 150])
        XCTAssertEqual(scalars["train/loss"]?.map(\.value), [2, 1, 0.75])
        XCTAssertEqual(scalars["train/accuracy"]?.map(\.value), [0.25, 0.5, 0.75])
        XCTAssertEqual(scalars["test/loss"]?.map(\.step), [150])
        XCTAssertEqual(scalars["test/loss"]?.map(\.value), [0.5])
        XCTAssertEqual(scalars["test/accuracy"]?.map(\.value), [0.875])
        XCTAssertEqual(scalars["learning_rate"]?.map(\.value), [Float(0.01)])
        XCTAssertEqual(scalars["images_per_second"]?.map(\.value), [640])
        XCTAssertEqual(scalars["train/loss"]?.map(\.wallTime), [1_700_000_000, 1_700_000_000, 1_700_000_001])
    }
}

struct ScalarPoint: Decodable, Equatable {
    var step: Int
    var value: Float
    var wallTime: Double
}

/// Every scalar series in the events files of `directory`, as TensorBoard's EventAccumulator reads them.
func tensorBoardScalars(in directory: URL) throws -> [String: [ScalarPoint]] {
    let output = try runPython("""
    import sys, json
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    accumulator = EventAccumulator(sys.argv[1])
    accumulator.Reload()
    print(json.dumps({tag: [{"step": e.step, "value": e.value, "wallTime": e.wall_time} for e in accumulator.Scalars(tag)]
                      for tag in accumulator.Tags()["scalars"]}))
    """, [directory.path])
    return try JSONDecoder().decode([String: [ScalarPoint]].self, from: Data(output.utf8))
}
