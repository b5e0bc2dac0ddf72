import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import CLTrainTraining
import XCTest
@testable import CLTrainReport

/// Parses a document and collects element names and all text content.
final class XMLCollector: NSObject, XMLParserDelegate {
    var elements: [String] = []
    var attributes: [[String: String]] = []
    var text = ""
    var error: Error?

    func parser(_ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?,
                qualifiedName qName: String?, attributes attributeDict: [String: String] = [:]) {
        elements.append(elementName)
        attributes.append(attributeDict)
    }
    func parser(_ parser: XMLParser, foundCharacters string: String) { text += string }
    func parser(_ parser: XMLParser, parseErrorOccurred parseError: Error) { error = parseError }

    static func parse(_ svg: String, file: StaticString = #filePath, line: UInt = #line) -> XMLCollector {
        let collector = XMLCollector()
        let parser = XMLParser(data: Data(svg.utf8))
        parser.delegate = collector
        let ok = parser.parse()
        XCTAssertTrue(ok, "not well-formed XML: \(String(describing: parser.parserError ?? collector.error))",
                      file: file, line: line)
        return collector
    }
}

final class TrainingPlotTests: XCTestCase {
    func metrics(_ count: Int) -> [EpochMetrics] {
        (1...count).map { e in
            let t = Double(e)
            return EpochMetrics(epoch: e, step: e * 100, learningRate: 0.1, trainLoss: 2 / t, trainAccuracy: 1 - 0.5 / t,
                                testLoss: 2.2 / t, testAccuracy: 1 - 0.6 / t, seconds: 10, imagesPerSecond: 500)
        }
    }

    func assertWellFormedPlot(_ svg: String, title: String, file: StaticString = #filePath, line: UInt = #line) {
        let doc = XMLCollector.parse(svg, file: file, line: line)
        XCTAssertEqual(doc.elements.first, "svg", file: file, line: line)
        XCTAssertEqual(doc.attributes.first?["viewBox"], "0 0 800 500", file: file, line: line)
        XCTAssertTrue(doc.text.contains("Loss"), file: file, line: line)
        XCTAssertTrue(doc.text.contains("Accuracy (%)"), file: file, line: line)
        XCTAssertTrue(doc.text.contains("train"), file: file, line: line)
        XCTAssertTrue(doc.text.contains("test"), file: file, line: line)
        XCTAssertTrue(doc.text.contains("epoch"), file: file, line: line)
        XCTAssertTrue(doc.text.contains(title), "title lost through escaping", file: file, line: line)
        XCTAssertFalse(svg.contains("nan"), file: file, line: line)
        XCTAssertFalse(svg.contains("inf"), file: file, line: line)
        XCTAssertFalse(svg.contains("href"), "no external assets", file: file, line: line)
    }

    func testTenEpochsWithEscapedTitle() {
        let title = "densenet-bc-40 on fashion-mnist, cpu <k=12 & \"bc\">"
        let svg = TrainingPlot.svg(metrics(10), title: title)
        XCTAssertTrue(svg.contains("densenet-bc-40 on fashion-mnist, cpu &lt;k=12 &amp; &quot;bc&quot;&gt;"))
        XCTAssertFalse(svg.contains("<k=12"))
        assertWellFormedPlot(svg, title: title)
        // Two lines per panel (train solid, test dashed).
        XCTAssertEqual(svg.components(separatedBy: "<polyline points=").count - 1, 2 + 4)  // 2 axes + 4 series
        // Accuracy is in percent: the top tick reaches 100, not 1.
        XCTAssertTrue(svg.contains(">100<"), svg)
    }

    func testOneEpochGivesDotsAndNoDivisionByZero() {
        let svg = TrainingPlot.svg(metrics(1), title: "one")
        assertWellFormedPlot(svg, title: "one")
        XCTAssertEqual(svg.components(separatedBy: "<circle").count - 1, 2 + 4)  // 2 legend + 4 points
        XCTAssertFalse(svg.contains("NaN"))
    }

    /// The loss panel's thin per-step line: drawn under the epoch points (no dots of its own) and
    /// inside the panel, for a 1-epoch run too (its points lie between epochs 0 and 1).
    func testTheLossPanelDrawsTheStepCurveInsideItself() throws {
        for epochs in [1, 3] {
            let curve = (1...(25 * epochs)).map { LossCurve.Point(epoch: Double($0) / 25, loss: 2 / (1 + Double($0) / 10)) }
            let svg = TrainingPlot.svg(metrics(epochs), curve: curve, title: "curve")
            assertWellFormedPlot(svg, title: "curve")
            XCTAssertEqual(svg.components(separatedBy: "<circle").count - 1, 2 + 4 * epochs, "\(epochs) epochs: dots only for epochs")
            let thin = try XCTUnwrap(svg.components(separatedBy: "\n").first { $0.contains("stroke-opacity") })
            let xs = thin.components(separatedBy: "points=\"")[1].components(separatedBy: "\"")[0]
                .split(separator: " ").map { Double($0.split(separator: ",")[0])! }
            XCTAssertEqual(xs.count, curve.count)
            // The loss panel spans x 62 ... 387 in an 800-wide plot.
            XCTAssertGreaterThanOrEqual(xs.min()!, 62, "\(epochs) epochs")
            XCTAssertLessThanOrEqual(xs.max()!, 387.01, "\(epochs) epochs")
        }
    }

    func testNaNInfinityAndMissingTestValuesAreSkipped() {
        var m = metrics(6)
        m[2].trainLoss = .nan
        m[3].trainLoss = .infinity
        m[1].testLoss = nil
        m[1].testAccuracy = nil
        m[5].testAccuracy = -.infinity
        let svg = TrainingPlot.svg(m, title: "diverged")
        assertWellFormedPlot(svg, title: "diverged")
        // 6 train accuracy + 4 train loss + 5 test loss + 4 test accuracy points, + 2 legend dots.
        XCTAssertEqual(svg.components(separatedBy: "<circle").count - 1, 6 + 4 + 5 + 4 + 2)
    }

    func testConstantValuesNoTestAndEmpty() {
        let flat = (1...4).map {
            EpochMetrics(epoch: $0, step: $0, learningRate: 0.1, trainLoss: 0.5, trainAccuracy: 0,
                         seconds: 1, imagesPerSecond: 1)
        }
        assertWellFormedPlot(TrainingPlot.svg(flat, title: "flat"), title: "flat")
        assertWellFormedPlot(TrainingPlot.svg([], title: "empty"), title: "empty")
        let allNaN = [EpochMetrics(epoch: 1, step: 1, learningRate: 0.1, trainLoss: .nan, trainAccuracy: .nan,
                                   seconds: 1, imagesPerSecond: 1)]
        assertWellFormedPlot(TrainingPlot.svg(allNaN, title: "all missing"), title: "all missing")
    }

    func testEscapeXMLReplacesCharactersXMLForbids() {
        XCTAssertEqual(TrainingPlot.escapeXML("a<b>&'\""), "a&lt;b&gt;&amp;&apos;&quot;")
        XCTAssertEqual(TrainingPlot.escapeXML("bell\u{7}é"), "bell\u{FFFD}é")
        let svg = TrainingPlot.svg(metrics(3), title: "ctl\u{1}\u{0}")
        _ = XMLCollector.parse(svg)
    }

    func testTicksAreNiceAndCoverTheData() {
        let axis = TrainingPlot.axis([0.23, 2.31])
        XCTAssertLessThanOrEqual(axis.lower, 0.23)
        XCTAssertGreaterThanOrEqual(axis.upper, 2.31)
        XCTAssertEqual(axis.step, 0.5)
        XCTAssertEqual(axis.ticks, [0, 0.5, 1, 1.5, 2, 2.5])
        XCTAssertEqual(TrainingPlot.label(0.5, step: 0.5), "0.5")
        XCTAssertEqual(TrainingPlot.label(86, step: 2), "86")
        let epochs = TrainingPlot.integerAxis((1...300).map(Double.init))
        XCTAssertEqual(epochs.step, 50)
        XCTAssertEqual(epochs.ticks.first, 50)
        XCTAssertEqual(epochs.ticks.last, 300)
        let constant = TrainingPlot.axis([3, 3, 3])
        XCTAssertLessThan(constant.lower, 3)
        XCTAssertGreaterThan(constant.upper, 3)
    }
}
