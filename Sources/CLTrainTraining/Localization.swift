import CLTrainData
import CLTrainNN
import CLTrainRuntime
import Foundation

/// `cltrain localize`: weakly-supervised localization with a classifier (Yu, Koltun and Funkhouser
/// 2017, "Dilated Residual Networks", section 5). A DRN keeps output stride 8, so its 1x1
/// classifier applied at every position before global pooling gives a class response map at 1/8
/// of the input; for DenseNet and ResNet the same sum over the last feature maps weighted by the
/// linear classifier's row is the class activation map (Zhou et al. 2016). Either way
///
///     map[y, x] = b[k] + sum_c W[k, c] * F[c, y, x]
///
/// over the features F after the last ReLU, computed on the host for the one class asked, and
/// the map's mean is the class's logit (pooling is an average and the classifier linear).
///
/// The map is resized bilinearly to the image, thresholded at `threshold` of its range (see
/// `ResponseMap.mask`), and the 8-connected regions are boxed, largest first, in image pixels.
public struct Localization {
    /// CAM's 20% of the map's maximum (Zhou et al. 2016, section 3.1, the value their code uses):
    /// lower thresholds join the object to the background's ripples, higher ones shrink the box
    /// onto the most discriminative part.
    public static let defaultThreshold: Float = 0.2

    public let loaded: LoadedModel
    public let device: Device
    /// Class names by index (empty: the weights name none).
    public let classNames: [String]
    /// The smallest side the model takes (`ModelCatalog.Entry.minimumInputSize`).
    public let minimumInputSize: Int

    public init(loaded: LoadedModel, device: Device, classNames: [String] = [], minimumInputSize: Int = 1) {
        self.loaded = loaded
        self.device = device
        self.classNames = classNames
        self.minimumInputSize = minimumInputSize
    }

    /// What one image gave.
    public struct Result: Sendable {
        public let classIndex: Int
        /// The class's name from the weights (nil: they name none).
        public let className: String?
        public let logit: Float
        /// The class's softmax probability over all logits.
        public let probability: Float
        public let threshold: Float
        /// The response map at the model's output resolution (1/8 of the input for a DRN).
        public let map: ResponseMap
        /// `map` resized to the image: what the threshold, regions and overlay use.
        public let imageMap: ResponseMap
        /// The thresholded map's 8-connected regions in image pixels, largest first.
        public let regions: [Region]
        /// The size the image was resized to for the model.
        public let inputWidth: Int
        public let inputHeight: Int

        /// The largest region's box (nil when the map is flat and nothing passes the threshold).
        public var box: PixelBox? { regions.first?.box }
    }

    /// Open `weights` (a `model`), as `cltrain eval` does; `classes`, `channels` and `override`
    /// matter only for a file that does not say (one written by PyTorch).
    public static func load(model: String, weights: String, classes: Int, channels: Int, override: Normalization?,
                            device: Device) throws -> Localization {
        guard let entry = ModelCatalog.entry(named: model) else {
            throw UsageError("unknown model '\(model)': see `cltrain models` for the list")
        }
        let loaded = try LoadedModel.load(name: model, weights: weights, channels: channels, classes: classes,
                                          imageSize: entry.minimumInputSize, override: override, device: device)
        return Localization(loaded: loaded, device: device, classNames: loaded.stored?.classNames ?? [],
                            minimumInputSize: entry.minimumInputSize)
    }

    /// The index of the class called `name` (case-insensitive), or an index given as a number.
    public func classIndex(named name: String) throws -> Int {
        if let index = classNames.firstIndex(of: name) ?? classNames.firstIndex(where: { $0.lowercased() == name.lowercased() }) {
            return index
        }
        if let index = Int(name), (0..<loaded.model.classes).contains(index) { return index }
        guard !classNames.isEmpty else {
            throw UsageError("unknown class '\(name)': these weights name no classes, give an index 0-\(loaded.model.classes - 1)")
        }
        let some = classNames.prefix(10).map { "'\($0)'" }.joined(separator: ", ")
        throw UsageError("unknown class '\(name)': the weights' classes are \(some)\(classNames.count > 10 ? ", ..." : "") (or an index 0-\(classNames.count - 1))")
    }

    /// The size the model sees `width` x `height` at: the weights' training size when the image
    /// is that size, else the image scaled (aspect kept) so its shorter side is the training size,
    /// as image-folder training resizes before its centre crop; the whole image is kept (no crop),
    /// since the models are convolutional up to global pooling. Weights that do not say keep the
    /// image's size.
    public func inputSize(width: Int, height: Int) -> (width: Int, height: Int) {
        guard let stored = loaded.stored else { return (width, height) }
        if width == stored.width && height == stored.height { return (width, height) }
        let scaled = Transforms.shorterSide(to: min(stored.width, stored.height), height: height, width: width)
        return (scaled.width, scaled.height)
    }

    /// `image` as the model's input: converted to its channels, resized to `inputSize` with the
    /// image folders' resampling (Pillow's antialiased bilinear), scaled to [0, 1] and normalised;
    /// CHW values.
    public func input(_ image: DecodedImage) -> (values: [Float], width: Int, height: Int) {
        let channels = loaded.model.inputChannels
        let converted = image.converted(toChannels: channels)
        let size = inputSize(width: image.width, height: image.height)
        var values = converted.planarFloats(resizedToHeight: size.height, width: size.width, multiplier: 1 / 255)
        let plane = size.width * size.height
        let mean = loaded.normalization.mean, std = loaded.normalization.std
        for c in 0..<channels {
            for i in c * plane..<(c + 1) * plane { values[i] = (values[i] - mean[c]) / std[c] }
        }
        return (values, size.width, size.height)
    }

    /// Localize the top class of `image` (or `classIndex`).
    public func localize(_ image: DecodedImage, classIndex: Int? = nil, threshold: Float = Localization.defaultThreshold) throws -> Result {
        precondition(threshold > 0 && threshold < 1, "the threshold is a fraction of the map's range")
        let model = loaded.model
        let prepared = input(image)
        guard min(prepared.width, prepared.height) >= minimumInputSize else {
            throw UsageError("an image of \(image.width)x\(image.height) is too small for the model, which needs at least "
                             + "\(minimumInputSize)x\(minimumInputSize): scale it up")
        }
        let tensor = try device.tensor(prepared.values, shape: [1, model.inputChannels, prepared.height, prepared.width])
        let parts = try Self.classActivationParts(model, tensor)
        let logits = try device.read(parts.logits)
        let k = classIndex ?? logits.indices.max(by: { logits[$0] < logits[$1] })!
        precondition((0..<model.classes).contains(k), "class \(k) of \(model.classes)")

        let features = try device.read(parts.features)
        let (c, h, w) = (parts.features.shape[1], parts.features.shape[2], parts.features.shape[3])
        let weights = try device.read(parts.weight.value)
        precondition(weights.count == model.classes * c, "the classifier is [classes, \(c)] or [classes, \(c), 1, 1]")
        let bias = try parts.bias.map { try device.read($0.value)[k] } ?? 0
        var values = [Float](repeating: bias, count: h * w)
        for channel in 0..<c {
            let weight = weights[k * c + channel]
            let base = channel * h * w
            for i in 0..<h * w { values[i] += weight * features[base + i] }
        }
        let map = ResponseMap(width: w, height: h, values: values)
        let imageMap = map.resized(width: image.width, height: image.height)

        let probability = Float(Prediction.softmax(logits)[k])
        return Result(classIndex: k, className: classNames.indices.contains(k) ? classNames[k] : nil, logit: logits[k],
                      probability: probability, threshold: threshold, map: map, imageMap: imageMap,
                      regions: imageMap.regions(threshold: threshold), inputWidth: prepared.width, inputHeight: prepared.height)
    }

    /// The model's last feature maps [1, C, h, w] (after the final ReLU), its logits, and its
    /// classifier's weight and bias.
    static func classActivationParts(_ model: Model, _ input: Tensor) throws
        -> (features: Tensor, logits: Tensor, weight: Parameter, bias: Parameter?) {
        let features = try model.features(input, training: false)
        let logits = try model.head(features, training: false)
        let classifier = model.classifier
        return (features, logits, classifier.weight, classifier.bias)
    }
}
