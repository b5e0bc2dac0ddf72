import CLTrainTestSupport
import Foundation
import XCTest

/// The recipe flags end to end (their numerics are checked against PyTorch in the library's tests).
final class RecipeRunTests: XCTestCase {
    /// The tensors of a safetensors file: its bytes after the header (whose metadata JSON need not
    /// come out in the same order twice).
    func tensorBytes(_ url: URL) throws -> Data {
        let bytes = try Data(contentsOf: url)
        let headerLength = bytes.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        return bytes.dropFirst(8 + headerLength)
    }

    /// The test accuracy of each epoch in metrics.csv.
    func testAccuracies(_ run: URL) throws -> [Double] {
        let lines = try String(contentsOf: run.appendingPathComponent("metrics.csv"), encoding: .utf8)
            .split(whereSeparator: \.isNewline).map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        let column = try XCTUnwrap(lines.first?.firstIndex(of: "test_accuracy"))
        return lines.dropFirst().map { Double($0[column]) ?? -1 }
    }

    func testKeepBestHoldsTheWeightsOfTheBestEpoch() throws {
        let directory = try makeTemporaryDirectory()
        // Learnable images (the brightness is the label, under noise), so the epochs' accuracies differ.
        let count = 64, labels = (0..<count).map { UInt8($0 % 10) }
        for (prefix, seed) in [("train", 1), ("t10k", 2)] {
            let images = idxImages(count: count, rows: 28, cols: 28) {
                UInt8(Int(labels[$0 / 784]) * 24 + ((($0 &* 2_654_435_761 &+ seed) >> 7) & 15))
            }
            try Data(images).write(to: directory.appendingPathComponent("\(prefix)-images-idx3-ubyte"))
            try Data(idxLabels(labels)).write(to: directory.appendingPathComponent("\(prefix)-labels-idx1-ubyte"))
        }
        // A constant rate: the weights after epoch e of this run are those of an e-epoch run.
        func train(_ epochs: Int, _ extra: [String]) throws {
            let result = try CLI.run(["train", "--quiet", "--model", "densenet-bc-10-k4", "--data", directory.path, "--epochs", "\(epochs)",
                                      "--batch-size", "16", "--lr", "0.05", "--schedule", "constant", "--device", "cpu"] + extra)
            XCTAssertEqual(result.status, 0, result.stderr)
        }
        let run = directory.appendingPathComponent("run")
        try train(3, ["--keep-best", "--out", run.path])
        let accuracies = try testAccuracies(run)
        XCTAssertEqual(accuracies.count, 3)
        let best = accuracies.firstIndex(of: accuracies.max()!)! + 1
        print("test accuracies \(accuracies): best epoch \(best)")
        let reference = directory.appendingPathComponent("epoch\(best).safetensors")
        try train(best, ["--save", reference.path, "--out", directory.appendingPathComponent("short").path])
        XCTAssertEqual(try tensorBytes(run.appendingPathComponent("best.safetensors")), try tensorBytes(reference))
        // Without the flag there is no best file.
        try train(1, ["--out", directory.appendingPathComponent("plain").path])
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory.appendingPathComponent("plain/best.safetensors").path))
    }

    func testEMAIsTestedAndSavedEachEpoch() throws {
        let directory = try makeTemporaryDirectory()
        try CLI.writeDataset(in: directory)
        let run = directory.appendingPathComponent("run")
        let result = try CLI.run(["train", "--model", "densenet-bc-10-k4", "--data", directory.path, "--epochs", "1", "--device", "cpu",
                                  "--ema", "0.9", "--out", run.path])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("ema acc"), result.stdout)
        let ema = try tensorBytes(run.appendingPathComponent("weights-ema.safetensors"))
        XCTAssertEqual(ema.count, try tensorBytes(run.appendingPathComponent("weights.safetensors")).count)
        XCTAssertNotEqual(ema, try tensorBytes(run.appendingPathComponent("weights.safetensors")))
    }
}
