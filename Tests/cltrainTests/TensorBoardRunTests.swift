import CLTrainTestSupport
import Foundation
import XCTest

/// `cltrain train --out DIR` leaves TensorBoard events in DIR that TensorBoard reads.
final class TensorBoardRunTests: XCTestCase {
    func testATrainingRunLeavesEventsTensorBoardReads() throws {
        guard pythonCanImport("tensorboard.backend.event_processing.event_accumulator") else {
            throw XCTSkip("python3 with tensorboard not found; pip install tensorboard (or put a venv with it first on PATH) to run this test")
        }
        let directory = try makeTemporaryDirectory()
        try CLI.writeDataset(in: directory, count: 128)
        let out = directory.appendingPathComponent("run")
        // 128 images in batches of 32: 4 steps an epoch, 8 in all; a point every 3 steps.
        let result = try CLI.run(["train", "--model", "densenet-bc-10-k4", "--data", directory.path, "--limit", "128", "--epochs", "2",
                                  "--batch-size", "32", "--device", "cpu", "--log-every", "3", "--out", out.path])
        XCTAssertEqual(result.status, 0, result.stderr)
        let files = try FileManager.default.contentsOfDirectory(atPath: out.path).filter { $0.hasPrefix("events.out.tfevents.") }
        XCTAssertEqual(files.count, 1, "\(files)")

        let output = try runPython("""
        import sys, json
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
        accumulator = EventAccumulator(sys.argv[1])
        accumulator.Reload()
        print(json.dumps({tag: [[e.step, e.value] for e in accumulator.Scalars(tag)] for tag in accumulator.Tags()["scalars"]}))
        """, [out.path])
        let scalars = try JSONDecoder().decode([String: [[Double]]].self, from: Data(output.utf8))
        XCTAssertEqual(Set(scalars.keys), ["train/loss", "train/accuracy", "test/loss", "test/accuracy", "learning_rate", "images_per_second"])
        XCTAssertEqual(scalars["train/loss"]?.map { $0[0] }, [3, 6])
        XCTAssertEqual(scalars["train/accuracy"]?.map { $0[0] }, [3, 6])
        for tag in ["test/loss", "test/accuracy", "learning_rate", "images_per_second"] {
            XCTAssertEqual(scalars[tag]?.map { $0[0] }, [4, 8], tag)
        }
        // The rate of each epoch's last step: the step schedule divides by 10 at 50% and 75% of the
        // run's 8 steps (steps 4 and 6), so epoch 1 ends at 0.1 and epoch 2 at 0.001.
        XCTAssertEqual(scalars["learning_rate"]?.map { $0[1] }, [Double(Float(0.1)), Double(Float(0.001))])
        for point in scalars.values.joined() { XCTAssertTrue(point[1].isFinite && point[1] >= 0, "\(point)") }
        for point in scalars["test/accuracy"]! + scalars["train/accuracy"]! { XCTAssertLessThanOrEqual(point[1], 1) }

        // The test metrics are those of metrics.csv (to float precision).
        let csv = try String(contentsOf: out.appendingPathComponent("metrics.csv"), encoding: .utf8)
        let rows = csv.split(separator: "\n").dropFirst().map { $0.split(separator: ",", omittingEmptySubsequences: false) }
        XCTAssertEqual(rows.count, 2)
        for (row, point) in zip(rows, scalars["test/loss"]!) { XCTAssertEqual(Double(row[5])!, point[1], accuracy: 1e-5 * max(1, point[1])) }
    }
}
