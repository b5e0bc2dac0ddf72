import CLTrainData
import CLTrainNN
import CLTrainRuntime
import CLTrainTestSupport
import Foundation
import Logging
import XCTest
@testable import CLTrainTraining

/// `--resume` keeps the whole original invocation (settings and outputs) through any number of
/// resumes, extends a finished run when given more epochs, and refuses, by name, any other
/// setting that would change the run.
final class ResumeTests: XCTestCase {
    var directory: URL!
    let logger = Logger(label: "test")

    override func setUpWithError() throws {
        directory = try makeTemporaryDirectory()
        let labels = (0..<32).map { UInt8($0 % 10) }
        let images = idxImages(count: 32, rows: 28, cols: 28) { UInt8(truncatingIfNeeded: ($0 &* 2_654_435_761) >> 7) }
        try Data(images).write(to: directory.appendingPathComponent("train-images-idx3-ubyte"))
        try Data(idxLabels(labels)).write(to: directory.appendingPathComponent("train-labels-idx1-ubyte"))
        try Data(images).write(to: directory.appendingPathComponent("t10k-images-idx3-ubyte"))
        try Data(idxLabels(labels)).write(to: directory.appendingPathComponent("t10k-labels-idx1-ubyte"))
    }

    /// densenet-bc-10-k4 on 32 images in batches of 16: two steps an epoch.
    func options(epochs: Int = 2) -> TrainingOptions {
        var o = TrainingOptions()
        o.model = "densenet-bc-10-k4"
        o.dataDirectory = directory.path
        o.epochs = epochs
        o.batchSize = 16
        o.device = .cpu
        o.seed = 4
        return o
    }

    var out: String { directory.appendingPathComponent("run").path }

    func newRun(_ options: TrainingOptions) throws -> TrainingRun {
        var request = TrainingRun.Request(options: options)
        request.out = out
        return try TrainingRun(request, logger: logger)
    }

    func resumed(_ changes: @escaping (inout TrainingOptions) -> Void = { _ in }) throws -> TrainingRun {
        var request = TrainingRun.Request(options: TrainingOptions())
        request.resume = out
        request.changes = changes
        return try TrainingRun(request, logger: logger)
    }

    /// Run until `stop` holds; the run must be interrupted there.
    func interrupt(_ run: TrainingRun, when stop: @escaping (Trainer) -> Bool) {
        XCTAssertThrowsError(try run.run(stopRequested: { stop(run.trainer) })) { XCTAssertTrue($0 is TrainingInterrupted, "\($0)") }
    }

    func testSaveAndTheOtherOutputsHoldAfterOneAndTwoResumes() throws {
        var o = options(epochs: 3)
        o.save = directory.appendingPathComponent("final.safetensors").path
        o.checkpointEvery = 1
        o.logEvery = 7
        let save = URL(fileURLWithPath: try XCTUnwrap(o.save))
        // Each run in a scope of its own: a run holds its folder's lock while it lives.
        do {
            let first = try newRun(o)
            interrupt(first, when: { $0.step >= 1 })
            XCTAssertFalse(FileManager.default.fileExists(atPath: save.path))
        }
        do {
            let second = try resumed()
            XCTAssertEqual(second.options, o, "the resumed run has the original settings and outputs")
            XCTAssertEqual(second.trainer.checkpointEvery, 1)
            interrupt(second, when: { $0.step >= 3 })
            XCTAssertFalse(FileManager.default.fileExists(atPath: save.path), "--save is written at the end only")
        }

        let third = try resumed()
        XCTAssertEqual(third.options.save, save.path)
        XCTAssertEqual(third.options.logEvery, 7)
        try third.run()
        XCTAssertEqual(third.trainer.step, 6)
        XCTAssertEqual(try ModelWeights.stateTensors(of: third.model).map(\.values),
                       try ModelWeights.stateTensors(of: try loaded(save)).map(\.values), "--save holds the final weights after two resumes")
    }

    /// `url`'s weights in a new model of the run's shape.
    func loaded(_ url: URL) throws -> Model {
        let model = try XCTUnwrap(ModelCatalog.entry(named: "densenet-bc-10-k4")).make(
            inputChannels: 1, classes: 10, device: Device(backend: CPUBackend()), seed: 0)
        try ModelWeights.load(url, into: model)
        return model
    }

    func testARelativeSaveIsKeptAsAnAbsolutePath() throws {
        var o = options(epochs: 1)
        o.save = "relative.safetensors"
        let run = try newRun(o)
        XCTAssertEqual(run.options.save, FileManager.default.currentDirectoryPath + "/relative.safetensors")
    }

    func testMoreEpochsExtendAFinishedRunAtTheScheduleLastRate() throws {
        var o = options(epochs: 2)
        o.save = directory.appendingPathComponent("final.safetensors").path
        // Each run in a scope of its own: a run holds its folder's lock while it lives.
        let finalRate: Double
        do {
            let first = try newRun(o)
            try first.run()
            XCTAssertTrue(first.trainer.isFinished)
            finalRate = first.trainer.learningRates.rate(atStep: 3)
        }
        XCTAssertEqual(finalRate, 0.001, accuracy: 1e-9, "the step schedule's last rate: x0.1 twice")
        let before = try Data(contentsOf: URL(fileURLWithPath: try XCTUnwrap(o.save)))

        // Nothing given: nothing to train.
        do {
            let again = try resumed()
            try again.run()
            XCTAssertEqual(again.trainer.step, 4)
        }
        do {
            let extended = try resumed { $0.epochs = 4 }
            XCTAssertEqual(extended.options.epochs, 4)
            XCTAssertEqual(extended.options.scheduleEpochs, 2, "the schedule keeps the length it was planned with")
            var rates: [Float] = []
            let metrics = try extended.run(onProgress: { _ in rates.append(extended.trainer.optimizer.learningRate) })
            XCTAssertEqual(extended.trainer.epoch, 4)
            XCTAssertEqual(extended.trainer.step, 8)
            XCTAssertEqual(metrics.map(\.epoch), [1, 2, 3, 4])
            XCTAssertEqual(rates, [Float](repeating: Float(finalRate), count: 4), "the added epochs continue at the last rate")
            XCTAssertNotEqual(try Data(contentsOf: URL(fileURLWithPath: try XCTUnwrap(o.save))), before, "--save holds the extended run's weights")
        }

        // The extension is kept: a later resume of the extended run is finished, and extends again from there.
        XCTAssertTrue(try resumed().trainer.isFinished)
        let twice = try resumed { $0.epochs = 5 }
        XCTAssertEqual(twice.options.scheduleEpochs, 2)
        try twice.run()
        XCTAssertEqual(twice.trainer.metrics.last?.learningRate, 0.001)
    }

    func testAChangedSettingIsRefusedNamingIt() throws {
        var o = options(epochs: 2)
        o.steps = 1
        try newRun(o).run()
        func refused(_ changes: @escaping (inout TrainingOptions) -> Void, _ words: [String], line: UInt = #line) {
            XCTAssertThrowsError(try resumed(changes), line: line) { error in
                let message = "\(error)"
                XCTAssertTrue(error is UsageError, message, line: line)
                XCTAssertFalse(message.contains("\n"), message, line: line)
                for word in words { XCTAssertTrue(message.contains(word), "'\(message)' lacks '\(word)'", line: line) }
            }
        }
        refused({ $0.learningRate = 0.5 }, ["--lr would change it: drop it", "--init"])
        refused({ $0.batchSize = 8; $0.seed = 1; $0.model = "densenet-bc-16-k4" }, ["--model, --batch-size, --seed", "drop them"])
        refused({ $0.augment = false }, ["--no-augment"])
        refused({ $0.epochs = 1 }, ["--epochs 1 is fewer than the 2"])
        refused({ $0.epochs = 3 }, ["ended at its --steps 1"])
        // What does not change the run is taken.
        do {
            let taken = try resumed { $0.keepBest = true; $0.logEvery = 3; $0.device = .cpu }
            XCTAssertTrue(taken.options.keepBest)
        }
        var request = TrainingRun.Request(options: TrainingOptions())
        request.resume = out
        request.changes = { $0.initialWeights = "w.safetensors" }
        XCTAssertThrowsError(try TrainingRun(request, logger: logger)) { XCTAssertTrue("\($0)".contains("drop --init"), "\($0)") }
        request.changes = { _ in }
        request.out = directory.appendingPathComponent("elsewhere").path
        XCTAssertThrowsError(try TrainingRun(request, logger: logger)) { XCTAssertTrue("\($0)".contains("drop --out"), "\($0)") }
    }

    func testACosineRunEndingAtZeroIsNotExtended() throws {
        var o = options(epochs: 1)
        o.schedule = .cosine
        try newRun(o).run()
        XCTAssertThrowsError(try resumed { $0.epochs = 2 }) { XCTAssertTrue("\($0)".contains("--min-lr 0"), "\($0)") }
    }

    /// Every stored setting is either one a resume may change or one `runSettingChecks` refuses:
    /// a new field must be classified before it can be silently ignored or silently taken.
    func testEverySettingIsClassified() {
        let fields = Set(Mirror(reflecting: TrainingOptions()).children.compactMap(\.label))
        let checked = Set(TrainingOptions().runSettingChecks(from: TrainingOptions()).map(\.field))
        let free = Set(TrainingOptions.settingsAResumeMayChange)
        XCTAssertEqual(checked.union(free), fields)
        XCTAssertTrue(checked.isDisjoint(with: free))
        XCTAssertEqual(TrainingOptions().settingsChangingTheRun(from: TrainingOptions()), [])
    }

    func testOptionsWrittenBeforeTheOutputsStillDecode() throws {
        var o = options()
        o.scheduleEpochs = 1
        o.save = "/tmp/x.safetensors"
        o.checkpointEvery = 5
        o.logEvery = 9
        o.freeze = .features
        o.initialWeights = "/tmp/pretrained.safetensors"
        o.channels = 3
        o.normalize = .imagenet
        XCTAssertEqual(try JSONDecoder().decode(TrainingOptions.self, from: JSONEncoder().encode(o)), o)
        var fields = try XCTUnwrap(JSONSerialization.jsonObject(with: JSONEncoder().encode(o)) as? [String: Any])
        for key in ["scheduleEpochs", "save", "checkpointEvery", "logEvery", "freeze", "initialWeights", "channels", "normalize"] {
            XCTAssertNotNil(fields.removeValue(forKey: key), key)
        }
        XCTAssertEqual(try JSONDecoder().decode(TrainingOptions.self, from: JSONSerialization.data(withJSONObject: fields)), options())
    }

    func testAModelTooLargeForTheImagesIsRefusedBeforeTraining() throws {
        var o = options(epochs: 1)
        o.model = "densenet-121"
        XCTAssertThrowsError(try newRun(o)) { error in
            XCTAssertEqual("\(error)", "images of 28x28 are too small for densenet-121, which needs at least 29x29: "
                           + "add --resize 32 (or choose a model for small images: see `cltrain models`)")
        }
        o.resize = 16
        XCTAssertThrowsError(try newRun(o)) { XCTAssertTrue("\($0)".contains("16x16 are too small") && "\($0)".contains("use --resize 32"), "\($0)") }
    }
}
