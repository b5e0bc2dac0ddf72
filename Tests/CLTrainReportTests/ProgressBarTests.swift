import Foundation
import XCTest
@testable import CLTrainReport

final class ProgressBarTests: XCTestCase {
    let fields = ProgressBar.trainingFields(loss: 0.41234, accuracy: 0.8624, imagesPerSecond: 812.3)

    func render(width: Int, done: Int = 1234, total: Int = 2813, elapsed: Double = 33) -> String {
        ProgressBar(prefix: "epoch 3/10", width: width).render(done: done, total: total, elapsed: elapsed, fields: fields)
    }

    func testTrainingFields() {
        XCTAssertEqual(fields, ["loss 0.4123", "acc 86.2%", "812 img/s"])
        XCTAssertEqual(ProgressBar.trainingFields(loss: 1.5), ["loss 1.5000"])
    }

    func testWidth80ShowsEverything() {
        let line = render(width: 80)
        // 1234 of 2813 in 33 s: 1579 left at 37.4/s -> 42 s.
        XCTAssertTrue(line.hasPrefix("epoch 3/10 ["), line)
        XCTAssertTrue(line.hasSuffix("] 43% 1234/2813 loss 0.4123 acc 86.2% 812 img/s ETA 0:42"), line)
        XCTAssertLessThanOrEqual(line.count, 80)
        XCTAssertGreaterThanOrEqual(barCells(line), ProgressBar.minBarCells)
    }

    func testWidth120CapsTheBar() {
        let line = render(width: 120)
        XCTAssertEqual(barCells(line), 40)
        XCTAssertLessThanOrEqual(line.count, 120)
        XCTAssertTrue(line.hasSuffix("812 img/s ETA 0:42"), line)
        // The bar is 43% full: 17 of 40 cells, the last one an arrow head.
        XCTAssertTrue(line.contains("[" + String(repeating: "=", count: 16) + ">" + String(repeating: " ", count: 23) + "]"), line)
    }

    func testWidth40DropsFieldsFromTheRightButKeepsETA() {
        let line = render(width: 40)
        XCTAssertLessThanOrEqual(line.count, 40)
        XCTAssertTrue(line.hasPrefix("epoch 3/10 ["), line)
        XCTAssertTrue(line.hasSuffix("ETA 0:42"), line)
        XCTAssertTrue(line.contains("43%"), line)
        XCTAssertFalse(line.contains("img/s"), line)
        XCTAssertGreaterThanOrEqual(barCells(line), ProgressBar.minBarCells)
    }

    func testEveryWidthFits() {
        for width in 0...130 {
            let line = render(width: width)
            XCTAssertLessThanOrEqual(line.count, width, "width \(width): \(line)")
        }
        XCTAssertEqual(render(width: 20), "epoch 3/10 43% ETA 0")  // hard truncation, no bar
    }

    func testETAAndEnds() {
        XCTAssertTrue(render(width: 80, done: 0, elapsed: 0).hasSuffix("0% 0/2813 loss 0.4123 acc 86.2% 812 img/s ETA --:--"))
        XCTAssertTrue(render(width: 80, done: 0, elapsed: 0).contains("[" + String(repeating: " ", count: 10)))
        // Half way after 30 minutes: 30 minutes left.
        XCTAssertTrue(render(width: 80, done: 500, total: 1000, elapsed: 1800).hasSuffix("ETA 30:00"))
        XCTAssertTrue(render(width: 80, done: 100, total: 1000, elapsed: 1800).hasSuffix("ETA 4:30:00"))
        let finished = render(width: 80, done: 2813, elapsed: 125)
        XCTAssertTrue(finished.hasSuffix("100% 2813/2813 loss 0.4123 acc 86.2% 812 img/s took 2:05"), finished)
        XCTAssertTrue(finished.contains("[" + String(repeating: "=", count: barCells(finished)) + "]"), finished)
        XCTAssertTrue(ProgressBar(width: 40).render(done: 0, total: 0, elapsed: 0).hasSuffix("0% 0/0 ETA --:--"))
    }

    func testFormatDuration() {
        XCTAssertEqual(ProgressBar.formatDuration(0), "0:00")
        XCTAssertEqual(ProgressBar.formatDuration(5), "0:05")
        XCTAssertEqual(ProgressBar.formatDuration(245), "4:05")
        XCTAssertEqual(ProgressBar.formatDuration(59.6), "1:00")
        XCTAssertEqual(ProgressBar.formatDuration(3599), "59:59")
        XCTAssertEqual(ProgressBar.formatDuration(3600), "1:00:00")
        XCTAssertEqual(ProgressBar.formatDuration(3723), "1:02:03")
        XCTAssertEqual(ProgressBar.formatDuration(100 * 3600 + 61), "100:01:01")
        XCTAssertEqual(ProgressBar.formatDuration(-1), "--:--")
        XCTAssertEqual(ProgressBar.formatDuration(.nan), "--:--")
        XCTAssertEqual(ProgressBar.formatDuration(.infinity), "--:--")
    }

    func testIsTerminalIsFalseForAPipe() {
        let pipe = Pipe()
        XCTAssertFalse(ProgressBar.isTerminal(pipe.fileHandleForWriting.fileDescriptor))
        XCTAssertFalse(ProgressBar.isTerminal(-1))
        XCTAssertEqual(ProgressBar.terminalWidth(pipe.fileHandleForWriting.fileDescriptor, fallback: 77) > 0, true)
    }

    func testPrinterThrottlesAndFinishes() throws {
        let pipe = Pipe()
        var now = 0.0
        let printer = ProgressPrinter(handle: pipe.fileHandleForWriting, bar: ProgressBar(prefix: "e1", width: 40),
                                      clock: { now })
        printer.update(done: 1, total: 10, elapsed: 1)       // written (first)
        now = 0.05
        printer.update(done: 2, total: 10, elapsed: 2)       // too soon: kept
        now = 0.08
        printer.update(done: 3, total: 10, elapsed: 3)       // too soon: replaces the kept one
        now = 0.2
        printer.update(done: 4, total: 10, elapsed: 4)       // written
        now = 0.21
        printer.update(done: 5, total: 10, elapsed: 5)       // kept, written by finish()
        printer.finish()
        printer.finish()                                      // no second newline
        try pipe.fileHandleForWriting.close()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let writes = output.split(separator: "\r", omittingEmptySubsequences: true)
        XCTAssertEqual(writes.count, 3, output)
        XCTAssertTrue(writes[0].contains(" 1/10 "))
        XCTAssertTrue(writes[1].contains(" 4/10 "))
        XCTAssertTrue(writes[2].contains(" 5/10 "))
        XCTAssertTrue(output.hasSuffix("\n"))
        XCTAssertEqual(output.filter { $0 == "\n" }.count, 1)
    }

    func testPrinterAlwaysWritesCompletionAndPadsShorterLines() throws {
        let pipe = Pipe()
        let now = 0.0
        let printer = ProgressPrinter(handle: pipe.fileHandleForWriting, bar: ProgressBar(width: 60), clock: { now })
        printer.update(done: 1, total: 2, elapsed: 1, fields: ["a long field here"])
        printer.update(done: 2, total: 2, elapsed: 2)           // complete: written despite the clock
        printer.finish()
        try pipe.fileHandleForWriting.close()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let writes = output.split(separator: "\r")
        XCTAssertEqual(writes.count, 2, output)
        XCTAssertEqual(writes[0].count, writes[1].count - 1, output)  // padded to the same length, plus "\n"
        XCTAssertTrue(writes[1].hasPrefix("[") && writes[1].contains("100% 2/2 took 0:02"), output)
    }

    /// Inner cells between the brackets.
    func barCells(_ line: String) -> Int {
        guard let open = line.firstIndex(of: "["), let close = line.firstIndex(of: "]") else { return 0 }
        return line.distance(from: open, to: close) - 1
    }
}
