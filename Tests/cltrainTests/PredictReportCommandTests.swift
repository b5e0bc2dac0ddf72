import CLTrainData
import CLTrainTestSupport
import Foundation
import XCTest

/// `cltrain predict` on image files and `cltrain eval --report`, as a user runs them, with weights
/// trained for one epoch on a tiny Fashion-MNIST-shaped set.
final class PredictReportCommandTests: XCTestCase {
    var directory: URL!
    var data: URL!
    var weights: String!

    override func setUpWithError() throws {
        directory = try makeTemporaryDirectory()
        data = directory.appendingPathComponent("data")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        try CLI.writeDataset(in: data, count: 20)
        weights = directory.appendingPathComponent("w.safetensors").path
        let trained = try CLI.run(["train", "--quiet", "--model", "densenet-bc-10-k4", "--data", data.path, "--epochs", "1",
                                   "--batch-size", "10", "--device", "cpu", "--save", weights,
                                   "--out", directory.appendingPathComponent("run").path])
        XCTAssertEqual(trained.status, 0, trained.stderr)
    }

    func predict(_ extra: [String]) throws -> ProcessResult {
        try CLI.run(["predict", "--model", "densenet-bc-10-k4", "--weights", weights, "--device", "cpu"] + extra)
    }

    /// The first `count` test images as PNG files in a folder.
    func pngFolder(count: Int) throws -> URL {
        let folder = directory.appendingPathComponent("pngs")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let images = try IDX.readUnlabeled(data.appendingPathComponent("t10k-images-idx3-ubyte").path)
        for i in 0..<count {
            let image = DecodedImage(planar: images.image(i), channels: 1, height: 28, width: 28)
            try Data(try ImageCodec.encodePNG(image)).write(to: folder.appendingPathComponent(String(format: "test-%02d.png", i)))
        }
        return folder
    }

    func testPredictPrintsNamesAndWritesTheSameLogitsForPNGAndIDX() throws {
        let folder = try pngFolder(count: 20)
        let lines = try predict(["--input", folder.path])
        XCTAssertEqual(lines.status, 0, lines.stderr)
        let printed = lines.stdout.split(separator: "\n")
        XCTAssertEqual(printed.count, 20)
        XCTAssertTrue(printed[0].hasPrefix(folder.appendingPathComponent("test-00.png").path + ": "), String(printed[0]))
        XCTAssertTrue(printed[0].contains("top-5: "), String(printed[0]))
        let fashion = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
        XCTAssertTrue(fashion.contains { printed[0].contains(": \($0) (") }, "the class name from the weights: \(printed[0])")

        let fromPNG = directory.appendingPathComponent("png.csv"), fromIDX = directory.appendingPathComponent("idx.csv")
        XCTAssertEqual(try predict(["--input", folder.path, "--output", fromPNG.path]).status, 0)
        let idx = try predict(["--input", data.appendingPathComponent("t10k-images-idx3-ubyte").path, "--output", fromIDX.path])
        XCTAssertEqual(idx.status, 0, idx.stderr)
        let png = try rows(fromPNG), ints = try rows(fromIDX)
        XCTAssertEqual(png.count, 1 + 20, "a header and a line per image")
        let header = try XCTUnwrap(ints.first)
        // Today's columns first, in their order, then the new ones.
        XCTAssertEqual(Array(header.prefix(12)), ["index"] + (0..<10).map { "logit_\($0)" } + ["predicted"])
        XCTAssertEqual(Array(header.dropFirst(12).prefix(4)), ["file", "predicted_name", "top1_name", "top1_probability"])
        XCTAssertEqual(header.count, 12 + 2 + 10)
        for (a, b) in zip(png.dropFirst(), ints.dropFirst()) {
            assertClose(a[1...10].map { Float($0)! }, b[1...10].map { Float($0)! }, rtol: 1e-5, atol: 1e-5)
            XCTAssertEqual(a[11], b[11])
            let probabilities = stride(from: 15, to: 24, by: 2).map { Double(a[$0])! }
            XCTAssertLessThanOrEqual(probabilities.reduce(0, +), 1 + 1e-6, "5 of the 10 probabilities")
            XCTAssertEqual(probabilities, probabilities.sorted(by: >))
        }

        let json = directory.appendingPathComponent("p.json")
        XCTAssertEqual(try predict(["--input", folder.appendingPathComponent("test-03.png").path, "--output", json.path]).status, 0)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: json)) as? [String: Any])
        let first = try XCTUnwrap((object["predictions"] as? [[String: Any]])?.first)
        XCTAssertEqual((first["logits"] as? [Double])?.count, 10)
        XCTAssertEqual((first["top"] as? [[String: Any]])?.count, 5)
        XCTAssertEqual(object["class_names"] as? [String], fashion)
    }

    func testEvalWritesTheReportFolder() throws {
        let report = directory.appendingPathComponent("report")
        let result = try CLI.run(["eval", "--model", "densenet-bc-10-k4", "--weights", weights, "--data", data.path, "--device", "cpu",
                                  "--report", report.path])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("wrote report.json"), result.stdout)
        for name in ["report.json", "confusion.svg", "confusion.png", "grid.svg", "grid.png"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: report.appendingPathComponent(name).path), name)
        }
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: report.appendingPathComponent("report.json")))
            as? [String: Any])
        XCTAssertEqual(json["images"] as? Int, 20)
        XCTAssertEqual((json["confusion"] as? [[Int]])?.joined().reduce(0, +), 20)
        XCTAssertEqual((json["class_names"] as? [String])?.first, "T-shirt/top")
        let grid = try ImageCodec.read(report.appendingPathComponent("grid.png").path)
        XCTAssertGreaterThan(grid.width, 8 * 28)
    }

    func testBadInputsAreOneLine() throws {
        let broken = directory.appendingPathComponent("broken.jpg")
        try Data([0xFF, 0xD8, 0xFF, 0x00, 0x01]).write(to: broken)
        try expectFailure(predict(["--input", broken.path]), mentioning: ["broken.jpg"])
        try expectFailure(predict(["--input", broken.path, "--output", directory.appendingPathComponent("p.txt").path]),
                          mentioning: ["--output", ".csv or .json"])
        let file = directory.appendingPathComponent("taken")
        try Data("x".utf8).write(to: file)
        try expectFailure(CLI.run(["eval", "--model", "densenet-bc-10-k4", "--weights", weights, "--data", data.path, "--device", "cpu",
                                   "--report", file.path]), mentioning: ["taken", "is a file"])
    }

    func expectFailure(_ result: ProcessResult, mentioning words: [String], line: UInt = #line) throws {
        XCTAssertNotEqual(result.status, 0, result.stdout, line: line)
        let lines = result.stderr.split(whereSeparator: \.isNewline)
        XCTAssertEqual(lines.count, 1, result.stderr, line: line)
        for word in words { XCTAssertTrue(result.stderr.contains(word), "'\(result.stderr)' lacks '\(word)'", line: line) }
    }

    func rows(_ url: URL) throws -> [[String]] {
        try String(contentsOf: url, encoding: .utf8).split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
    }
}
