import CLTrainData
import CLTrainIO
import CLTrainTestSupport
import Foundation
import Logging
import XCTest
@testable import CLTrainTraining

/// A run on an image folder through `TrainingRun`, as `cltrain train --dataset folder` makes it:
/// it learns, its weights carry the folder's class names, and `eval` tests the same images.
final class ImageFolderTrainingTests: XCTestCase {
    /// Two classes a model tells apart at a glance: bright and dark noisy RGB images of
    /// different sizes (so --resize is needed).
    func writeFolder(_ root: URL) throws {
        func images(_ value: Int, count: Int, seed: Int) -> [DecodedImage] {
            (0..<count).map { i in
                patternImage(width: 20 + i % 3 * 4, height: 18 + i % 2 * 6, channels: 3, value: value, pattern: 60, seed: seed + i)
            }
        }
        try writeImageFolder(root, [
            "train": ["bright": images(170, count: 24, seed: 0), "dark": images(20, count: 24, seed: 100)],
            "val": ["bright": images(170, count: 8, seed: 200), "dark": images(20, count: 8, seed: 300)],
        ])
    }

    func testAFolderRunLearnsAndItsWeightsNameTheClasses() throws {
        let root = try makeTemporaryDirectory()
        try writeFolder(root)
        var options = TrainingOptions()
        options.model = "densenet-bc-10-k4"
        options.dataset = .folder
        options.dataDirectory = root.path
        options.resize = 18
        options.crop = 16
        options.epochs = 2
        options.batchSize = 8
        options.learningRate = 0.05
        options.device = .cpu
        try options.validate()
        var request = TrainingRun.Request(options: options)
        request.out = root.appendingPathComponent("run").path
        let run = try TrainingRun(request, logger: Logger(label: "test"))
        XCTAssertEqual(run.trainer.geometry, InputGeometry(resize: nil, crop: 16, height: 16, width: 16))
        let metrics = try run.run()
        let accuracy = try XCTUnwrap(metrics.last?.testAccuracy)
        XCTAssertGreaterThanOrEqual(accuracy, 0.9, "bright vs dark: \(metrics)")

        let file = try SafetensorsFile.read(contentsOf: run.weightsURL)
        let stored = try XCTUnwrap(RunMetadata(file.metadata))
        XCTAssertEqual(stored.classNames, ["bright", "dark"])
        XCTAssertEqual([stored.inputChannels, stored.height, stored.width, stored.resize], [3, 16, 16, 18])
        XCTAssertEqual(stored.dataset, "folder")

        // eval on the folder's val/ takes the weights' resize and crop, and gets the run's accuracy.
        let summary = try Evaluation.test(model: options.model, weights: run.weightsURL.path,
                                          data: DataSource(kind: .folder, directory: root.path), override: nil,
                                          device: .cpu, batchSize: 16)
        XCTAssertEqual(summary.images, 16)
        XCTAssertEqual(summary.accuracy, accuracy, accuracy: 1e-9)
    }

    func testFolderSettingsAreTheRunsAndAResumeRefusesToChangeThem() throws {
        var o = TrainingOptions()
        o.dataset = .folder
        o.resize = 32
        o.crop = 28
        var changed = o
        changed.crop = 24
        changed.channels = 1
        changed.valSplit = 0.1
        changed.normalize = .imagenet
        XCTAssertEqual(changed.settingsChangingTheRun(from: o), ["--crop", "--channels", "--val-split", "--normalize"])
        // Options of a checkpoint written before these settings existed decode without them.
        var fields = try XCTUnwrap(JSONSerialization.jsonObject(with: JSONEncoder().encode(TrainingOptions())) as? [String: Any])
        fields["dataset"] = "fashion-mnist"
        let decoded = try JSONDecoder().decode(TrainingOptions.self, from: JSONSerialization.data(withJSONObject: fields))
        XCTAssertNil(decoded.crop)
        XCTAssertNil(decoded.normalize)
        // Flags that only fit folders, or each other, are refused in one line.
        var bad = TrainingOptions()
        bad.crop = 24
        XCTAssertThrowsError(try bad.validate()) { XCTAssertTrue("\($0)".contains("--dataset folder"), "\($0)") }
        bad = o
        bad.crop = 40
        XCTAssertThrowsError(try bad.validate()) { XCTAssertTrue("\($0)".contains("must not exceed --resize"), "\($0)") }
        bad = o
        bad.normalize = .imagenet
        bad.mean = [0.5]
        bad.std = [0.5]
        XCTAssertThrowsError(try bad.validate()) { XCTAssertTrue("\($0)".contains("--normalize"), "\($0)") }
    }
}
