/// Images held on the host as bytes, N x C x H x W (NCHW, uint8), with one label per image.
///
/// An unlabelled set (images read for prediction) has `labels` empty and `classes == 0`.
public struct ImageDataset: Sendable, Equatable {
    public var images: [UInt8]
    public var labels: [Int32]
    public var count: Int
    public var channels: Int
    public var height: Int
    public var width: Int
    public var classes: Int
    /// The name of each class, by label (empty when the data set has none).
    public var classNames: [String]

    public init(
        images: [UInt8], labels: [Int32], count: Int,
        channels: Int, height: Int, width: Int, classes: Int, classNames: [String] = []
    ) {
        precondition(count >= 0 && channels > 0 && height > 0 && width > 0, "dataset shape must be positive")
        precondition(images.count == count * channels * height * width, "images must hold count x C x H x W bytes")
        precondition(labels.isEmpty || labels.count == count, "one label per image, or none")
        precondition(classNames.isEmpty || classNames.count == classes, "one name per class, or none")
        self.images = images
        self.labels = labels
        self.count = count
        self.channels = channels
        self.height = height
        self.width = width
        self.classes = classes
        self.classNames = classNames
    }

    /// Bytes per image (C x H x W).
    public var imageSize: Int { channels * height * width }

    public var isLabeled: Bool { !labels.isEmpty || count == 0 }

    /// The first `n` images (all of them when `n` is nil or not smaller than `count`).
    public func prefix(_ n: Int?) -> ImageDataset {
        guard let n, n >= 0, n < count else { return self }
        return ImageDataset(
            images: Array(images[0..<(n * imageSize)]),
            labels: labels.isEmpty ? [] : Array(labels[0..<n]),
            count: n, channels: channels, height: height, width: width, classes: classes, classNames: classNames)
    }

    /// The bytes of image `index`.
    public func image(_ index: Int) -> ArraySlice<UInt8> {
        images[(index * imageSize)..<((index + 1) * imageSize)]
    }
}
