import CLTrainData
import Foundation

/// What cltrain stores in the metadata of every weights file it writes, so `eval` and
/// `predict` use the normalisation and shape the model was trained with.
public struct RunMetadata: Equatable, Sendable {
    public var model: String
    public var dataset: String
    public var inputChannels: Int
    public var classes: Int
    public var height: Int
    public var width: Int
    public var normalization: Normalization
    /// The name of each class, by label (empty: the data set named none).
    public var classNames: [String]
    /// Image folders: the shorter side images were resized to before the `height` x `width` crop
    /// (nil: not resized, or not a folder).
    public var resize: Int?

    public init(model: String, dataset: String, inputChannels: Int, classes: Int, height: Int, width: Int, normalization: Normalization,
                classNames: [String] = [], resize: Int? = nil) {
        self.model = model
        self.dataset = dataset
        self.inputChannels = inputChannels
        self.classes = classes
        self.height = height
        self.width = width
        self.normalization = normalization
        self.classNames = classNames
        self.resize = resize
    }

    public var dictionary: [String: String] {
        var entries = [
            "cltrain.model": model,
            "cltrain.dataset": dataset,
            "cltrain.input_channels": String(inputChannels),
            "cltrain.classes": String(classes),
            "cltrain.height": String(height),
            "cltrain.width": String(width),
            "cltrain.mean": normalization.mean.map { "\($0)" }.joined(separator: ","),
            "cltrain.std": normalization.std.map { "\($0)" }.joined(separator: ","),
        ]
        if let resize { entries["cltrain.resize"] = String(resize) }
        if !classNames.isEmpty, let json = try? JSONSerialization.data(withJSONObject: classNames) {
            entries["cltrain.class_names"] = String(decoding: json, as: UTF8.self)
        }
        return entries
    }

    /// Read back what `dictionary` wrote; nil for a file written elsewhere (e.g. by PyTorch).
    public init?(_ metadata: [String: String]) {
        guard let model = metadata["cltrain.model"], let channels = metadata["cltrain.input_channels"].flatMap(Int.init),
              let classes = metadata["cltrain.classes"].flatMap(Int.init),
              let height = metadata["cltrain.height"].flatMap(Int.init), let width = metadata["cltrain.width"].flatMap(Int.init),
              let mean = metadata["cltrain.mean"].flatMap(Self.floats), let std = metadata["cltrain.std"].flatMap(Self.floats)
        else { return nil }
        // Names that do not parse, or do not match the class count, are left out rather than guessed.
        let names = metadata["cltrain.class_names"].flatMap { text in
            (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String]
        }.flatMap { $0.count == classes ? $0 : nil } ?? []
        self.init(model: model, dataset: metadata["cltrain.dataset"] ?? "", inputChannels: channels, classes: classes,
                  height: height, width: width, normalization: Normalization(mean: mean, std: std), classNames: names,
                  resize: metadata["cltrain.resize"].flatMap(Int.init))
    }

    static func floats(_ text: String) -> [Float]? {
        let values = text.split(separator: ",").map { Float($0.trimmingCharacters(in: .whitespaces)) }
        return values.contains(nil) || values.isEmpty ? nil : values.map { $0! }
    }
}
