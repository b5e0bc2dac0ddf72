import CLTrainTestSupport
import Foundation
import XCTest

/// `cltrain bench allreduce` under a real `mpirun -np 2` (Open MPI's shared-memory transport on one
/// machine): exact sums, gradient buckets, a settings mismatch, a killed rank.
final class MPITests: XCTestCase {
    /// `mpirun -np ranks cltrain arguments` (root allowed, more ranks than cores allowed), to the end
    /// or until `timeout` seconds.
    private func runRanks(_ ranks: Int, _ arguments: [String], timeout: Double = 120) throws -> ProcessResult {
        let cltrain = try CLI.executable().path
        return try runMPI(["-np", "\(ranks)", cltrain] + arguments, timeout: timeout)
    }

    private func runMPI(_ arguments: [String], timeout: Double) throws -> ProcessResult {
        let running = try RunningProcess(try mpirunExecutable(), ["--allow-run-as-root", "--oversubscribe"] + arguments)
        let deadline = Date().addingTimeInterval(timeout)
        while running.process.isRunning && Date() < deadline { usleep(20_000) }
        if running.process.isRunning { running.process.terminate() }
        return running.finish()
    }

    func testWithoutMpirunTheBenchSaysItRanOnOneRank() throws {
        let result = try CLI.run(["bench", "allreduce", "--check"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssert(result.stdout.contains("ran on 1 rank"), result.stdout)
    }

    func testTwoRanksSumExactlyAndRankZeroPrintsBandwidth() throws {
        let result = try runRanks(2, ["bench", "allreduce", "--mib", "0.25", "1", "--repetitions", "3", "--warmup", "1", "--check"])
        XCTAssertEqual(result.status, 0, result.stdout + result.stderr)
        XCTAssert(result.stdout.contains("allreduce over 2 ranks"), result.stdout)
        XCTAssert(result.stdout.contains("busbw GB/s"), result.stdout)
        XCTAssertEqual(result.stdout.components(separatedBy: "  ok").count - 1, 2, "one checked row per size, from rank 0 alone:\n\(result.stdout)")
        XCTAssert(result.stdout.contains("check passed"), result.stdout)
    }

    func testTwoRanksJSONHasOneMeasurementPerSize() throws {
        let result = try runRanks(2, ["bench", "allreduce", "--mib", "0.5", "--repetitions", "2", "--check", "--json"])
        XCTAssertEqual(result.status, 0, result.stdout + result.stderr)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any], result.stdout)
        XCTAssertEqual(object["ranks"] as? Int, 2)
        XCTAssertEqual(object["passed"] as? Bool, true)
        let rows = try XCTUnwrap(object["measurements"] as? [[String: Any]])
        XCTAssertEqual(rows.count, 1)
        XCTAssertEqual(rows.first?["bytes"] as? Int, 524_288)
        XCTAssertGreaterThan(rows.first?["busGigabytesPerSecond"] as? Double ?? 0, 0)
    }

    func testGradientBucketsAverageExactlyOverTwoRanks() throws {
        // DenseNet-BC-40's 119 gradients (0.67 MiB) in buckets of 0.1 MiB: several buckets start
        // while later gradients are still being marked, each rank with its own values.
        let result = try runRanks(2, ["bench", "allreduce", "--buckets", "--model", "densenet-bc-40", "--bucket-mib", "0.1",
                                      "--repetitions", "3", "--check"])
        XCTAssertEqual(result.status, 0, result.stdout + result.stderr)
        XCTAssert(result.stdout.contains("densenet-bc-40: 119 gradients"), result.stdout)
        XCTAssert(result.stdout.contains("in 8 buckets"), result.stdout)
        XCTAssert(result.stdout.contains("check passed: every average exact"), result.stdout)
    }

    func testRanksStartedWithDifferentSettingsFailWithOneLineNamingTheRank() throws {
        // mpirun's MPMD form starts rank 0 and rank 1 with different flags.
        let cltrain = try CLI.executable().path
        let result = try runMPI(["-np", "1", cltrain, "bench", "allreduce", "--mib", "1", ":",
                                 "-np", "1", cltrain, "bench", "allreduce", "--mib", "2"], timeout: 120)
        XCTAssertNotEqual(result.status, 0)
        let errors = result.stderr.split(separator: "\n").filter { $0.hasPrefix("error:") }
        XCTAssertEqual(errors, ["error: rank 1 runs with mib = 2 but rank 0 with 1: start every rank with the same settings, model and data"],
                       result.stderr)
    }

    func testAKilledRankEndsTheWholeJobWithinSeconds() throws {
        // Rank 1 sends itself SIGKILL between two sums; rank 0 is left waiting in the next one.
        let result = try runRanks(2, ["bench", "allreduce", "--mib", "1", "--repetitions", "5", "--kill-rank", "1"], timeout: 60)
        let ended = Date().timeIntervalSince1970
        XCTAssertNotEqual(result.status, 0, "the job must fail")
        let line = try XCTUnwrap(result.stderr.split(separator: "\n").first { $0.hasPrefix("rank 1 kills itself at ") }, result.stderr)
        let killed = try XCTUnwrap(Double(line.dropFirst("rank 1 kills itself at ".count)))
        XCTAssertLessThan(ended - killed, 10, "mpirun took \(ended - killed) s to end the job")
        XCTAssert(result.stderr.contains("rank 1") && result.stderr.contains("signal 9"), "mpirun names the rank:\n\(result.stderr)")
        XCTAssertFalse(result.stdout.contains("check passed"))
    }
}
