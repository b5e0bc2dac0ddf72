import CLTrainData
import CLTrainNN
import CLTrainRuntime
import CLTrainTestSupport
import CLTrainTraining
import Foundation
import XCTest

/// The numbers of `eval --report` on a case small enough to check by hand.
final class EvaluationReportTests: XCTestCase {
    /// Six 2x2 gray images whose pixels are their index, labels 0 0 0 1 1 2.
    func dataset() -> ImageDataset {
        ImageDataset(images: (0..<6).flatMap { [UInt8](repeating: UInt8($0 * 40), count: 4) }, labels: [0, 0, 0, 1, 1, 2], count: 6,
                     channels: 1, height: 2, width: 2, classes: 3, classNames: ["cat", "dog", "bird"])
    }

    func testConfusionMatrixAndPerClassNumbersByHand() {
        // Image 1 (a cat) is called a dog, image 5 (a bird) a cat; the rest are right.
        let report = EvaluationReport(dataset: dataset(), predicted: [0, 1, 0, 1, 1, 0], loss: 0.5, classNames: ["cat", "dog", "bird"],
                                      model: "m", weights: "w", datasetName: "d", device: "cpu", gridSize: 4)
        XCTAssertEqual(report.confusion, [[2, 1, 0], [0, 2, 0], [1, 0, 0]])
        XCTAssertEqual(report.accuracy, 4.0 / 6.0, accuracy: 1e-12)
        XCTAssertEqual(report.wrong, 2)
        XCTAssertEqual(report.perClass.map(\.count), [3, 2, 1])
        XCTAssertEqual(report.perClass.map(\.predicted), [3, 3, 0])
        XCTAssertEqual(report.perClass.map(\.correct), [2, 2, 0])
        XCTAssertEqual(report.perClass[0].accuracy!, 2.0 / 3.0, accuracy: 1e-12)
        XCTAssertEqual(report.perClass[0].precision!, 2.0 / 3.0, accuracy: 1e-12)
        XCTAssertEqual(report.perClass[1].recall, 1)
        XCTAssertEqual(report.perClass[1].precision!, 2.0 / 3.0, accuracy: 1e-12)
        XCTAssertEqual(report.perClass[2].accuracy, 0)
        XCTAssertNil(report.perClass[2].precision, "nothing was predicted as a bird")
        // The two mistakes first, then the first right ones, each group in order.
        XCTAssertEqual(report.grid.map(\.index), [1, 5, 0, 2])
        XCTAssertEqual(report.grid.map(\.isCorrect), [false, false, true, true])
        XCTAssertEqual(report.grid[1].image.pixels, [200, 200, 200, 200], "the grid shows image 5's own pixels")
    }

    func testClassesBeyondTheNamesGetTheirIndexAndEmptyClassesHaveNoAccuracy() {
        // A model of 5 classes predicts class 4, which the data set (3 classes) never has.
        let report = EvaluationReport(dataset: dataset(), predicted: [0, 0, 4, 1, 1, 2], loss: 0, classNames: ["cat", "dog", "bird"],
                                      model: "m", weights: "w", datasetName: "d", device: "cpu")
        XCTAssertEqual(report.classNames, ["cat", "dog", "bird", "3", "4"])
        XCTAssertEqual(report.confusion[0], [2, 0, 0, 0, 1])
        XCTAssertNil(report.perClass[4].accuracy)
        XCTAssertEqual(report.perClass[4].precision, 0)
        XCTAssertEqual(report.confusion.joined().reduce(0, +), 6)
        XCTAssertEqual(report.grid.count, 6)
    }
}

/// `cltrain predict`'s use case on image files and IDX files from the same pixels.
final class PredictionTests: XCTestCase {
    var directory: URL!
    static let names = ["cat", "dog", "bird"]
    static let normalization = Normalization(mean: [0.4], std: [0.3])

    override func setUpWithError() throws {
        directory = try makeTemporaryDirectory()
    }

    /// densenet-bc-10-k4 for 8x8 gray images and 3 named classes, saved as cltrain saves weights.
    func weights(names: [String] = PredictionTests.names) throws -> String {
        let model = try XCTUnwrap(ModelCatalog.entry(named: "densenet-bc-10-k4"))
            .make(inputChannels: 1, classes: 3, device: Device(backend: CPUBackend()), seed: 7)
        let url = directory.appendingPathComponent("w.safetensors")
        let stored = RunMetadata(model: "densenet-bc-10-k4", dataset: "synthetic", inputChannels: 1, classes: 3, height: 8, width: 8,
                                 normalization: Self.normalization, classNames: names)
        try ModelWeights.save(model, to: url, metadata: stored.dictionary)
        return url.path
    }

    func run(_ inputs: [String], weights: String, classNamesFile: String? = nil) throws -> Prediction.Result {
        try Prediction.run(model: "densenet-bc-10-k4", weights: weights, inputs: inputs, classes: 3, classNamesFile: classNamesFile,
                           override: nil, device: .cpu, batchSize: 2)
    }

    /// Image `i` of 8x8: a pattern of its own.
    func pixels(_ i: Int) -> [UInt8] { (0..<64).map { UInt8(truncatingIfNeeded: ($0 * 37 + i * 91) % 256) } }

    func writeIDX(_ images: [[UInt8]], name: String) throws -> String {
        let path = directory.appendingPathComponent(name).path
        try Data(idxImages(count: images.count, rows: 8, cols: 8) { images[$0 / 64][$0 % 64] }).write(to: URL(fileURLWithPath: path))
        return path
    }

    func testPNGFilesGiveTheLogitsOfTheSamePixelsAsIDX() throws {
        let w = try weights()
        let folder = directory.appendingPathComponent("pngs")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for i in 0..<3 {
            let png = try ImageCodec.encodePNG(DecodedImage(pixels: pixels(i), width: 8, height: 8, channels: 1))
            try Data(png).write(to: folder.appendingPathComponent("image-\(i).png"))
        }
        // Also a file that is no image, which a folder's listing skips.
        try Data("notes".utf8).write(to: folder.appendingPathComponent("README.txt"))
        let idx = try writeIDX((0..<3).map(pixels), name: "images.idx")

        let fromFolder = try run([folder.path], weights: w)
        let fromIDX = try run([idx], weights: w)
        XCTAssertEqual(fromFolder.rows.map { ($0.source as NSString).lastPathComponent }, ["image-0.png", "image-1.png", "image-2.png"])
        XCTAssertEqual(fromIDX.rows.map(\.label), ["\(idx)[0]", "\(idx)[1]", "\(idx)[2]"])
        XCTAssertEqual(fromFolder.classNames, Self.names)
        for (a, b) in zip(fromFolder.rows, fromIDX.rows) {
            assertClose(a.logits, b.logits, rtol: 1e-6, atol: 1e-6)
        }
        XCTAssertNotEqual(fromIDX.rows[0].logits, fromIDX.rows[1].logits, "different images, different logits")
        // A file named directly, and files and IDX together, in the order given.
        let mixed = try run([folder.appendingPathComponent("image-2.png").path, idx], weights: w)
        XCTAssertEqual(mixed.rows.count, 4)
        assertClose(mixed.rows[0].logits, fromIDX.rows[2].logits, rtol: 1e-6, atol: 1e-6)
    }

    /// A colour JPEG of another size and aspect: converted to gray, scaled to cover 8x8 and
    /// center-cropped, it must give the logits of those pixels written as IDX.
    func testAColourJPEGIsConvertedFittedAndMatchesIDXOfTheSamePixels() throws {
        guard pythonCanImport("PIL") else { throw XCTSkip("Pillow is not installed: no JPEG to test with") }
        let jpeg = directory.appendingPathComponent("photo.jpg").path
        _ = try runPython("""
            import sys
            from PIL import Image
            img = Image.new("RGB", (20, 12))
            img.putdata([((x * 13) % 256, (y * 21) % 256, ((x + y) * 7) % 256) for y in range(12) for x in range(20)])
            img.save(sys.argv[1], quality=95)
            """, [jpeg])
        let decoded = try ImageCodec.read(jpeg)
        XCTAssertEqual([decoded.width, decoded.height, decoded.channels], [20, 12, 3])
        let fitted = decoded.converted(toChannels: 1).fitted(toHeight: 8, width: 8)
        XCTAssertEqual([fitted.width, fitted.height, fitted.channels], [8, 8, 1])
        let idx = try writeIDX([fitted.pixels], name: "fitted.idx")

        let w = try weights()
        let fromJPEG = try run([jpeg], weights: w)
        let fromIDX = try run([idx], weights: w)
        assertClose(fromJPEG.rows[0].logits, fromIDX.rows[0].logits, rtol: 1e-6, atol: 1e-6)
    }

    func testFittingKeepsTheCentreAndAveragesWhenShrinking() {
        // 4 columns x 2 rows; to 2x2 the cover scale is 1 (rows fit), crop keeps columns 1 and 2.
        let wide = DecodedImage(pixels: [0, 10, 20, 30, 40, 50, 60, 70], width: 4, height: 2, channels: 1)
        XCTAssertEqual(wide.fitted(toHeight: 2, width: 2).pixels, [10, 20, 50, 60])
        // 4x4 halves to 2x2 with taps 3/7 3/7 1/7 (the antialiased filter): what Pillow's
        // `resize((2, 2), BILINEAR)` gives for this image.
        let square = DecodedImage(pixels: [0, 0, 100, 100, 0, 0, 100, 100, 200, 200, 40, 40, 200, 200, 40, 40], width: 4, height: 4,
                                  channels: 1)
        let half = square.fitted(toHeight: 2, width: 2).pixels
        XCTAssertEqual(half, [37, 83, 154, 66])
        XCTAssertEqual(square.fitted(toHeight: 4, width: 4), square, "the target size: untouched")
    }

    func testTopFiveIsOrderedAndProbabilitiesSumToOne() {
        let row = Prediction.Row(source: "x.png", index: nil, logits: [1, 3, 2, 3, 0, -1, 5])
        let top = row.top(5)
        XCTAssertEqual(top.map(\.classIndex), [6, 1, 3, 2, 0], "largest first, equals in class order")
        XCTAssertEqual(row.predicted, 6)
        XCTAssertEqual(row.probabilities.reduce(0, +), 1, accuracy: 1e-12)
        for (a, b) in zip(top, top.dropFirst()) { XCTAssertGreaterThanOrEqual(a.probability, b.probability) }
        XCTAssertEqual(top[0].probability, exp(5) / [1, 3, 2, 3, 0, -1, 5].map { exp(Double($0)) }.reduce(0, +), accuracy: 1e-12)
        XCTAssertEqual(Prediction.Row(source: "y", index: 0, logits: [0.5, -0.5]).top(5).count, 2, "fewer classes than 5")
        // Large logits do not overflow.
        XCTAssertEqual(Prediction.Row(source: "z", index: nil, logits: [1000, 999]).probabilities.reduce(0, +), 1, accuracy: 1e-12)
    }

    func testClassNamesFromTheWeightsAFileOrTheIndex() throws {
        let file = directory.appendingPathComponent("names.txt")
        try "hund\nkatze\n\nvogel\n".write(to: file, atomically: true, encoding: .utf8)
        XCTAssertEqual(try Prediction.classNames(stored: Self.names, file: file.path, classes: 3), ["hund", "katze", "vogel"])
        XCTAssertEqual(try Prediction.classNames(stored: Self.names, file: nil, classes: 3), Self.names)
        XCTAssertEqual(try Prediction.classNames(stored: [], file: nil, classes: 3), ["0", "1", "2"])
        assertOneLineError(UsageError.self, try Prediction.classNames(stored: [], file: file.path, classes: 4),
                           mentions: ["names.txt", "3 names", "4 classes"]) { _ in true }
    }

    func testAnUnreadableImageIsOneLineNamingIt() throws {
        let w = try weights()
        let bad = directory.appendingPathComponent("broken.png")
        try Data("this is not a picture".utf8).write(to: bad)
        assertOneLineError(ImageCodecError.self, try run([bad.path], weights: w), mentions: ["broken.png"]) { _ in true }
        let empty = directory.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        assertOneLineError(UsageError.self, try run([empty.path], weights: w), mentions: ["holds no image files"]) { _ in true }
        assertOneLineError(UsageError.self, try run([directory.appendingPathComponent("nowhere.png").path], weights: w),
                           mentions: ["nowhere.png", "does not exist"]) { _ in true }
    }
}
