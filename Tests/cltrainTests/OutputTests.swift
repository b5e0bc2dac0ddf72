import CLTrainTestSupport
import Foundation
import XCTest

/// What a person reads: plain log lines on stderr (no timestamps, levels or module tags), JSON
/// lines with their time and level when asked, and nothing but what matters with --quiet.
final class OutputTests: XCTestCase {
    func run(_ extra: [String]) throws -> ProcessResult {
        let directory = try makeTemporaryDirectory()
        try CLI.writeDataset(in: directory)
        let result = try CLI.run(["train", "--model", "densenet-bc-10-k4", "--data", directory.path, "--epochs", "1", "--steps", "2",
                                  "--batch-size", "8", "--device", "cpu", "--out", directory.appendingPathComponent("run").path] + extra)
        XCTAssertEqual(result.status, 0, result.stderr)
        return result
    }

    func testTheRunLogIsPlainLines() throws {
        let lines = try run([]).stderr.split(whereSeparator: \.isNewline).map(String.init)
        XCTAssertEqual(lines.map { String($0.prefix(while: { $0 != ":" })) }, ["data", "normalisation", "model", "learning rate", "memory"], lines.joined(separator: "\n"))
        XCTAssertTrue(lines[0].hasPrefix("data: fashion-mnist, 32 training and 32 test images of 1x28x28, 10 classes"), lines[0])
        XCTAssertTrue(lines[4].hasPrefix("memory: about "), lines[4])
    }

    func testJSONLogLinesCarryTimeAndLevel() throws {
        let lines = try run(["--log-format", "json"]).stderr.split(whereSeparator: \.isNewline)
        XCTAssertEqual(lines.count, 5)
        for line in lines {
            let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String], String(line))
            XCTAssertEqual(object["level"], "info")
            XCTAssertNotNil(object["time"].flatMap { ISO8601DateFormatter.withFractions.date(from: $0) }, String(line))
            XCTAssertNotNil(object["message"])
        }
    }

    func testQuietPrintsNothingForARunThatWorks() throws {
        let result = try run(["--quiet"])
        XCTAssertEqual(result.stderr, "")
        XCTAssertEqual(result.stdout, "")
    }
}

extension ISO8601DateFormatter {
    static var withFractions: ISO8601DateFormatter {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter
    }
}
