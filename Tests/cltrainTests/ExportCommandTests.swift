import CLTrainTestSupport
import Foundation
import XCTest

/// `cltrain export` end to end: weights from `cltrain train` become an ONNX file; a bad
/// input is one line on stderr with a non-zero exit and leaves the output as it was.
final class ExportCommandTests: XCTestCase {
    func testExportsTrainedWeightsAndRejectsBadInput() throws {
        let directory = try makeTemporaryDirectory()
        try CLI.writeDataset(in: directory)
        let weights = directory.appendingPathComponent("w.safetensors").path
        let trained = try CLI.run(["train", "--model", "densenet-bc-10-k4", "--data", directory.path, "--epochs", "1", "--device", "cpu",
                                   "--save", weights, "--out", directory.appendingPathComponent("run").path])
        XCTAssertEqual(trained.status, 0, trained.stderr)

        let output = directory.appendingPathComponent("m.onnx")
        let exported = try CLI.run(["export", "--model", "densenet-bc-10-k4", "--weights", weights, "--output", output.path])
        XCTAssertEqual(exported.status, 0, exported.stderr)
        XCTAssertTrue(exported.stdout.contains("input batch x 1x28x28 (from the weights' metadata)"), exported.stdout)
        let bytes = try Data(contentsOf: output)
        XCTAssertEqual(Array(bytes.prefix(11)), [0x08, 0x08, 0x12, 0x07] + Array("cltrain".utf8))  // ir_version 8, producer

        for (arguments, word) in [(["--model", "densenet-bc-16-k4", "--weights", weights], "features"),
                                  (["--model", "densenet-bc-10-k4", "--weights", weights, "--size", "2"], "too small"),
                                  (["--model", "densenet-bc-10-k4", "--weights", directory.appendingPathComponent("no").path], "cannot read")] {
            let result = try CLI.run(["export"] + arguments + ["--output", output.path])
            let lines = result.stderr.split(whereSeparator: \.isNewline)
            XCTAssertNotEqual(result.status, 0, "\(arguments)")
            XCTAssertEqual(lines.count, 1, result.stderr)
            XCTAssertTrue(result.stderr.hasPrefix("error: ") && result.stderr.contains(word), result.stderr)
            XCTAssertEqual(try Data(contentsOf: output), bytes, "\(arguments) changed the previous export")
        }
    }
}
