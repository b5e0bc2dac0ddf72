import CLTrainData
import CLTrainTestSupport
import Foundation
import XCTest

/// `cltrain localize` end to end: weights from `cltrain train` (a DenseNet, so the class
/// activation map path), PNG and IDX inputs, the JSON and overlay files, and one-line errors.
final class LocalizeCommandTests: XCTestCase {
    func testWritesJSONAndOverlaysAndRejectsBadInput() throws {
        let directory = try makeTemporaryDirectory()
        try CLI.writeDataset(in: directory)
        let weights = directory.appendingPathComponent("w.safetensors").path
        let trained = try CLI.run(["train", "--model", "densenet-bc-10-k4", "--data", directory.path, "--epochs", "1", "--device", "cpu",
                                   "--save", weights, "--out", directory.appendingPathComponent("run").path])
        XCTAssertEqual(trained.status, 0, trained.stderr)

        // A 28x28 gray PNG and a 40x30 RGB one (scaled to 37x28 for the model, boxes back at 40x30).
        let gray = DecodedImage(pixels: (0..<28 * 28).map { UInt8(($0 * 7) % 256) }, width: 28, height: 28, channels: 1)
        let rgb = DecodedImage(pixels: (0..<40 * 30 * 3).map { UInt8(($0 * 13) % 256) }, width: 40, height: 30, channels: 3)
        let grayPath = directory.appendingPathComponent("gray.png"), rgbPath = directory.appendingPathComponent("colour.png")
        try Data(try ImageCodec.encodePNG(gray)).write(to: grayPath)
        try Data(try ImageCodec.encodePNG(rgb)).write(to: rgbPath)
        let output = directory.appendingPathComponent("out")
        let base = ["localize", "--model", "densenet-bc-10-k4", "--weights", weights, "--device", "cpu"]
        let run = try CLI.run(base + ["--input", grayPath.path, rgbPath.path, "--output", output.path])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertEqual(run.stdout.split(whereSeparator: \.isNewline).count, 2, run.stdout)
        XCTAssertTrue(run.stdout.contains("gray.png: ") && run.stdout.contains("threshold 0.2"), run.stdout)

        for (name, image) in [("gray", gray), ("colour", rgb)] {
            let json = try JSONSerialization.jsonObject(with: Data(contentsOf: output.appendingPathComponent("\(name).json"))) as! [String: Any]
            XCTAssertEqual(json["image_width"] as? Int, image.width)
            XCTAssertEqual(json["image_height"] as? Int, image.height)
            XCTAssertEqual(json["threshold"] as? Double ?? 0, 0.2, accuracy: 1e-6)
            XCTAssertNotNil(json["class"] as? String, "Fashion-MNIST weights carry class names")
            let k = try XCTUnwrap(json["class_index"] as? Int)
            XCTAssertTrue((0..<10).contains(k))
            let p = try XCTUnwrap(json["probability"] as? Double)
            XCTAssertTrue(p > 0 && p <= 1)
            // densenet-bc-10-k4 halves twice: 28 -> 7.
            XCTAssertEqual(json["map_height"] as? Int, 7)
            XCTAssertEqual((json["map"] as? [[Double]])?.count, 7)
            let boxes = try XCTUnwrap(json["boxes"] as? [[String: Any]])
            let box = try XCTUnwrap(boxes.first)
            let (x0, y0, x1, y1) = (box["x0"] as! Int, box["y0"] as! Int, box["x1"] as! Int, box["y1"] as! Int)
            XCTAssertTrue(0 <= x0 && x0 < x1 && x1 <= image.width && 0 <= y0 && y0 < y1 && y1 <= image.height, "\(box)")
            let overlay = try ImageCodec.read(output.appendingPathComponent("\(name).overlay.png").path)
            XCTAssertEqual([overlay.width, overlay.height, overlay.channels], [image.width, image.height, 3])
        }
        let colour = try JSONSerialization.jsonObject(with: Data(contentsOf: output.appendingPathComponent("colour.json"))) as! [String: Any]
        XCTAssertEqual([colour["input_width"] as? Int, colour["input_height"] as? Int], [37, 28])

        // IDX images by index, a class by name, another threshold.
        let idx = directory.appendingPathComponent("t10k-images-idx3-ubyte").path
        let indexed = try CLI.run(base + ["--input", idx, "--index", "0", "3", "--class", "sneaker", "--threshold", "0.5",
                                          "--output", output.path])
        XCTAssertEqual(indexed.status, 0, indexed.stderr)
        for i in [0, 3] {
            let json = try JSONSerialization.jsonObject(
                with: Data(contentsOf: output.appendingPathComponent("t10k-images-idx3-ubyte-\(i).json"))) as! [String: Any]
            XCTAssertEqual(json["class"] as? String, "Sneaker")
            XCTAssertEqual(json["class_index"] as? Int, 7)
            XCTAssertEqual(json["index"] as? Int, i)
            XCTAssertTrue(indexed.stdout.contains("t10k-images-idx3-ubyte[\(i)]: Sneaker (class 7)"), indexed.stdout)
            XCTAssertEqual(json["threshold"] as? Double ?? 0, 0.5, accuracy: 1e-6)
        }

        let garbage = directory.appendingPathComponent("garbage.png")
        try Data("not an image".utf8).write(to: garbage)
        let aFile = directory.appendingPathComponent("a-file")
        try Data().write(to: aFile)
        let before = try FileManager.default.contentsOfDirectory(atPath: output.path).sorted()
        for (arguments, word) in [(["--input", garbage.path], "garbage.png"),
                                  (["--input", directory.appendingPathComponent("missing.png").path], "missing.png"),
                                  (["--input", grayPath.path, "--class", "unicorn"], "'Sneaker'"),
                                  (["--input", grayPath.path, "--threshold", "0"], "--threshold"),
                                  (["--input", grayPath.path, "--threshold", "1.5"], "--threshold"),
                                  (["--input", idx, "--index", "99"], "past the end")] {
            let result = try CLI.run(base + arguments + ["--output", output.path])
            XCTAssertNotEqual(result.status, 0, "\(arguments)")
            XCTAssertEqual(result.stderr.split(whereSeparator: \.isNewline).count, 1, result.stderr)
            XCTAssertTrue(result.stderr.hasPrefix("error: ") && result.stderr.contains(word), "\(arguments): \(result.stderr)")
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: output.path).sorted(), before, "a failed run wrote nothing")
        let unmade = directory.appendingPathComponent("unmade")
        XCTAssertNotEqual(try CLI.run(base + ["--input", grayPath.path, "--class", "unicorn", "--output", unmade.path]).status, 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: unmade.path), "bad input leaves no folder behind")
        for folder in [aFile.path, aFile.appendingPathComponent("under").path] {
            let result = try CLI.run(base + ["--input", grayPath.path, "--output", folder])
            XCTAssertNotEqual(result.status, 0)
            XCTAssertEqual(result.stderr.split(whereSeparator: \.isNewline).count, 1, result.stderr)
            XCTAssertTrue(result.stderr.contains("folder"), result.stderr)
        }
    }
}
