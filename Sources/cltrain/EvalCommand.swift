import ArgumentParser
import CLTrainData
import CLTrainIO
import CLTrainNN
import CLTrainRuntime
import CLTrainTraining
import Foundation

/// A model with weights loaded, and the normalisation and image size to feed it.
struct LoadedModel {
    let model: Model
    let normalization: Normalization
    /// Images are resized to this (nil: use them as they are).
    let resize: Int?

    /// Build `name` for `channels` x `classes`, load `weights`, and take the normalisation from
    /// `override`, else from the file's metadata.
    static func load(name: String, weights: String, channels: Int, classes: Int, imageSize: Int,
                     override: Normalization?, device: Device) throws -> LoadedModel {
        guard let entry = ModelCatalog.entry(named: name) else {
            throw UsageError("unknown model '\(name)': see `cltrain models` for the list")
        }
        let url = URL(fileURLWithPath: weights)
        let file = try SafetensorsFile.read(contentsOf: url)
        let stored = RunMetadata(file.metadata)
        let model = try entry.make(inputChannels: stored?.inputChannels ?? channels, classes: stored?.classes ?? classes,
                                   device: device, seed: 0)
        try ModelWeights.load(url, into: model)
        guard let normalization = override ?? stored?.normalization else {
            throw UsageError("\(weights) holds no cltrain normalisation: pass --mean and --std (one value per channel)")
        }
        try normalization.validate(channels: model.inputChannels)
        let size = stored?.height ?? imageSize
        return LoadedModel(model: model, normalization: normalization, resize: size == imageSize ? nil : size)
    }
}

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Test accuracy of trained weights.")

    @Option(name: .long, help: "Model name (see `cltrain models`).")
    var model: String

    @Option(name: .long, help: "Weights (safetensors) to evaluate.")
    var weights: String

    @OptionGroup var data: DataOptions
    @OptionGroup var deviceOptions: DeviceOptions

    @Option(name: .long, help: "Images per batch.")
    var batchSize = 256

    @Flag(name: .long, help: "Print JSON.")
    var json = false

    func validate() throws {
        guard batchSize > 0 else { throw ValidationError("--batch-size must be at least 1 (got \(batchSize))") }
    }

    func run() throws {
        try reportingErrors {
            let test = try DatasetLoader.load(kind: data.dataset, directory: data.dataDirectory, split: .test)
            let device = try deviceOptions.open()
            let loaded = try LoadedModel.load(name: model, weights: weights, channels: test.channels, classes: test.classes,
                                              imageSize: test.height, override: try data.normalizationOverride(), device: device)
            guard loaded.model.inputChannels == test.channels, loaded.model.classes >= test.classes else {
                throw UsageError("\(weights) is for \(loaded.model.inputChannels)-channel images and \(loaded.model.classes) classes, "
                                 + "\(data.dataset.rawValue) has \(test.channels) channels and \(test.classes) classes")
            }
            let result = try Evaluation.evaluate(loaded.model, on: device, dataset: test, normalization: loaded.normalization,
                                                 batchSize: batchSize, resize: loaded.resize)
            if json {
                let object: [String: Any] = ["model": model, "weights": weights, "dataset": data.dataset.rawValue,
                                             "images": test.count, "accuracy": result.accuracy, "loss": result.loss, "device": device.name]
                let encoded = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
                print(String(decoding: encoded, as: UTF8.self))
            } else {
                print(String(format: "test accuracy %.2f%% (loss %.4f) on %d %@ images", 100 * result.accuracy, result.loss,
                             test.count, data.dataset.rawValue))
            }
        }
    }
}

struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Write each image's logits and predicted class to a CSV file.")

    @Option(name: .long, help: "Model name (see `cltrain models`).")
    var model: String

    @Option(name: .long, help: "Weights (safetensors).")
    var weights: String

    @Option(name: .long, help: "Images as an IDX file (.idx or .idx.gz).")
    var input: String

    @Option(name: .long, help: "CSV file to write.")
    var output: String

    @Option(name: .long, help: "Classes of the model when the weights file does not say.")
    var classes = 10

    @Option(name: .long, parsing: .upToNextOption, help: "Per-channel mean, overriding the stored one.")
    var mean: [Float] = []

    @Option(name: .long, parsing: .upToNextOption, help: "Per-channel standard deviation, with --mean.")
    var std: [Float] = []

    @OptionGroup var deviceOptions: DeviceOptions

    @Option(name: .long, help: "Images per batch.")
    var batchSize = 256

    func validate() throws {
        guard batchSize > 0 else { throw ValidationError("--batch-size must be at least 1 (got \(batchSize))") }
        guard mean.count == std.count else { throw ValidationError("--mean and --std need the same number of values (one per channel)") }
    }

    func run() throws {
        try reportingErrors {
            try checkWritableFile(output)
            let images = try IDX.readUnlabeled(input)
            let device = try deviceOptions.open()
            let loaded = try LoadedModel.load(name: model, weights: weights, channels: images.channels, classes: classes,
                                              imageSize: images.height, override: mean.isEmpty ? nil : Normalization(mean: mean, std: std),
                                              device: device)
            guard loaded.model.inputChannels == images.channels else {
                throw UsageError("\(weights) is for \(loaded.model.inputChannels)-channel images; \(input) has \(images.channels)")
            }
            let rows = try Evaluation.logits(loaded.model, on: device, dataset: images, normalization: loaded.normalization,
                                             batchSize: batchSize, resize: loaded.resize)
            let classCount = loaded.model.classes
            var csv = "index," + (0..<classCount).map { "logit_\($0)" }.joined(separator: ",") + ",predicted\n"
            for (index, row) in rows.enumerated() {
                let best = row.indices.max(by: { row[$0] < row[$1] }) ?? 0
                csv += "\(index)," + row.map { "\($0)" }.joined(separator: ",") + ",\(best)\n"
            }
            try AtomicFile.write(Data(csv.utf8), to: URL(fileURLWithPath: output))
            print("wrote \(rows.count) predictions to \(output)")
        }
    }
}
