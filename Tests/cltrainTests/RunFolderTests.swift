import CLTrainTestSupport
import Foundation
import XCTest

/// One run per folder: a second run (or --resume) into the folder of a running one refuses,
/// naming it; the lock of a killed run is taken over. A disk that fills up mid-run stops the run
/// with one line (the file, the free space, how to resume), leaves every file whole, and the
/// resumed run ends with the weights of a run never stopped.
final class RunFolderTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = try makeTemporaryDirectory()
        try CLI.writeDataset(in: directory, count: 96)
    }

    func arguments(out: URL, epochs: Int = 4, extra: [String] = []) -> [String] {
        ["train", "--model", "densenet-bc-10-k4", "--data", directory.path, "--epochs", "\(epochs)", "--batch-size", "16",
         "--device", "cpu", "--checkpoint-every", "1", "--seed", "5", "--out", out.path] + extra
    }

    /// Start a run into `out` and wait for its first checkpoint.
    func startRun(_ arguments: [String], out: URL) throws -> RunningProcess {
        let running = try CLI.start(arguments)
        let checkpoint = out.appendingPathComponent("checkpoint.safetensors")
        let deadline = Date().addingTimeInterval(120)
        while running.process.isRunning && Date() < deadline && !FileManager.default.fileExists(atPath: checkpoint.path) { usleep(50_000) }
        XCTAssertTrue(running.process.isRunning, "the run ended before the test could use it")
        return running
    }

    func testASecondRunIntoAFolderInUseRefusesNamingThePIDAndAKilledRunsLockIsTakenOver() throws {
        let out = directory.appendingPathComponent("run")
        let first = try startRun(arguments(out: out, epochs: 6), out: out)
        let pid = first.process.processIdentifier

        for second in [arguments(out: out), ["train", "--resume", out.path]] {
            let refused = try CLI.run(second, timeout: 60)
            XCTAssertEqual(refused.status, 1, refused.stderr)
            let lines = refused.stderr.split(separator: "\n")
            XCTAssertEqual(lines.count, 1, refused.stderr)
            XCTAssertTrue(refused.stderr.hasPrefix("error: \(out.path) is in use by another cltrain run (PID \(pid) on "), refused.stderr)
            XCTAssertTrue(first.process.isRunning)
        }
        // The refused runs wrote nothing: no events file, no probe, no temporary file of theirs.
        let events = try FileManager.default.contentsOfDirectory(atPath: out.path).filter { $0.hasPrefix("events.out.tfevents.") }
        XCTAssertEqual(events.count, 1, "\(events)")

        kill(pid, SIGKILL)
        _ = first.finish()
        let resumed = try CLI.run(["train", "--resume", out.path, "--quiet"], timeout: 600)
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
    }

    // MARK: A full disk

    /// A small tmpfs mounted for the test, or a skip saying why not.
    func mountSmallDisk(megabytes: Int) throws -> URL {
        guard geteuid() == 0 else { throw XCTSkip("mounting a small tmpfs to fill needs root") }
        let mountPoint = directory.appendingPathComponent("disk")
        try FileManager.default.createDirectory(at: mountPoint, withIntermediateDirectories: true)
        let mount = Process()
        mount.executableURL = URL(fileURLWithPath: "/bin/mount")
        mount.arguments = ["-t", "tmpfs", "-o", "size=\(megabytes)m", "tmpfs", mountPoint.path]
        mount.standardError = FileHandle.nullDevice
        do { try mount.run() } catch { throw XCTSkip("cannot run mount: \(error)") }
        mount.waitUntilExit()
        guard mount.terminationStatus == 0 else { throw XCTSkip("cannot mount a tmpfs here (mount exited \(mount.terminationStatus))") }
        addTeardownBlock {
            let umount = Process()
            umount.executableURL = URL(fileURLWithPath: "/bin/umount")
            umount.arguments = ["-l", mountPoint.path]
            try? umount.run()
            umount.waitUntilExit()
        }
        return mountPoint
    }

    /// Write a file until the disk is full.
    func fill(_ disk: URL) -> URL {
        let filler = disk.appendingPathComponent("filler")
        let fd = open(filler.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        let chunk = [UInt8](repeating: 1, count: 4096)
        while write(fd, chunk, chunk.count) > 0 {}
        close(fd)
        return filler
    }

    func weights(_ out: URL) throws -> Data { try Data(contentsOf: out.appendingPathComponent("weights.safetensors")) }

    func checkFullDisk(policy: [String]) throws {
        let disk = try mountSmallDisk(megabytes: 8)
        let wholeOut = directory.appendingPathComponent("whole")
        let whole = try CLI.run(arguments(out: wholeOut, epochs: 4))
        XCTAssertEqual(whole.status, 0, whole.stderr)

        let out = disk.appendingPathComponent("run")
        let running = try startRun(arguments(out: out, epochs: 4, extra: policy), out: out)
        let filler = fill(disk)
        let stopped = running.finish()
        XCTAssertEqual(stopped.status, 74, stopped.stderr)
        let errors = stopped.stderr.split(separator: "\n").filter { $0.hasPrefix("error: ") }
        XCTAssertEqual(errors.count, 1, stopped.stderr)
        let line = String(errors.first ?? "")
        XCTAssertTrue(line.contains("No space left on device"), line)
        XCTAssertTrue(line.contains("free on its disk"), line)
        XCTAssertTrue(line.contains(out.path), line)
        XCTAssertTrue(line.hasSuffix("resume with: cltrain train --resume \(out.path)"), line)
        // No temporary file left, and the checkpoints are whole.
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: out.path).filter { $0.hasSuffix(".tmp") }
        XCTAssertEqual(leftovers, [])

        try FileManager.default.removeItem(at: filler)
        let resumed = try CLI.run(["train", "--resume", out.path, "--quiet"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertFalse(resumed.stderr.contains("damaged"), resumed.stderr)
        XCTAssertEqual(try weights(out), try weights(wholeOut), "the resumed run differs from the uninterrupted one")
        XCTAssertTrue(FileManager.default.fileExists(atPath: out.appendingPathComponent("metrics.csv").path))
        if policy.contains("continue") { XCTAssertTrue(stopped.stderr.contains("(--on-write-error continue)"), stopped.stderr) }
    }

    func testAFullDiskStopsTheRunWithOneLineAndResumingAfterFreeingSpaceIsExact() throws {
        try checkFullDisk(policy: [])
    }

    func testAFullDiskWithContinueWarnsGoesOnAndStillFailsAtTheEndIfNeverFreed() throws {
        try checkFullDisk(policy: ["--on-write-error", "continue"])
    }
}
