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
    /// What cltrain stored in the weights about their run (nil: a file written elsewhere): the
    /// class names, the training size.
    public var stored: RunMetadata? = nil

    /// Build `name` for `channels` x `classes`, load `weights` (already read as `file` when given),
    /// and take the normalisation from `override`, else from the file's metadata.
    public static func load(name: String, weights: String, file: SafetensorsFile? = nil, channels: Int, classes: Int, imageSize: Int,
                            override: Normalization?, device: Device) throws -> LoadedModel {
        guard let entry = ModelCatalog.entry(named: name) else {
            throw UsageError("unknown model '\(name)': see `cltrain models` for the list")
        }
        let file = try file ?? SafetensorsFile.read(contentsOf: URL(fileURLWithPath: weights))
        let stored = RunMetadata(file.metadata)
        try entry.checkInputSize(height: stored?.height ?? imageSize, width: stored?.width ?? imageSize) {
            "train the weights on images resized with --resize \($0) (cltrain keeps the size in the weights it writes)"
        }
        let model = try entry.make(inputChannels: stored?.inputChannels ?? channels, classes: stored?.classes ?? classes,
                                   device: device, seed: 0)
        try ModelWeights.load(file, into: model)
        guard let normalization = override ?? stored?.normalization else {
            throw UsageError("\(weights) holds no cltrain normalisation: pass --mean and --std (one value per channel)")
        }
        try normalization.validate(channels: model.inputChannels)
        let size = stored?.height ?? imageSize
        return LoadedModel(model: model, normalization: normalization, resize: size == imageSize ? nil : size, stored: stored)
    }
}

extension DataSource {
    /// This source with the settings it leaves unset taken from what cltrain `stored` in the
    /// weights (nil: a file written elsewhere): the channels the model takes, and for a folder the
    /// resize and crop it was trained with.
    public func completed(by stored: RunMetadata?) -> DataSource {
        guard let stored else { return self }
        var source = self
        if source.channels == nil { source.channels = stored.inputChannels }
        if source.kind == .folder {
            if source.crop == nil { source.crop = stored.height }
            if source.resize == nil { source.resize = stored.resize }
        }
        return source
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
        /// With `report: true`: the confusion matrix, per-class numbers and picture grid.
        public var report: EvaluationReport? = nil
    }

    /// `cltrain eval`: test loss and accuracy of `weights` (a `model`) on the test split of `data`
    /// (an image folder's val/ or test/, or its `valSplit`); with `report`, also what
    /// `cltrain eval --report` draws. The settings `data` leaves unset take the weights' (their
    /// channels; a folder's resize and crop), so the images are made as in training.
    public static func test(model: String, weights: String, data: DataSource, override: Normalization?,
                            device choice: DeviceChoice, tune: TuneMode = .cached, batchSize: Int, report: Bool = false) throws -> Summary {
        // The weights are read once: their metadata completes the data source, then they load.
        let file = try SafetensorsFile.read(contentsOf: URL(fileURLWithPath: weights))
        let source = data.completed(by: RunMetadata(file.metadata))
        let test = try source.load(split: .test)
        let geometry = source.geometry(of: test)
        let device = try Device.open(choice, tune: tune)
        let loaded = try LoadedModel.load(name: model, weights: weights, file: file, channels: test.channels, classes: test.classes,
                                          imageSize: geometry.height, override: override, device: device)
        guard loaded.model.inputChannels == test.channels, loaded.model.classes >= test.classes else {
            throw UsageError("\(weights) is for \(loaded.model.inputChannels)-channel images and \(loaded.model.classes) classes, "
                             + "\(data.kind.rawValue) has \(test.channels) channels and \(test.classes) classes")
        }
        if report {
            return try reported(loaded, on: device, test: test, model: model, weights: weights, datasetName: data.kind.rawValue, crop: geometry.crop,
                                batchSize: batchSize)
        }
        let result = try evaluate(loaded.model, on: device, dataset: test, normalization: loaded.normalization,
                                  batchSize: batchSize, resize: loaded.resize, crop: geometry.crop)
        return Summary(images: test.count, loss: result.loss, accuracy: result.accuracy, device: device.name)
    }

    /// One pass that keeps each image's prediction, and the report made of them. Class names: the
    /// data set's, else the weights', else the class index.
    static func reported(_ loaded: LoadedModel, on device: Device, test: ImageDataset, model: String, weights: String,
                         datasetName: String, crop: Int?, batchSize: Int) throws -> Summary {
        let result = try classify(loaded.model, on: device, dataset: test, normalization: loaded.normalization,
                                  batchSize: batchSize, resize: loaded.resize, crop: crop)
        let names = !test.classNames.isEmpty ? test.classNames : loaded.stored?.classNames ?? []
        let report = EvaluationReport(dataset: test, predicted: result.predicted, loss: result.loss, classNames: names, model: model,
                                      weights: weights, datasetName: datasetName, device: device.name)
        return Summary(images: test.count, loss: result.loss, accuracy: result.accuracy, device: device.name, report: report)
    }
}
