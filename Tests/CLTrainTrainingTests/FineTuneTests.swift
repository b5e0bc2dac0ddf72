import CLTrainData
import CLTrainIO
import CLTrainNN
import CLTrainRandom
import CLTrainRuntime
import CLTrainTestSupport
import Foundation
import Logging
import XCTest
@testable import CLTrainTraining

/// Fine-tuning a pretrained network (`--init FILE`, `--freeze features`): a file of another class
/// count loads all but the classifier, which keeps its fresh initialisation; frozen features and
/// their running statistics never change, through EMA, clipping, a checkpoint and a resume; any
/// other mismatch is a one-line error.
final class FineTuneTests: XCTestCase {
    var directory: URL!
    var pretrained: URL!
    let log = CapturedLog()
    var logger: Logger { log.logger }

    override func setUpWithError() throws {
        directory = try makeTemporaryDirectory()
        let labels = (0..<32).map { UInt8($0 % 10) }
        let images = idxImages(count: 32, rows: 28, cols: 28) { UInt8(truncatingIfNeeded: ($0 &* 2_654_435_761) >> 7) }
        try Data(images).write(to: directory.appendingPathComponent("train-images-idx3-ubyte"))
        try Data(idxLabels(labels)).write(to: directory.appendingPathComponent("train-labels-idx1-ubyte"))
        try Data(images).write(to: directory.appendingPathComponent("t10k-images-idx3-ubyte"))
        try Data(idxLabels(labels)).write(to: directory.appendingPathComponent("t10k-labels-idx1-ubyte"))
        pretrained = try writePretrained(name: "pretrained.safetensors", inputChannels: 1, classes: 3)
    }

    /// A "pretrained" densenet-bc-10-k4 of `classes` classes: another seed than the runs', with
    /// running statistics and batch counts of its own, so nothing in it is a fresh model's.
    func writePretrained(name: String, inputChannels: Int, classes: Int) throws -> URL {
        let device = Device(backend: CPUBackend())
        let model = try ModelCatalog.entry(named: "densenet-bc-10-k4")!.make(inputChannels: inputChannels, classes: classes,
                                                                              device: device, seed: 77)
        var random = SeededRandom(seed: 78)
        for b in model.buffers { try device.write(random.uniforms(b.value.count, 0.5, 1.5), to: b.value) }
        for norm in model.batchNorms { norm.batchesTracked = 1234 }
        let url = directory.appendingPathComponent(name)
        try ModelWeights.save(model, to: url)
        return url
    }

    /// densenet-bc-10-k4 on 32 images in batches of 16: two steps an epoch.
    func options(epochs: Int = 1) -> TrainingOptions {
        var o = TrainingOptions()
        o.model = "densenet-bc-10-k4"
        o.dataDirectory = directory.path
        o.epochs = epochs
        o.batchSize = 16
        o.device = .cpu
        o.seed = 4
        o.initialWeights = pretrained.path
        return o
    }

    var out: String { directory.appendingPathComponent("run").path }

    func newRun(_ options: TrainingOptions) throws -> TrainingRun {
        var request = TrainingRun.Request(options: options)
        request.out = out
        return try TrainingRun(request, logger: logger)
    }

    /// The model's tensors by name, as floats (num_batches_tracked as its count).
    func state(of model: Model) throws -> [String: [Float]] {
        var state: [String: [Float]] = [:]
        for t in try ModelWeights.stateTensors(of: model) { state[t.name] = t.values }
        for norm in model.batchNorms { state[norm.name + ".num_batches_tracked"] = [Float(norm.batchesTracked)] }
        return state
    }

    /// The file's tensors by name, as floats.
    func state(of url: URL) throws -> [String: [Float]] {
        let file = try SafetensorsFile.read(contentsOf: url)
        var state: [String: [Float]] = [:]
        for name in file.tensorNames {
            state[name] = name.hasSuffix("num_batches_tracked") ? [Float(try file.integer(name))] : try file.floats(name)
        }
        return state
    }

    func testAFileOfAnotherClassCountLoadsAllButTheClassifier() throws {
        let run = try newRun(options())
        let model = run.model
        let fresh = try ModelCatalog.entry(named: "densenet-bc-10-k4")!.make(inputChannels: 1, classes: 10, device: run.device, seed: 4)
        let loaded = try state(of: model), file = try state(of: pretrained), initial = try state(of: fresh)
        XCTAssertEqual(model.classifier.prefix, "classifier")
        let classifier: Set = ["classifier.weight", "classifier.bias"]
        for (name, values) in loaded {
            if classifier.contains(name) {
                XCTAssertEqual(values, initial[name], "\(name) is the fresh initialisation")
                XCTAssertNotEqual(file[name]?.count, values.count, name)
            } else {
                XCTAssertEqual(values, file[name], "\(name) is the file's, bitwise")
            }
        }
        XCTAssertEqual(Set(loaded.keys), Set(file.keys))
        XCTAssertTrue(log.lines.contains("classifier: file has 3 classes, model 10: re-initialised"), "\(log.lines)")
        XCTAssertEqual(run.options.initialWeights, pretrained.path, "recorded for the checkpoint, absolute")

        // The same class count loads the classifier too, and says nothing about it.
        log.lines = []
        let same = try writePretrained(name: "ten.safetensors", inputChannels: 1, classes: 10)
        let result = try ModelWeights.loadFitting(same, into: fresh)
        XCTAssertNil(result.fileClasses)
        XCTAssertEqual(result.skipped, [])
        XCTAssertEqual(try state(of: fresh), try state(of: same))
    }

    /// After steps with --freeze features (and EMA, clipping, a checkpoint and a resume), every
    /// frozen parameter and running statistic is bitwise the file's; the classifier has learnt.
    func testFrozenFeaturesNeverChange() throws {
        var o = options(epochs: 2)
        o.freeze = .features
        o.ema = 0.9
        o.gradientClip = 1
        o.weightDecay = 0.01
        let file = try state(of: pretrained)
        do {
            let first = try newRun(o)
            XCTAssertEqual(first.trainer.trainingStep.trainableParameters.map(\.name), ["classifier.weight", "classifier.bias"])
            XCTAssertThrowsError(try first.run(stopRequested: { first.trainer.step >= 3 })) { XCTAssertTrue($0 is TrainingInterrupted, "\($0)") }
        }
        // The file is gone: a resume takes its weights from the checkpoint, never from --init's file.
        try FileManager.default.removeItem(at: pretrained)
        var request = TrainingRun.Request(options: TrainingOptions())
        request.resume = out
        let resumed = try TrainingRun(request, logger: logger)
        XCTAssertEqual(resumed.options.freeze, .features)
        XCTAssertEqual(resumed.options.initialWeights, o.initialWeights)
        try resumed.run()
        XCTAssertEqual(resumed.trainer.step, 4)
        let fresh = try ModelCatalog.entry(named: "densenet-bc-10-k4")!.make(inputChannels: 1, classes: 10, device: resumed.device, seed: 4)
        let initial = try state(of: fresh)
        for (label, trained) in [("weights", try state(of: resumed.model)), ("EMA weights", try state(of: resumed.emaWeightsURL))] {
            for (name, values) in trained {
                if name.hasPrefix("classifier.") {
                    XCTAssertNotEqual(values, initial[name], "\(label): \(name) trained")
                } else {
                    XCTAssertEqual(values, file[name], "\(label): \(name) is frozen")
                }
            }
        }
        // The optimizer keeps buffers for the classifier alone.
        XCTAssertEqual(resumed.trainer.optimizer.state.map(\.name), ["classifier.weight.momentum_buffer", "classifier.bias.momentum_buffer"])
    }

    /// A frozen step makes no gradient for the features, and is the head's step on inference-mode features.
    func testAFrozenStepIsTheHeadsStepOnInferenceFeatures() throws {
        let device = Device(backend: CPUBackend())
        let model = try ModelCatalog.entry(named: "densenet-bc-10-k4")!.make(inputChannels: 1, classes: 3, device: device, seed: 1)
        var o = TrainingOptions()
        o.freeze = .features
        let step = try TrainingStep(model: model, options: o)
        var random = SeededRandom(seed: 2)
        let input = try device.tensor(random.uniforms(4 * 64), shape: [4, 1, 8, 8])
        let features = try device.read(model.features(input, training: false))
        _ = try step(input, labels: device.tensor([0, 1, 2, 0], shape: [4]))
        XCTAssertEqual(try device.read(model.features(input, training: false)), features, "the features did not move")
        for p in model.parameters where !p.name.hasPrefix("classifier.") {
            XCTAssertTrue(try device.read(p.gradient).allSatisfy { $0 == 0 }, "\(p.name) got a gradient")
        }
    }

    func testAnyOtherMismatchIsAOneLineError() throws {
        // A tensor missing from the file.
        let file = try SafetensorsFile.read(contentsOf: pretrained)
        let kept = file.tensorNames.filter { $0 != "features.norm5.running_var" && !$0.hasSuffix("num_batches_tracked") }
        let missing = directory.appendingPathComponent("missing.safetensors")
        try SafetensorsWriter.write(tensors: kept.map { ($0, file.tensors[$0]!.shape, try file.floats($0)) }, to: missing)
        var o = options()
        o.initialWeights = missing.path
        assertOneLineError(WeightsFileError.self, try newRun(o), prefix: missing.path, mentions: ["features.norm5.running_var"]) {
            if case .missingTensor = $0 { return true } else { return false }
        }
        // A tensor of another model.
        let extra = directory.appendingPathComponent("extra.safetensors")
        try SafetensorsWriter.write(tensors: file.tensorNames.filter { !$0.hasSuffix("num_batches_tracked") }
                                        .map { ($0, file.tensors[$0]!.shape, try file.floats($0)) } + [("features.norm6.weight", [2], [1, 2])],
                                    to: extra)
        o.initialWeights = extra.path
        assertOneLineError(WeightsFileError.self, try newRun(o), prefix: extra.path, mentions: ["features.norm6.weight"]) {
            if case .unexpectedTensor = $0 { return true } else { return false }
        }
        // Another architecture: the classifier's input width differs too, so it is no class-count change.
        let other = directory.appendingPathComponent("bc-16.safetensors")
        try ModelWeights.save(ModelCatalog.entry(named: "densenet-bc-16-k4")!.make(inputChannels: 1, classes: 3, device: Device(backend: CPUBackend()), seed: 1),
                              to: other)
        o.initialWeights = other.path
        assertOneLineError(WeightsFileError.self, try newRun(o), prefix: other.path) { _ in true }
        // A stem for RGB images on grayscale data.
        let rgb = try writePretrained(name: "rgb.safetensors", inputChannels: 3, classes: 10)
        o.initialWeights = rgb.path
        assertOneLineError(UsageError.self, try newRun(o), prefix: rgb.path,
                           mentions: ["features.conv0.weight", "3-channel", "--channels 3"]) { _ in true }
    }
}

/// Keeps the messages logged through `logger`.
final class CapturedLog: @unchecked Sendable {
    var lines: [String] = []

    var logger: Logger {
        Logger(label: "test") { _ in Handler(log: self) }
    }

    struct Handler: LogHandler {
        let log: CapturedLog
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String, file: String,
                 function: String, line: UInt) {
            log.lines.append(message.description)
        }
    }
}
