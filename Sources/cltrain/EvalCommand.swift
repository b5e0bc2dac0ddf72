import ArgumentParser
import CLTrainData
import CLTrainIO
import CLTrainTraining
import Foundation

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
            let result = try Evaluation.test(model: model, weights: weights, data: data.source(),
                                             override: try data.normalizationOverride(), device: deviceOptions.device, tune: deviceOptions.tune, batchSize: batchSize)
            if json {
                let object: [String: Any] = ["model": model, "weights": weights, "dataset": data.dataset.rawValue,
                                             "images": result.images, "accuracy": result.accuracy, "loss": result.loss, "device": result.device]
                let encoded = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
                print(String(decoding: encoded, as: UTF8.self))
            } else {
                print(String(format: "test accuracy %.2f%% (loss %.4f) on %d %@ images", 100 * result.accuracy, result.loss,
                             result.images, data.dataset.rawValue))
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
        guard classes > 0 else { throw ValidationError("--classes must be at least 1 (got \(classes))") }
    }

    func run() throws {
        try reportingErrors {
            try checkWritableFile(output)
            let (classCount, rows) = try Evaluation.predict(model: model, weights: weights, images: input, classes: classes,
                                                            override: mean.isEmpty ? nil : Normalization(mean: mean, std: std),
                                                            device: deviceOptions.device, tune: deviceOptions.tune, batchSize: batchSize)
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
