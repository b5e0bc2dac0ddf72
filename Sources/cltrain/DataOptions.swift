import ArgumentParser
import CLTrainData
import CLTrainTraining
import Foundation

/// `--dataset`, `--data`, `--mean`, `--std`: shared by train, eval and predict.
struct DataOptions: ParsableArguments {
    /// The data set given (nil: none was, and `train --resume` keeps the run's).
    @Option(name: .customLong("dataset"), help: "fashion-mnist, mnist, cifar10 or cifar100 (default: fashion-mnist).",
            transform: { text in
                guard let kind = DatasetKind(rawValue: text.lowercased()) else {
                    throw ValidationError("unknown dataset '\(text)': use fashion-mnist, mnist, cifar10 or cifar100")
                }
                return kind
            })
    var datasetChoice: DatasetKind?

    var dataset: DatasetKind { datasetChoice ?? .fashionMNIST }

    @Option(name: .customLong("data"), help: "Folder of the data set files (default for fashion-mnist: /usr/share/datasets/fashion-mnist).")
    var dataDirectory: String?

    @Option(name: .long, parsing: .upToNextOption, help: "Per-channel mean (one value per channel) overriding the stored or computed one.")
    var mean: [Float] = []

    @Option(name: .long, parsing: .upToNextOption, help: "Per-channel standard deviation, with --mean.")
    var std: [Float] = []

    /// The override, when both are given.
    func normalizationOverride() throws -> Normalization? {
        if mean.isEmpty && std.isEmpty { return nil }
        guard mean.count == std.count else {
            throw ValidationError("--mean and --std need the same number of values (one per channel)")
        }
        return Normalization(mean: mean, std: std)
    }
}
