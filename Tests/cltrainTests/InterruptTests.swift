import CLTrainTestSupport
import Foundation
import XCTest

/// A run killed or stopped by a signal loses nothing: SIGTERM writes a checkpoint and exits 143;
/// SIGKILL leaves the last checkpoint whole; resuming either ends with the weights of a run never
/// interrupted (CPU backend, same seed: bitwise).
final class InterruptTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = try makeTemporaryDirectory()
        try CLI.writeDataset(in: directory, count: 96)
    }

    func arguments(out: String) -> [String] {
        ["train", "--model", "densenet-bc-10-k4", "--data", directory.path, "--epochs", "4", "--batch-size", "16",
         "--device", "cpu", "--checkpoint-every", "1", "--seed", "5", "--out", directory.appendingPathComponent(out).path]
    }

    func weights(_ run: String) throws -> Data {
        try Data(contentsOf: directory.appendingPathComponent(run).appendingPathComponent("weights.safetensors"))
    }

    /// Start a run, wait for its checkpoint of step `step` or later, send `signal`.
    func interrupt(_ out: String, with signal: Int32) throws -> ProcessResult {
        let running = try CLI.start(arguments(out: out))
        let checkpoint = directory.appendingPathComponent(out).appendingPathComponent("checkpoint.safetensors")
        let deadline = Date().addingTimeInterval(120)
        var seen = 0
        while running.process.isRunning && Date() < deadline {
            if FileManager.default.fileExists(atPath: checkpoint.path) {
                seen += 1
                if seen == 3 { break }  // a few checkpoints in: mid-epoch
            }
            usleep(100_000)
        }
        XCTAssertTrue(running.process.isRunning, "the run ended before it could be interrupted")
        kill(running.process.processIdentifier, signal)
        return running.finish()
    }

    func testSIGTERMWritesACheckpointAndResumingMatchesAnUninterruptedRun() throws {
        let whole = try CLI.run(arguments(out: "whole"))
        XCTAssertEqual(whole.status, 0, whole.stderr)

        let stopped = try interrupt("stopped", with: SIGTERM)
        XCTAssertEqual(stopped.status, 143, stopped.stderr)
        XCTAssertTrue(stopped.stdout.contains("--resume"), stopped.stdout)
        let resumed = try CLI.run(["train", "--resume", directory.appendingPathComponent("stopped").path])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertEqual(try weights("stopped"), try weights("whole"), "resumed run differs from the uninterrupted one")
        // The resumed run logs to TensorBoard in a file of its own beside the first.
        let events = try FileManager.default.contentsOfDirectory(atPath: directory.appendingPathComponent("stopped").path)
            .filter { $0.hasPrefix("events.out.tfevents.") }
        XCTAssertEqual(events.count, 2, "\(events)")
    }

    func testCtrlCWritesACheckpointAndExits130() throws {
        let stopped = try interrupt("interrupted", with: SIGINT)
        XCTAssertEqual(stopped.status, 130, stopped.stderr)
        XCTAssertTrue(stopped.stdout.contains("cltrain train --resume"), stopped.stdout)
        let checkpoint = directory.appendingPathComponent("interrupted").appendingPathComponent("checkpoint.safetensors")
        XCTAssertTrue(FileManager.default.fileExists(atPath: checkpoint.path))
    }

    func testSIGKILLLeavesACheckpointToResumeFrom() throws {
        let whole = try CLI.run(arguments(out: "whole"))
        XCTAssertEqual(whole.status, 0, whole.stderr)

        let killed = try interrupt("killed", with: SIGKILL)
        XCTAssertEqual(killed.status, SIGKILL)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory.appendingPathComponent("killed").path)
        XCTAssertTrue(leftovers.contains("checkpoint.safetensors"), "\(leftovers)")
        let resumed = try CLI.run(["train", "--resume", directory.appendingPathComponent("killed").path])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertEqual(try weights("killed"), try weights("whole"), "resumed run differs from the uninterrupted one")
    }
    /// Five SIGKILLs at seeded random moments, each followed by `--resume` (or a fresh start while
    /// no checkpoint exists yet). With a checkpoint after every step, many land while one is being
    /// written. The run still ends on the weights of one never interrupted, bitwise.
    func testRepeatedSIGKILLsAtRandomMomentsEndOnTheUninterruptedWeights() throws {
        let started = Date()
        let whole = try CLI.run(arguments(out: "whole"))
        let duration = Date().timeIntervalSince(started)
        XCTAssertEqual(whole.status, 0, whole.stderr)

        let folder = directory.appendingPathComponent("killed")
        let checkpoint = folder.appendingPathComponent("checkpoint.safetensors")
        var state: UInt64 = 0x5EED_0006
        func nextDelay() -> Double {
            // SplitMix64: a delay between 5% and 35% of the uninterrupted run's time (each start reloads the data).
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            z ^= z >> 31
            return duration * (0.05 + 0.3 * Double(z >> 11) / Double(1 << 53))
        }
        func start() throws -> RunningProcess {
            try CLI.start(FileManager.default.fileExists(atPath: checkpoint.path) ? ["train", "--resume", folder.path] : arguments(out: "killed"))
        }
        var killed = 0
        var finished = false
        for _ in 0..<5 {
            let running = try start()
            let delay = nextDelay()
            let deadline = Date().addingTimeInterval(delay)
            while running.process.isRunning && Date() < deadline { usleep(5_000) }
            if running.process.isRunning {
                kill(running.process.processIdentifier, SIGKILL)
                killed += 1
            }
            let result = running.finish()
            if result.status == 0 {
                finished = true
                break
            }
            XCTAssertEqual(result.status, SIGKILL, result.stderr)
        }
        print("\(killed) kills; the uninterrupted run took \(String(format: "%.1f", duration)) s")
        XCTAssertGreaterThanOrEqual(killed, 4, "too few kills landed while the run was going")
        if !finished {
            let running = try start()
            let result = running.finish()
            XCTAssertEqual(result.status, 0, result.stderr)
        }
        XCTAssertEqual(try weights("killed"), try weights("whole"), "the killed and resumed run differs from the uninterrupted one")
    }
}
