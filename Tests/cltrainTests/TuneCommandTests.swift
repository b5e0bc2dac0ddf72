import CLTrainTestSupport
import Foundation
import XCTest

/// `cltrain tune` and the `--tune` option every device-choosing command takes.
final class TuneCommandTests: XCTestCase {
    func testTuneOnTheCPUSaysThereIsNothingToTune() throws {
        let result = try CLI.run(["tune", "--model", "densenet-bc-40", "--batch-size", "2", "--device", "cpu"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let lines = result.stdout.split(whereSeparator: \.isNewline)
        XCTAssertTrue(lines.first?.hasPrefix("densenet-bc-40 on cpu") ?? false, result.stdout)
        XCTAssertTrue(result.stdout.contains("nothing to tune"), result.stdout)
        XCTAssertTrue(lines.last?.hasPrefix("0 problems, 0 measured") ?? false, result.stdout)

        let json = try CLI.run(["tune", "--model", "densenet-bc-40", "--batch-size", "2", "--device", "cpu", "--json"])
        XCTAssertEqual(json.status, 0, json.stderr)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(object["mode"] as? String, "off")
        XCTAssertEqual(object["model"] as? String, "densenet-bc-40")
        XCTAssertEqual(object["batchSize"] as? Int, 2)
        XCTAssertEqual(object["input"] as? [Int], [1, 28, 28])
        XCTAssertEqual((object["decisions"] as? [Any])?.count, 0)
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
