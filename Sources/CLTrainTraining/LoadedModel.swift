import CLTrainData
import CLTrainIO
import CLTrainNN
import CLTrainRuntime
import Foundation

/// A model with trained weights loaded, and the normalisation and image size to feed it: what
/// `cltrain eval` and `cltrain predict` run.
public struct LoadedModel {
    public let model: Model
    public let normalization: Normalization
    /// Images are resized to this (nil: use them as they are).
    public let resize: Int?
    /// What cltrain stored in the weights (nil: a file written elsewhere): the class names, the
    /// training size.
    public var metadata: RunMetadata? = nil

    /// Build `name` for `channels` x `classes`, load `weights`, and take the normalisation from
    /// `override`, else from the file's metadata.
    public static func load(name: String, weights: String, channels: Int, classes: Int, imageSize: Int,
                            override: Normalization?, device: Device) throws -> LoadedModel {
        guard let entry = ModelCatalog.entry(named: name) else {
            throw UsageError("unknown model '\(name)': see `cltrain models` for the list")
        }
        let url = URL(fileURLWithPath: weights)
        let file = try SafetensorsFile.read(contentsOf: url)
        let stored = RunMetadata(file.metadata)
        try entry.checkInputSize(height: stored?.height ?? imageSize, width: stored?.width ?? imageSize) {
            "train the weights on images resized with --resize \($0) (cltrain keeps the size in the weights it writes)"
        }
        let model = try entry.make(inputChannels: stored?.inputChannels ?? channels, classes: stored?.classes ?? classes,
                                   device: device, seed: 0)
        try ModelWeights.load(url, into: model)
        guard let normalization = override ?? stored?.normalization else {
            throw UsageError("\(weights) holds no cltrain normalisation: pass --mean and --std (one value per channel)")
        }
        try normalization.validate(channels: model.inputChannels)
        let size = stored?.height ?? imageSize
        return LoadedModel(model: model, normalization: normalization, resize: size == imageSize ? nil : size, metadata: stored)
    }
}

extension Evaluation {
    /// What `cltrain eval` reports.
    public struct Summary: Sendable {
        public let images: Int
        public let loss: Double
        public let accuracy: Double
        /// The device it ran on, as `Device.name`.
        public let device: String
    }

    /// `cltrain eval`: test loss and accuracy of `weights` (a `model`) on `dataset`'s test split.
    public static func test(model: String, weights: String, dataset: DatasetKind, directory: String?, override: Normalization?,
                            device choice: DeviceChoice, tune: TuneMode = .cached, batchSize: Int) throws -> Summary {
        let test = try DatasetLoader.load(kind: dataset, directory: directory, split: .test)
        let device = try Device.open(choice, tune: tune)
        let loaded = try LoadedModel.load(name: model, weights: weights, channels: test.channels, classes: test.classes,
                                          imageSize: test.height, override: override, device: device)
        guard loaded.model.inputChannels == test.channels, loaded.model.classes >= test.classes else {
            throw UsageError("\(weights) is for \(loaded.model.inputChannels)-channel images and \(loaded.model.classes) classes, "
                             + "\(dataset.rawValue) has \(test.channels) channels and \(test.classes) classes")
        }
        let result = try evaluate(loaded.model, on: device, dataset: test, normalization: loaded.normalization,
                                  batchSize: batchSize, resize: loaded.resize)
        return Summary(images: test.count, loss: result.loss, accuracy: result.accuracy, device: device.name)
    }

    /// `cltrain predict`: each image's logits from `weights` (a `model`) on the images of an IDX
    /// file, in file order, and the model's class count.
    public static func predict(model: String, weights: String, images path: String, classes: Int, override: Normalization?,
                               device choice: DeviceChoice, tune: TuneMode = .cached, batchSize: Int) throws -> (classes: Int, logits: [[Float]]) {
        let images = try IDX.readUnlabeled(path)
        let device = try Device.open(choice, tune: tune)
        let loaded = try LoadedModel.load(name: model, weights: weights, channels: images.channels, classes: classes,
                                          imageSize: images.height, override: override, device: device)
        guard loaded.model.inputChannels == images.channels else {
            throw UsageError("\(weights) is for \(loaded.model.inputChannels)-channel images; \(path) has \(images.channels)")
        }
        let rows = try logits(loaded.model, on: device, dataset: images, normalization: loaded.normalization,
                              batchSize: batchSize, resize: loaded.resize)
        return (loaded.model.classes, rows)
    }
}
