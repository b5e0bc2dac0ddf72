import CLTrainTestSupport
import Foundation
import XCTest

/// `cltrain tune` and the `--tune` option every device-choosing command takes.
final class TuneCommandTests: XCTestCase {
    /// The CPU times its convolution algorithms too: the first call measures each shape, a second
    /// reads every choice from the cache file, and `--tune off` takes each op's rule.
    func testTuneOnTheCPUMeasuresOnceThenReusesTheCache() throws {
        let cache = try makeTemporaryDirectory()
        let environment = ["CLTRAIN_CACHE_DIR": cache.path]
        let command = ["tune", "--model", "densenet-bc-40", "--batch-size", "2", "--device", "cpu"]
        let first = try CLI.run(command, environment: environment)
        XCTAssertEqual(first.status, 0, first.stderr)
        let lines = first.stdout.split(whereSeparator: \.isNewline)
        XCTAssertTrue(lines.first?.hasPrefix("densenet-bc-40 on cpu") ?? false, first.stdout)
        let summary = try XCTUnwrap(lines.last).split(separator: " ")
        let problems = try XCTUnwrap(Int(summary[0])), measured = try XCTUnwrap(Int(summary[2]))
        XCTAssertGreaterThan(problems, 10, first.stdout)
        XCTAssertGreaterThan(measured, 0, first.stdout)
        XCTAssertTrue(try FileManager.default.contentsOfDirectory(atPath: cache.path).contains { $0.hasPrefix("tuning-") })

        let json = try CLI.run(command + ["--json"], environment: environment)
        XCTAssertEqual(json.status, 0, json.stderr)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(object["mode"] as? String, "cached")
        XCTAssertEqual(object["model"] as? String, "densenet-bc-40")
        XCTAssertEqual(object["batchSize"] as? Int, 2)
        XCTAssertEqual(object["input"] as? [Int], [1, 28, 28])
        XCTAssertEqual(object["measuredCount"] as? Int, 0, "the second call reads the cache")
        let decisions = try XCTUnwrap(object["decisions"] as? [[String: Any]])
        XCTAssertEqual(decisions.count, problems)
        XCTAssertTrue(decisions.allSatisfy { ["cached", "rule"].contains($0["source"] as? String) }, json.stdout)

        let off = try CLI.run(command + ["--tune", "off", "--json"], environment: environment)
        XCTAssertEqual(off.status, 0, off.stderr)
        let offObject = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(off.stdout.utf8)) as? [String: Any])
        XCTAssertEqual((offObject["decisions"] as? [[String: Any]])?.allSatisfy { $0["source"] as? String == "rule" }, true)
    }

    func testABadTuneModeIsOneLineUsageError() throws {
        for command in [["tune", "--model", "densenet-bc-40"], ["train"], ["eval", "--model", "densenet-bc-40", "--weights", "w"],
                        ["bench", "train"], ["bench", "kernels"]] {
            let result = try CLI.run(command + ["--device", "cpu", "--tune", "bogus"])
            XCTAssertEqual(result.status, 64, "\(command): \(result.stderr)")
            let lines = result.stderr.split(whereSeparator: \.isNewline)
            XCTAssertEqual(lines.count, 1, "\(command): \(result.stderr)")
            let message = String(lines.first ?? "")
            XCTAssertTrue(message.hasPrefix("error: "), message)
            XCTAssertTrue(message.contains("bogus") && message.contains("off, cached or full"), message)
            XCTAssertEqual(result.stdout, "", "\(command) ran")
        }
    }
}
