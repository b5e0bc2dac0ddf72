import CLTrainData
import CLTrainRuntime
import Foundation

/// `cltrain predict`: the class of each image of IDX files, image files (PNG, JPEG) and folders
/// of them, from trained weights.
///
/// Image files are converted to the model's channel count, scaled so that they cover the size the
/// weights were trained at and center-cropped to it (`DecodedImage.fitted`), then normalised with
/// the stored normalisation. IDX images are resized square to that size, as `eval` does.
public enum Prediction {
    /// One image's prediction.
    public struct Row: Sendable, Equatable {
        /// The path it came from, as given (a folder's images: the folder's path and the file name).
        public let source: String
        /// Its place in an IDX file; nil for an image file.
        public let index: Int?
        /// The model's output, one value per class.
        public let logits: [Float]

        public init(source: String, index: Int?, logits: [Float]) {
            self.source = source
            self.index = index
            self.logits = logits
        }

        /// The image as a person names it: the file, or `FILE[INDEX]` inside an IDX file.
        public var label: String { index.map { "\(source)[\($0)]" } ?? source }

        /// Softmax of the logits (computed in double precision; they sum to 1).
        public var probabilities: [Double] { Prediction.softmax(logits) }

        /// The class with the largest logit (the first of equals).
        public var predicted: Int { top(1).first?.classIndex ?? 0 }

        /// The `k` most probable classes (fewer when the model has fewer), most probable first;
        /// equal probabilities in class order.
        public func top(_ k: Int) -> [(classIndex: Int, probability: Double)] {
            let p = probabilities
            let order = p.indices.sorted { p[$0] != p[$1] ? p[$0] > p[$1] : $0 < $1 }
            return order.prefix(max(0, k)).map { ($0, p[$0]) }
        }
    }

    /// Softmax of `logits` in double precision, the largest subtracted first so none overflows.
    public static func softmax(_ logits: [Float]) -> [Double] {
        let largest = logits.map(Double.init).max() ?? 0
        let exponentials = logits.map { Foundation.exp(Double($0) - largest) }
        let total = exponentials.reduce(0, +)
        return exponentials.map { $0 / total }
    }

    public struct Result: Sendable {
        /// The name of each class (the weights' names, `--class-names`, or the class index).
        public let classNames: [String]
        public let rows: [Row]
        /// The device it ran on, as `Device.name`.
        public let device: String

        public var classes: Int { classNames.count }

        public init(classNames: [String], rows: [Row], device: String) {
            self.classNames = classNames
            self.rows = rows
            self.device = device
        }
    }

    /// What to run on, each a file or a folder: an image file (by its extension, see
    /// `ImageCodec.fileExtensions`), a folder (its image files, by name, not its subfolders), or else
    /// an IDX file of images (`.gz` or not).
    ///
    /// `classes` and `channels` stand in for weights without cltrain's metadata (channels default to
    /// 1 for IDX, else 3 when any image is in colour); `size` likewise for the image size (default:
    /// the first input's). `classNamesFile` (one name a line) overrides the stored names.
    public static func run(model: String, weights: String, inputs: [String], classes: Int, channels: Int? = nil, size: Int? = nil,
                           classNamesFile: String? = nil, override: Normalization?, device choice: DeviceChoice,
                           tune: TuneMode = .cached, batchSize: Int) throws -> Result {
        let items = try read(inputs)
        guard let first = items.first else { throw UsageError("give at least one --input: an image, a folder of images or an IDX file") }
        let anyIDX = items.contains { if case .idx = $0 { return true } else { return false } }
        let anyColor = items.contains { if case .image(_, let image) = $0 { return image.channels == 3 } else { return false } }
        let device = try Device.open(choice, tune: tune)
        let firstHeight: Int
        switch first {
        case .idx(_, let set): firstHeight = set.height
        case .image(_, let image): firstHeight = image.height
        }
        let loaded = try LoadedModel.load(name: model, weights: weights, channels: channels ?? (anyIDX || !anyColor ? 1 : 3),
                                          classes: classes, imageSize: size ?? firstHeight, override: override, device: device)
        let net = loaded.model
        let height = size ?? loaded.stored?.height ?? firstHeight
        let width = size ?? loaded.stored?.width ?? {
            if case .image(_, let image) = first { return image.width }
            return firstHeight
        }()
        let names = try classNames(stored: loaded.stored?.classNames ?? [], file: classNamesFile, classes: net.classes)

        // Every image file in one set (converted and fitted), each IDX file in its own.
        var fitted: [UInt8] = []
        var imageCount = 0
        for case .image(_, let image) in items {
            fitted += image.converted(toChannels: net.inputChannels).fitted(toHeight: height, width: width).planar
            imageCount += 1
        }
        var imageLogits: [[Float]] = []
        if imageCount > 0 {
            let set = ImageDataset(images: fitted, labels: [], count: imageCount, channels: net.inputChannels, height: height,
                                   width: width, classes: 0)
            imageLogits = try Evaluation.logits(net, on: device, dataset: set, normalization: loaded.normalization, batchSize: batchSize)
        }
        var rows: [Row] = []
        var nextImage = 0
        for item in items {
            switch item {
            case .image(let path, _):
                rows.append(Row(source: path, index: nil, logits: imageLogits[nextImage]))
                nextImage += 1
            case .idx(let path, let set):
                guard net.inputChannels == set.channels else {
                    throw UsageError("\(weights) is for \(net.inputChannels)-channel images; \(path) has \(set.channels)")
                }
                guard height == width || set.height == height && set.width == width else {
                    throw UsageError("\(weights) is for \(height)x\(width) images; IDX images are resized square: "
                                     + "write \(path)'s images as PNG files instead")
                }
                let resize = set.height == height && set.width == width ? nil : height
                let logits = try Evaluation.logits(net, on: device, dataset: set, normalization: loaded.normalization,
                                                   batchSize: batchSize, resize: resize)
                rows += logits.enumerated().map { Row(source: path, index: $0.offset, logits: $0.element) }
            }
        }
        return Result(classNames: names, rows: rows, device: device.name)
    }

    enum Item {
        case idx(String, ImageDataset)
        case image(String, DecodedImage)
    }

    /// Each input read, in order: a folder's image files sorted by name.
    static func read(_ inputs: [String]) throws -> [Item] {
        var items: [Item] = []
        let decoder = try JPEGDecoder()
        for path in inputs {
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
                throw UsageError("\(path) does not exist: give an image file, a folder of images or an IDX file")
            }
            if isFolder.boolValue {
                let names = try FileManager.default.contentsOfDirectory(atPath: path).filter(ImageCodec.isImageFileName).sorted()
                guard !names.isEmpty else {
                    throw UsageError("\(path) holds no image files (\(ImageCodec.fileExtensions.sorted().joined(separator: ", ")))")
                }
                for name in names {
                    let file = (path as NSString).appendingPathComponent(name)
                    items.append(.image(file, try decoder.read(file)))
                }
            } else if ImageCodec.isImageFileName(path) {
                items.append(.image(path, try decoder.read(path)))
            } else {
                items.append(.idx(path, try IDX.readUnlabeled(path)))
            }
        }
        return items
    }

    /// The names to show: `file`'s lines (blank lines skipped), else `stored`, else the class
    /// indices; a list that does not have one name per class is refused (file) or ignored (stored).
    public static func classNames(stored: [String], file: String?, classes: Int) throws -> [String] {
        if let file {
            let text: String
            do { text = try String(contentsOfFile: file, encoding: .utf8) } catch {
                throw UsageError("cannot read --class-names \(file): \((error as NSError).localizedDescription)")
            }
            let names = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            guard names.count == classes else {
                throw UsageError("--class-names \(file) has \(names.count) names; the model has \(classes) classes: give one name a line")
            }
            return names
        }
        if stored.count == classes { return stored }
        return (0..<classes).map(String.init)
    }
}
