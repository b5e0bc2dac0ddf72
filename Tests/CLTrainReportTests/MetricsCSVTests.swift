import CLTrainTestSupport
import Foundation
import CLTrainTraining
import XCTest
@testable import CLTrainReport

final class MetricsCSVTests: XCTestCase {
    static let sample = [
        EpochMetrics(epoch: 1, step: 469, learningRate: 0.1, trainLoss: 0.6234, trainAccuracy: 0.771234,
                     testLoss: 0.5012, testAccuracy: 0.8123, seconds: 61.25, imagesPerSecond: 980.5),
        EpochMetrics(epoch: 2, step: 938, learningRate: 0.1, trainLoss: 0.412345, trainAccuracy: 0.85,
                     testLoss: nil, testAccuracy: nil, seconds: 60.5, imagesPerSecond: 991.0),
        EpochMetrics(epoch: 3, step: 1407, learningRate: 1e-05, trainLoss: 1.5e-05, trainAccuracy: 1,
                     testLoss: 0.3, testAccuracy: 0.9, seconds: 59.875, imagesPerSecond: 1002.4),
    ]

    func testRendersHeaderAndRows() {
        let text = MetricsCSV.render(Self.sample)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        XCTAssertEqual(lines.count, 5)  // header, 3 rows, empty after the final newline
        XCTAssertEqual(lines[0], "epoch,step,lr,train_loss,train_accuracy,test_loss,test_accuracy,seconds,images_per_second")
        XCTAssertEqual(lines[1], "1,469,0.1,0.6234,0.771234,0.5012,0.812300,61.250,980.5")
        XCTAssertEqual(lines[2], "2,938,0.1,0.412345,0.850000,,,60.500,991.0")
        XCTAssertEqual(lines[3], "3,1407,1e-05,1.5e-05,1.000000,0.3,0.900000,59.875,1002.4")
        XCTAssertEqual(lines[4], "")
    }

    func testRoundTripKeepsValuesAndMissingOptionals() throws {
        let parsed = try MetricsCSV.parse(MetricsCSV.render(Self.sample))
        XCTAssertEqual(parsed.count, Self.sample.count)
        for (a, b) in zip(parsed, Self.sample) {
            XCTAssertEqual(a.epoch, b.epoch)
            XCTAssertEqual(a.step, b.step)
            XCTAssertEqual(a.learningRate, b.learningRate)  // exact
            XCTAssertEqual(a.trainLoss, b.trainLoss, accuracy: abs(b.trainLoss) * 1e-5)
            XCTAssertEqual(a.trainAccuracy, b.trainAccuracy, accuracy: 1e-6)
            XCTAssertEqual(a.testLoss == nil, b.testLoss == nil)
            XCTAssertEqual(a.testAccuracy == nil, b.testAccuracy == nil)
            if let x = a.testLoss, let y = b.testLoss { XCTAssertEqual(x, y, accuracy: abs(y) * 1e-5) }
            if let x = a.testAccuracy, let y = b.testAccuracy { XCTAssertEqual(x, y, accuracy: 1e-6) }
            XCTAssertEqual(a.seconds, b.seconds, accuracy: 1e-3)
            XCTAssertEqual(a.imagesPerSecond, b.imagesPerSecond, accuracy: 0.1)
        }
        // Text written and read back again is stable.
        XCTAssertEqual(MetricsCSV.render(parsed), MetricsCSV.render(Self.sample))
    }

    func testRoundTripOfNonFiniteLossAndEmptyLog() throws {
        let diverged = EpochMetrics(epoch: 1, step: 10, learningRate: 10, trainLoss: .nan, trainAccuracy: 0.1,
                                    testLoss: .infinity, testAccuracy: 0.1, seconds: 1, imagesPerSecond: 1)
        let text = MetricsCSV.render([diverged])
        XCTAssertTrue(text.contains(",nan,"), text)
        XCTAssertTrue(text.contains(",inf,"), text)
        let parsed = try MetricsCSV.parse(text)
        XCTAssertTrue(parsed[0].trainLoss.isNaN)
        XCTAssertEqual(parsed[0].testLoss, .infinity)
        XCTAssertEqual(try MetricsCSV.parse(MetricsCSV.render([])), [])
    }

    func testParsesCRLFBlankLinesAndAppendedRows() throws {
        var text = MetricsCSV.header + "\r\n"
        for m in Self.sample { text += MetricsCSV.row(m) + "\r\n\r\n" }
        let parsed = try MetricsCSV.parse(text)
        XCTAssertEqual(parsed.map(\.epoch), [1, 2, 3])
        XCTAssertNil(parsed[1].testAccuracy)
    }

    func testEpochMetricsIsCodable() throws {
        let data = try JSONEncoder().encode(Self.sample)
        XCTAssertEqual(try JSONDecoder().decode([EpochMetrics].self, from: data), Self.sample)
    }

    func assertError(_ text: String, _ expected: MetricsCSVError, file: StaticString = #filePath, line: UInt = #line) {
        assertOneLineError(MetricsCSVError.self, try MetricsCSV.parse(text, source: "run/metrics.csv"), prefix: "run/metrics.csv",
                           file: file, line: line) { $0 == expected }
    }

    func testErrors() {
        let header = MetricsCSV.header + "\n"
        assertError("", .empty(source: "run/metrics.csv"))
        assertError("\n  \n", .empty(source: "run/metrics.csv"))
        assertError("epoch,step,lr\n1,2,0.1\n", .badHeader(source: "run/metrics.csv", found: "epoch,step,lr"))
        assertError(header + "1,469,0.1,0.6,0.7\n",
                    .wrongFieldCount(source: "run/metrics.csv", line: 2, expected: 9, found: 5))
        assertError(header + "1,469,0.1,0.6,0.7,,,1,1\n2,938,0.1,abc,0.7,,,1,1\n",
                    .invalidValue(source: "run/metrics.csv", line: 3, column: "train_loss", value: "abc"))
        assertError(header + "1.5,469,0.1,0.6,0.7,,,1,1\n",
                    .invalidValue(source: "run/metrics.csv", line: 2, column: "epoch", value: "1.5"))
        assertError(header + "0,469,0.1,0.6,0.7,,,1,1\n",
                    .invalidValue(source: "run/metrics.csv", line: 2, column: "epoch", value: "0"))
        assertError(header + "1,469,,0.6,0.7,,,1,1\n",
                    .invalidValue(source: "run/metrics.csv", line: 2, column: "lr", value: ""))
        // A partial last line (interrupted write).
        assertError(header + "1,469,0.1,0.6,0.7,,,1,1\n2,93",
                    .wrongFieldCount(source: "run/metrics.csv", line: 3, expected: 9, found: 2))
    }

    func testErrorDescriptionsStayOnOneLine() {
        let error = MetricsCSVError.badHeader(source: "a\nb.csv", found: "x\ty")
        XCTAssertEqual(error.description.split(separator: "\n").count, 1)
        XCTAssertTrue(error.description.contains("a\\u{a}b.csv"), error.description)
        XCTAssertTrue(MetricsCSVError.invalidValue(source: "m.csv", line: 4, column: "lr", value: "")
            .description.contains("empty field"))
    }
}
