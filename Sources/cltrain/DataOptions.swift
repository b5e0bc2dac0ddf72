import ArgumentParser
import CLTrainData
import CLTrainTraining
import Foundation

/// `--dataset`, `--data`, `--channels`, `--val-split`, `--mean`, `--std`: shared by train and eval.
struct DataOptions: ParsableArguments {
    /// The data set given (nil: none was, and `train --resume` keeps the run's).
    @Option(name: .customLong("dataset"), help: "fashion-mnist, mnist, cifar10, cifar100, or folder: your own images in torchvision's ImageFolder layout, --data DIR holding DIR/train/CLASS/*.{jpg,jpeg,png} and DIR/val/CLASS/... (or test/) (default: fashion-mnist).",
            transform: { text in
                guard let kind = DatasetKind(rawValue: text.lowercased()) else {
                    throw ValidationError("unknown dataset '\(text)': use fashion-mnist, mnist, cifar10, cifar100 or folder")
                }
                return kind
            })
    var datasetChoice: DatasetKind?

    var dataset: DatasetKind { datasetChoice ?? .fashionMNIST }

    @Option(name: .customLong("data"), help: "Folder of the data set files (default for fashion-mnist: /usr/share/datasets/fashion-mnist); for --dataset folder, the folder holding train/ and val/.")
    var dataDirectory: String?

    @Option(name: .long, help: "Convert every image to 1 (grayscale, Pillow's luma) or 3 (RGB) channels, for any data set (default: the data's own; a folder: 3 if any image is RGB; eval: the weights').")
    var channels: Int?

    @Option(name: .long, help: "--dataset folder without val/ or test/: hold out this fraction of each class's training images as the test split (the same images every run; give eval the same fraction).")
    var valSplit: Double?

    @Option(name: .long, parsing: .upToNextOption, help: "Per-channel mean (one value per channel) overriding the stored or computed one.")
    var mean: [Float] = []

    @Option(name: .long, parsing: .upToNextOption, help: "Per-channel standard deviation, with --mean.")
    var std: [Float] = []

    /// The data to read, as the data module takes it (`resize`, `crop`: train's flags).
    func source(resize: Int? = nil, crop: Int? = nil) -> DataSource {
        DataSource(kind: dataset, directory: dataDirectory, channels: channels, resize: resize, crop: crop, valSplit: valSplit)
    }

    /// The override, when both are given.
    func normalizationOverride() throws -> Normalization? {
        if mean.isEmpty && std.isEmpty { return nil }
        guard mean.count == std.count else {
            throw ValidationError("--mean and --std need the same number of values (one per channel)")
        }
        return Normalization(mean: mean, std: std)
    }
}
