import ArgumentParser
import CLTrainData
import CLTrainIO
import CLTrainReport
import CLTrainTraining
import Foundation

struct Localize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Find where the predicted (or a given) class is in each image: a box and a heatmap overlay.",
        discussion: """
            A DRN's classifier applied at each position before pooling gives the class's response map at 1/8 of the \
            input (Yu et al. 2017, section 5); DenseNet and ResNet give their class activation map (Zhou et al. 2016). \
            The map is resized to the image, kept where it reaches --threshold of its range, and the box of the largest \
            8-connected region is written, in image pixels, to DIR/NAME.json with the overlay DIR/NAME.overlay.png.
            """)

    @Option(name: .long, help: "Model name (see `cltrain models`).")
    var model: String

    @Option(name: .long, help: "Weights (safetensors).")
    var weights: String

    @Option(name: .long, parsing: .upToNextOption, help: "PNG or JPEG images, or one IDX file with --index.")
    var input: [String]

    @Option(name: .long, parsing: .upToNextOption, help: "Images of the IDX file given as --input to localize, by index from 0.")
    var index: [Int] = []

    @Option(name: .customLong("class"), help: "The class to localize, by name (or index) (default: each image's top class).")
    var className: String?

    @Option(name: .long, help: "Keep the map where it reaches this fraction of its range, between 0 and 1 (CAM's 0.2 by default).")
    var threshold: Float = Localization.defaultThreshold

    @Option(name: .long, help: "Folder for NAME.json and NAME.overlay.png per image (made if missing).")
    var output = "localization"

    @Option(name: .long, help: "Classes of the model when the weights file does not say.")
    var classes = 10

    @Option(name: .long, help: "Input channels of the model when the weights file does not say.")
    var channels = 3

    @Option(name: .long, parsing: .upToNextOption, help: "Per-channel mean, overriding the stored one.")
    var mean: [Float] = []

    @Option(name: .long, parsing: .upToNextOption, help: "Per-channel standard deviation, with --mean.")
    var std: [Float] = []

    @OptionGroup var deviceOptions: DeviceOptions

    func validate() throws {
        guard !input.isEmpty else { throw ValidationError("--input needs at least one image") }
        guard threshold > 0 && threshold < 1 else {
            throw ValidationError("--threshold is a fraction of the map's range, between 0 and 1 exclusive (got \(threshold))")
        }
        guard mean.count == std.count else { throw ValidationError("--mean and --std need the same number of values (one per channel)") }
        guard classes > 0, channels == 1 || channels == 3 else { throw ValidationError("--classes must be at least 1 and --channels 1 or 3") }
        guard index.isEmpty || input.count == 1 else { throw ValidationError("--index picks images of one IDX file: give one --input") }
        guard index.allSatisfy({ $0 >= 0 }) else { throw ValidationError("--index counts from 0") }
    }

    /// One image to localize: a name for its output files, where it came from, its pixels.
    struct Source {
        var name: String
        var file: String
        /// The image's index in an IDX file.
        var index: Int? = nil
        var image: DecodedImage

        /// How the summary line names it: the file, and the index in an IDX file.
        var label: String { index.map { "\(file)[\($0)]" } ?? file }
    }

    func run() throws {
        try reportingErrors {
            let sources = try readImages()
            let device = try deviceOptions.open()
            let localization = try Localization.load(model: model, weights: weights, classes: classes, channels: channels,
                                                     override: mean.isEmpty ? nil : Normalization(mean: mean, std: std), device: device)
            let classIndex = try className.map { try localization.classIndex(named: $0) }
            // Made only now, so that bad input leaves no folder behind.
            let folder = URL(fileURLWithPath: output)
            try ReportFolder.prepare(output, for: "the localization")
            for source in sources {
                let result = try localization.localize(source.image, classIndex: classIndex, threshold: threshold)
                let overlay = LocalizationOverlay.render(source.image, map: result.imageMap, boxes: result.box.map { [$0] } ?? [])
                let overlayName = source.name + ".overlay.png"
                let record = Record(source: source, result: result, model: model, weights: weights, overlay: overlayName)
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                encoder.keyEncodingStrategy = .convertToSnakeCase
                try AtomicFile.write(Data(try ImageCodec.encodePNG(overlay)), to: folder.appendingPathComponent(overlayName))
                try AtomicFile.write(try encoder.encode(record) + Data("\n".utf8), to: folder.appendingPathComponent(source.name + ".json"))
                print(summary(source, result))
            }
        }
    }

    /// Every image, decoded before anything runs, so a bad file stops the command before any output.
    func readImages() throws -> [Source] {
        var sources: [Source] = []
        if !index.isEmpty {
            let file = input[0]
            let images = try IDX.readUnlabeled(file)
            let stem = Self.stem(of: file)
            for i in index {
                guard i < images.count else {
                    throw UsageError("--index \(i) is past the end of \(file), which holds \(images.count) images (0-\(images.count - 1))")
                }
                let image = DecodedImage(planar: images.image(i), channels: images.channels, height: images.height, width: images.width)
                sources.append(Source(name: "\(stem)-\(i)", file: file, index: i, image: image))
            }
            return sources
        }
        var used: [String: Int] = [:]
        for file in input {
            // Two inputs of the same name (a/cat.png, b/cat.png) get cat and cat-2.
            let stem = Self.stem(of: file)
            used[stem, default: 0] += 1
            let name = used[stem]! == 1 ? stem : "\(stem)-\(used[stem]!)"
            sources.append(Source(name: name, file: file, image: try ImageCodec.read(file)))
        }
        return sources
    }

    /// A file's name without its folder and extension (`.idx.gz` counts as one).
    static func stem(of path: String) -> String {
        var name = (path as NSString).lastPathComponent
        if name.lowercased().hasSuffix(".gz") { name = (name as NSString).deletingPathExtension }
        return (name as NSString).deletingPathExtension
    }

    func summary(_ source: Source, _ result: Localization.Result) -> String {
        let label = result.className.map { "\($0) (class \(result.classIndex))" } ?? "class \(result.classIndex)"
        let box = result.box.map { "box \($0)" } ?? "no box (flat map)"
        let others = result.regions.count > 1 ? " (+\(result.regions.count - 1) smaller regions)" : ""
        return String(format: "%@: %@ p=%.3f, %@%@ in %dx%d, map %dx%d, threshold %g -> %@/%@.json",
                      source.label, label, result.probability, box, others, source.image.width, source.image.height,
                      result.map.width, result.map.height, result.threshold, output, source.name)
    }

    /// What NAME.json holds.
    struct Record: Encodable {
        struct Box: Encodable {
            var x0, y0, x1, y1: Int
            /// Pixels of the region (not of its box).
            var area: Int
            /// The map's largest value in the region.
            var peak: Float
        }

        var file: String
        /// The image's index in an IDX file (absent for an image file).
        var index: Int?
        var model: String
        var weights: String
        var `class`: String?
        var classIndex: Int
        var logit: Float
        var probability: Float
        var threshold: Float
        var imageWidth: Int
        var imageHeight: Int
        var inputWidth: Int
        var inputHeight: Int
        var mapWidth: Int
        var mapHeight: Int
        var boxCoordinates = "image pixels: x0 <= x < x1, y0 <= y < y1, found on the map resized bilinearly to the image"
        /// Every region, largest first: the first is the localization.
        var boxes: [Box]
        /// The response map at its own resolution, row by row.
        var map: [[Float]]
        var overlay: String

        init(source: Source, result: Localization.Result, model: String, weights: String, overlay: String) {
            file = source.file
            index = source.index
            self.model = model
            self.weights = weights
            `class` = result.className
            classIndex = result.classIndex
            logit = result.logit
            probability = result.probability
            threshold = result.threshold
            imageWidth = source.image.width
            imageHeight = source.image.height
            inputWidth = result.inputWidth
            inputHeight = result.inputHeight
            mapWidth = result.map.width
            mapHeight = result.map.height
            boxes = result.regions.map { Box(x0: $0.box.x0, y0: $0.box.y0, x1: $0.box.x1, y1: $0.box.y1, area: $0.area, peak: $0.peak) }
            let m = result.map
            map = (0..<m.height).map { y in Array(m.values[y * m.width..<(y + 1) * m.width]) }
            self.overlay = overlay
        }
    }
}
