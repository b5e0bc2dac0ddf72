import ArgumentParser
import CLTrainData
import CLTrainIO
import CLTrainReport
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

    @Option(name: .long, help: "Folder to write report.json, a confusion matrix and a grid of test images (SVG and PNG) into.")
    var report: String?

    func validate() throws {
        guard batchSize > 0 else { throw ValidationError("--batch-size must be at least 1 (got \(batchSize))") }
    }

    func run() throws {
        try reportingErrors {
            if let report { try ReportFolder.prepare(report) }
            let result = try Evaluation.test(model: model, weights: weights, data: data.source(),
                                             override: try data.normalizationOverride(), device: deviceOptions.device, tune: deviceOptions.tune, batchSize: batchSize,
                                             report: report != nil)
            if let report, let contents = result.report { try ReportFolder.write(contents, to: report) }
            if json {
                var object: [String: Any] = ["model": model, "weights": weights, "dataset": data.dataset.rawValue,
                                             "images": result.images, "accuracy": result.accuracy, "loss": result.loss, "device": result.device]
                if let report { object["report"] = report }
                let encoded = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
                print(String(decoding: encoded, as: UTF8.self))
            } else {
                print(String(format: "test accuracy %.2f%% (loss %.4f) on %d %@ images", 100 * result.accuracy, result.loss,
                             result.images, data.dataset.rawValue))
                if let report { print("wrote \(ReportFolder.files.joined(separator: ", ")) to \(report)") }
            }
        }
    }
}

struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Classify images: each one's class name and top-5 probabilities, as lines, CSV or JSON.",
        discussion: """
        --input takes image files (PNG, JPEG), folders of them (their image files by name) and IDX files (.idx or .gz), \
        any number. Images are converted to the model's channels, scaled so that they cover the size the weights were \
        trained at and center-cropped to it (an image of another aspect loses the edges of its longer side), then \
        normalised with the stored mean and std.
        """)

    @Option(name: .long, help: "Model name (see `cltrain models`).")
    var model: String

    @Option(name: .long, help: "Weights (safetensors).")
    var weights: String

    @Option(name: .long, parsing: .upToNextOption, help: "Images: PNG or JPEG files, folders of them, or IDX files (.idx or .idx.gz).")
    var input: [String]

    @Option(name: .long, help: "Write FILE.csv (every logit, the top-5 names and probabilities) or FILE.json instead of printing lines.")
    var output: String?

    @Option(name: .long, help: "Class names, one a line, overriding the names stored in the weights.")
    var classNames: String?

    @Option(name: .long, help: "Classes of the model when the weights file does not say.")
    var classes = 10

    @Option(name: .long, help: "Input channels of the model when the weights file does not say (default: 1 for IDX, else 3 if any image is in colour).")
    var channels: Int?

    @Option(name: .long, help: "Image size the model takes, overriding the size stored in the weights.")
    var size: Int?

    @Option(name: .long, parsing: .upToNextOption, help: "Per-channel mean, overriding the stored one.")
    var mean: [Float] = []

    @Option(name: .long, parsing: .upToNextOption, help: "Per-channel standard deviation, with --mean.")
    var std: [Float] = []

    @OptionGroup var deviceOptions: DeviceOptions

    @Option(name: .long, help: "Images per batch.")
    var batchSize = 256

    enum Format { case lines, csv, json }

    var format: Format {
        guard let output else { return .lines }
        return output.lowercased().hasSuffix(".json") ? .json : .csv
    }

    func validate() throws {
        guard batchSize > 0 else { throw ValidationError("--batch-size must be at least 1 (got \(batchSize))") }
        guard mean.count == std.count else { throw ValidationError("--mean and --std need the same number of values (one per channel)") }
        guard classes > 0 else { throw ValidationError("--classes must be at least 1 (got \(classes))") }
        guard !input.isEmpty else { throw ValidationError("--input needs at least one image file, folder or IDX file") }
        if let channels, channels != 1 && channels != 3 { throw ValidationError("--channels must be 1 or 3 (got \(channels))") }
        if let size, size < 1 { throw ValidationError("--size must be at least 1 (got \(size))") }
        if let output, !output.lowercased().hasSuffix(".csv") && !output.lowercased().hasSuffix(".json") {
            throw ValidationError("--output \(output) must end in .csv or .json")
        }
    }

    func run() throws {
        try reportingErrors {
            if let output { try checkWritableFile(output) }
            let result = try Prediction.run(model: model, weights: weights, inputs: input, classes: classes, channels: channels, size: size,
                                            classNamesFile: classNames, override: mean.isEmpty ? nil : Normalization(mean: mean, std: std),
                                            device: deviceOptions.device, tune: deviceOptions.tune, batchSize: batchSize)
            switch format {
            case .lines:
                for line in PredictionTable.lines(result) { print(line) }
            case .csv, .json:
                let output = output ?? ""
                let data = format == .csv ? Data(PredictionTable.csv(result).utf8)
                    : try PredictionTable.json(result, model: model, weights: weights)
                try AtomicFile.write(data, to: URL(fileURLWithPath: output))
                print("wrote \(result.rows.count) predictions to \(output)")
            }
        }
    }
}
