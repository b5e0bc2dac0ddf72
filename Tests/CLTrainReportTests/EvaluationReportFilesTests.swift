import CLTrainData
import CLTrainTestSupport
import CLTrainTraining
import Foundation
import XCTest
@testable import CLTrainReport

/// The raster canvas draws where it is told, and its PNGs read back.
final class RasterCanvasTests: XCTestCase {
    func testFilledAndOutlinedRectanglesLandOnTheirPixels() {
        var canvas = RasterCanvas(width: 20, height: 10)
        canvas.fill(x: 2, y: 3, width: 4, height: 2, .wrong)
        XCTAssertEqual(canvas.pixel(x: 2, y: 3), .wrong)
        XCTAssertEqual(canvas.pixel(x: 5, y: 4), .wrong)
        XCTAssertEqual(canvas.pixel(x: 6, y: 4), .white, "right of the rectangle")
        XCTAssertEqual(canvas.pixel(x: 2, y: 5), .white, "below it")
        canvas.stroke(x: 10, y: 1, width: 6, height: 6, .black)
        XCTAssertEqual(canvas.pixel(x: 10, y: 1), .black)
        XCTAssertEqual(canvas.pixel(x: 15, y: 6), .black)
        XCTAssertEqual(canvas.pixel(x: 12, y: 3), .white, "an outline leaves the inside")
        // Clipped, not a crash.
        canvas.fill(x: -5, y: -5, width: 100, height: 7, .right)
        XCTAssertEqual(canvas.pixel(x: 19, y: 1), .right)
        XCTAssertEqual(canvas.pixel(x: 0, y: 2), .white)
    }

    func testTextDrawsItsGlyphsInsideItsBox() {
        var canvas = RasterCanvas(width: 40, height: 20)
        canvas.text("A", x: 4, y: 2, scale: 2)
        let ink = (0..<20).flatMap { y in (0..<40).map { x in (x, y) } }.filter { canvas.pixel(x: $0.0, y: $0.1) != .white }
        XCTAssertGreaterThan(ink.count, 20, "a glyph is not blank")
        XCTAssertTrue(ink.allSatisfy { (4..<14).contains($0.0) && (2..<16).contains($0.1) }, "\(ink)")
        // A's apex: the top row is ink in the middle column, not at the corners.
        XCTAssertEqual(canvas.pixel(x: 8, y: 2), .black)
        XCTAssertEqual(canvas.pixel(x: 4, y: 2), .white)
        XCTAssertEqual(BitmapFont.width(of: "AB", scale: 2), 22)
        XCTAssertEqual(BitmapFont.table.count, 95 * BitmapFont.glyphWidth, "one glyph per printable ASCII character")
        // Anything else draws as '?', not nothing.
        for (x, y) in [(0, 0), (1, 3), (4, 6)] {
            XCTAssertEqual(BitmapFont.isInk("é", column: x, row: y), BitmapFont.isInk("?", column: x, row: y))
        }
        // Text turned upwards: the ink is a column above y, starting at x.
        var turned = RasterCanvas(width: 20, height: 40)
        turned.text("AB", x: 5, y: 30, upward: true)
        let up = (0..<40).flatMap { y in (0..<20).map { x in (x, y) } }.filter { turned.pixel(x: $0.0, y: $0.1) != .white }
        XCTAssertFalse(up.isEmpty)
        XCTAssertTrue(up.allSatisfy { (5..<12).contains($0.0) && (19..<30).contains($0.1) }, "\(up)")
    }

    func testImagesScaleByNearestNeighbourAndThePNGReadsBack() throws {
        let image = DecodedImage(pixels: [0, 85, 170, 255], width: 2, height: 2, channels: 1)
        var canvas = RasterCanvas(width: 8, height: 6, background: RGB(1, 2, 3))
        canvas.draw(image, x: 2, y: 1, width: 4, height: 4)
        XCTAssertEqual(canvas.pixel(x: 2, y: 1), RGB(0, 0, 0))
        XCTAssertEqual(canvas.pixel(x: 3, y: 2), RGB(0, 0, 0))
        XCTAssertEqual(canvas.pixel(x: 4, y: 1), RGB(85, 85, 85))
        XCTAssertEqual(canvas.pixel(x: 5, y: 4), RGB(255, 255, 255))
        XCTAssertEqual(canvas.pixel(x: 2, y: 3), RGB(170, 170, 170))
        XCTAssertEqual(canvas.pixel(x: 6, y: 1), RGB(1, 2, 3), "outside the image")

        let decoded = try ImageCodec.decode(try ImageCodec.encodePNG(canvas.image), source: "canvas")
        XCTAssertEqual([decoded.width, decoded.height, decoded.channels], [8, 6, 3])
        XCTAssertEqual(decoded.pixels, canvas.pixels)
    }
}

/// `ReportFolder` writes every file, and each is what it says.
final class ReportFolderTests: XCTestCase {
    /// Ten 6x6 images of 3 classes, three of them misclassified.
    func report(names: [String] = ["T-shirt/top", "Trouser", "Pullover"]) -> EvaluationReport {
        let labels: [Int32] = [0, 1, 2, 0, 1, 2, 0, 1, 2, 0]
        let predicted = [0, 1, 2, 1, 1, 0, 0, 1, 1, 0]
        let set = ImageDataset(images: (0..<360).map { UInt8($0 % 256) }, labels: labels, count: 10, channels: 1, height: 6, width: 6,
                               classes: 3, classNames: names)
        return EvaluationReport(dataset: set, predicted: predicted, loss: 0.7, classNames: names, model: "densenet-bc-10-k4",
                                weights: "w.safetensors", datasetName: "synthetic", device: "cpu")
    }

    func testEveryFileIsWrittenAndReadsBack() throws {
        let folder = try makeTemporaryDirectory().appendingPathComponent("nested/report")
        let report = report()
        let written = try ReportFolder.write(report, to: folder.path)
        XCTAssertEqual(written.map { ($0 as NSString).lastPathComponent }, ReportFolder.files)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted(), ReportFolder.files.sorted(),
                       "no temporary files left")

        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("report.json")))
            as? [String: Any])
        XCTAssertEqual(json["images"] as? Int, 10)
        XCTAssertEqual(json["accuracy"] as? Double ?? 0, 0.7, accuracy: 1e-12)
        XCTAssertEqual(json["class_names"] as? [String], ["T-shirt/top", "Trouser", "Pullover"])
        let confusion = try XCTUnwrap(json["confusion"] as? [[Int]])
        XCTAssertEqual(confusion.joined().reduce(0, +), 10, "the matrix counts every image once")
        XCTAssertEqual(confusion, [[3, 1, 0], [0, 3, 0], [1, 1, 1]])
        let perClass = try XCTUnwrap(json["per_class"] as? [[String: Any]])
        XCTAssertEqual(perClass.compactMap { $0["count"] as? Int }.reduce(0, +), 10)
        XCTAssertEqual(perClass[2]["recall"] as? Double ?? 0, 1.0 / 3.0, accuracy: 1e-12)
        for key in ["model", "weights", "dataset", "date", "loss", "misclassified", "grid"] { XCTAssertNotNil(json[key], key) }
        XCTAssertEqual((json["grid"] as? [[String: Any]])?.first?["index"] as? Int, 3, "the first mistake leads the grid")

        for (name, figure) in [("confusion", EvaluationFigures.confusion(report)), ("grid", EvaluationFigures.grid(report))] {
            let png = try ImageCodec.read(folder.appendingPathComponent("\(name).png").path)
            XCTAssertEqual([png.width, png.height, png.channels], [figure.width, figure.height, 3], name)
            let svg = try String(contentsOf: folder.appendingPathComponent("\(name).svg"), encoding: .utf8)
            let document = XMLCollector.parse(svg)
            XCTAssertEqual(document.elements.first, "svg")
            XCTAssertEqual(document.attributes.first?["width"], "\(figure.width)", name)
            XCTAssertTrue(document.text.contains("Pullover"), "\(name).svg names the classes")
        }
        let grid = try String(contentsOf: folder.appendingPathComponent("grid.svg"), encoding: .utf8)
        XCTAssertEqual(grid.components(separatedBy: "<image ").count - 1, 10, "one embedded picture per image")
        XCTAssertTrue(grid.contains("data:image/png;base64,"))
    }

    /// The grid's first cell frames a mistake in red, its last a right answer in green, and
    /// captions are drawn (not blank) under each picture.
    func testTheGridShowsMistakesFirstInRed() throws {
        let report = report()
        let figure = EvaluationFigures.grid(report, columns: 5)
        let canvas = figure.raster()
        let frames: [(Int, Int, RGB)] = figure.elements.compactMap {
            if case let .rect(x, y, _, _, fill?, nil, _) = $0, fill == .right || fill == .wrong { return (x, y, fill) }
            return nil
        }
        XCTAssertEqual(frames.count, 10)
        XCTAssertEqual(frames.map(\.2), [.wrong, .wrong, .wrong] + Array(repeating: .right, count: 7))
        XCTAssertEqual(canvas.pixel(x: frames[0].0, y: frames[0].1), .wrong)
        XCTAssertEqual(canvas.pixel(x: frames[9].0, y: frames[9].1), .right)
        let captions = figure.elements.compactMap { if case let .text(text, _, _, 2, color, _, _) = $0, color == .wrong { return text } else { return nil } }
        XCTAssertEqual(captions, ["Trouser", "T-shirt/top", "Trouser"], "the predicted names of the three mistakes")
    }

    func testTheConfusionFigureColoursRowsByTheirShareAndPrintsCounts() {
        let figure = EvaluationFigures.confusion(report())
        let cells = figure.elements.compactMap { element -> RGB? in
            if case let .rect(_, _, w, h, fill?, nil, _) = element, w == h, w == 52 { return fill }
            return nil
        }
        XCTAssertEqual(cells.count, 9)
        // Row 0 is 3 of 4 right: its diagonal darker than its off-diagonal cell, which is darker than an empty one.
        XCTAssertLessThan(cells[0].luma, cells[1].luma)
        XCTAssertLessThan(cells[1].luma, cells[2].luma)
        XCTAssertEqual(cells[2], EvaluationFigures.blues(0))
        let texts = figure.elements.compactMap { if case let .text(text, _, _, _, _, _, _) = $0 { return text } else { return nil } }
        XCTAssertTrue(texts.contains("75.0%"), "class 0's accuracy beside its row: \(texts)")
        XCTAssertEqual(texts.filter { $0 == "Trouser" }.count, 2, "a row label and a column label")
    }

    /// CIFAR-100's 100 classes: small cells without counts, the figure still of a viewable size.
    func testAHundredClassesFitOnAScreen() throws {
        let labels = (0..<300).map { Int32($0 % 100) }
        let set = ImageDataset(images: [UInt8](repeating: 9, count: 300 * 3 * 4 * 4), labels: labels, count: 300, channels: 3, height: 4,
                               width: 4, classes: 100, classNames: (0..<100).map { "class number \($0)" })
        let report = EvaluationReport(dataset: set, predicted: labels.map { (Int($0) + 1) % 100 }, loss: 4, classNames: set.classNames,
                                      model: "m", weights: "w", datasetName: "cifar100", device: "cpu")
        let figure = EvaluationFigures.confusion(report)
        XCTAssertLessThan(max(figure.width, figure.height), 1600)
        let counts = figure.elements.filter { if case let .text(text, _, _, _, _, _, _) = $0 { return Int(text) != nil } else { return false } }
        XCTAssertTrue(counts.isEmpty, "no counts in 12-pixel cells")
        let png = try ImageCodec.decode(try figure.png(), source: "confusion")
        XCTAssertEqual(png.width, figure.width)
        XCTAssertEqual(EvaluationFigures.grid(report).raster().width, EvaluationFigures.grid(report).width)
    }

    func testAFolderThatIsAFileIsOneLine() throws {
        let file = try makeTemporaryDirectory().appendingPathComponent("taken")
        try Data("x".utf8).write(to: file)
        assertOneLineError(ReportFolderError.self, try ReportFolder.write(report(), to: file.path), mentions: ["taken", "is a file"]) { _ in true }
        assertOneLineError(ReportFolderError.self, try ReportFolder.prepare(file.path + "/inside"), mentions: ["cannot be made"]) { _ in true }
        XCTAssertEqual(try Data(contentsOf: file), Data("x".utf8))
    }
}
