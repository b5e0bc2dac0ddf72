import CLTrainTestSupport
import Foundation
import XCTest

/// `cltrain train --resume DIR` keeps the whole first command: its `--save` file is written by
/// whichever resume ends the run, after one resume or several, and `--epochs` above the run's
/// extends a finished run. `cltrain models` shows the smallest images each model takes.
final class ResumeCommandTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = try makeTemporaryDirectory()
        try CLI.writeDataset(in: directory, count: 32)
    }

    func testSaveIsWrittenAfterEachResumeAndEpochsExtendTheRun() throws {
        let run = directory.appendingPathComponent("run").path
        let save = directory.appendingPathComponent("final.safetensors")
        let first = try CLI.run(["train", "--model", "densenet-bc-10-k4", "--data", directory.path, "--epochs", "1", "--batch-size", "16",
                                 "--device", "cpu", "--save", save.path, "--out", run])
        XCTAssertEqual(first.status, 0, first.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: save.path))

        for epochs in [2, 3] {
            try FileManager.default.removeItem(at: save)
            let resumed = try CLI.run(["train", "--resume", run, "--epochs", "\(epochs)"])
            XCTAssertEqual(resumed.status, 0, resumed.stderr)
            XCTAssertTrue(resumed.stdout.contains("epoch \(epochs)/\(epochs)"), resumed.stdout)
            XCTAssertTrue(resumed.stderr.contains("then 0.001 in the epochs added after its 1"), resumed.stderr)
            XCTAssertTrue(FileManager.default.fileExists(atPath: save.path), "--save is written after resume \(epochs - 1)")
            let metrics = try String(contentsOf: URL(fileURLWithPath: run).appendingPathComponent("metrics.csv"), encoding: .utf8)
            XCTAssertEqual(metrics.split(separator: "\n").count, 1 + epochs, metrics)
        }
        // A finished run resumed as it is trains nothing, says how to extend it, and still writes --save.
        try FileManager.default.removeItem(at: save)
        let finished = try CLI.run(["train", "--resume", run])
        XCTAssertEqual(finished.status, 0, finished.stderr)
        XCTAssertTrue(finished.stderr.contains("nothing to train; --epochs N with N above 3 continues it"), finished.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: save.path))
    }

    func testModelsShowTheSmallestInput() throws {
        let listing = try CLI.run(["models", "densenet-121", "densenet-bc-10-k4"])
        XCTAssertEqual(listing.status, 0, listing.stderr)
        let lines = listing.stdout.split(separator: "\n")
        XCTAssertTrue(lines.contains { $0.hasPrefix("densenet-121 ") && $0.contains("29x29 min") }, listing.stdout)
        XCTAssertTrue(lines.contains { $0.hasPrefix("densenet-bc-10-k4 ") && $0.contains("4x4 min") }, listing.stdout)
        let json = try CLI.run(["models", "--json", "densenet-121"])
        let rows = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: String]])
        XCTAssertEqual(rows.first?["minimumInputSize"], "29")
    }
}
