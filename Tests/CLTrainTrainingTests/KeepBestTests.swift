import CLTrainData
import CLTrainNN
import CLTrainTestSupport
import Foundation
import Logging
import XCTest
@testable import CLTrainTraining

/// `--keep-best` through `TrainingRun`: best.safetensors holds the best epoch's weights, and a
/// resumed run still knows the accuracy to beat from before the stop.
final class KeepBestTests: XCTestCase {
    /// A Fashion-MNIST-shaped folder whose images' brightness is their label, but whose test labels
    /// are the mirror image (9 - label): the more the model learns, the worse it tests, so the best
    /// epoch comes early and later epochs must not replace it.
    func writeData(in directory: URL, count: Int = 64) throws {
        let labels = (0..<count).map { UInt8($0 % 10) }
        let images = idxImages(count: count, rows: 28, cols: 28) { UInt8(Int(labels[$0 / 784]) * 24 + ((($0 &* 2_654_435_761) >> 7) & 15)) }
        try Data(images).write(to: directory.appendingPathComponent("train-images-idx3-ubyte"))
        try Data(idxLabels(labels)).write(to: directory.appendingPathComponent("train-labels-idx1-ubyte"))
        try Data(images).write(to: directory.appendingPathComponent("t10k-images-idx3-ubyte"))
        try Data(idxLabels(labels.map { 9 - $0 })).write(to: directory.appendingPathComponent("t10k-labels-idx1-ubyte"))
    }

    /// The tensors of a safetensors file: its bytes after the header.
    func tensorBytes(_ url: URL) throws -> Data {
        let bytes = try Data(contentsOf: url)
        let headerLength = bytes.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        return bytes.dropFirst(8 + headerLength)
    }

    func testTheBestEpochSurvivesAResume() throws {
        let directory = try makeTemporaryDirectory()
        try writeData(in: directory)
        var options = TrainingOptions()
        options.model = "densenet-bc-10-k4"
        options.dataDirectory = directory.path
        options.epochs = 4
        options.batchSize = 16
        options.learningRate = 0.05
        options.augment = false
        options.device = .cpu
        options.keepBest = true
        let logger = Logger(label: "test")

        var request = TrainingRun.Request(options: options)
        request.out = directory.appendingPathComponent("whole").path
        let whole = try TrainingRun(request, logger: logger)
        let accuracies = try whole.run().map { try XCTUnwrap($0.testAccuracy) }
        let best = accuracies.firstIndex(of: accuracies.max()!)! + 1
        print("test accuracies \(accuracies): best epoch \(best)")
        XCTAssertLessThan(best, 3, "the data should make an early epoch the best")

        // Stopped in the third epoch, after the best one, and resumed.
        request.out = directory.appendingPathComponent("resumed").path
        do {
            // The first run ends (and lets go of its folder) before the second resumes it.
            let first = try TrainingRun(request, logger: logger)
            XCTAssertThrowsError(try first.run(stopRequested: { [unowned first] in first.trainer.epoch >= 2 })) {
                XCTAssertTrue($0 is TrainingInterrupted, "\($0)")
            }
        }
        var resume = TrainingRun.Request(options: TrainingOptions())
        resume.resume = request.out
        let second = try TrainingRun(resume, logger: logger)
        XCTAssertTrue(second.options.keepBest, "the resumed run keeps the flag")
        try second.run()
        XCTAssertEqual(second.trainer.metrics.map(\.testAccuracy), whole.trainer.metrics.map(\.testAccuracy))
        XCTAssertEqual(try tensorBytes(second.bestWeightsURL), try tensorBytes(whole.bestWeightsURL))
        XCTAssertNotEqual(try tensorBytes(second.bestWeightsURL), try tensorBytes(second.weightsURL), "the last epoch is not the best")
    }
}
