import CLTrainRandom
import Foundation

/// Which data a command reads and how it becomes a data set: the kind, its folder, and the
/// settings that change the images (channels, sizes, a held-out split). The one place that
/// knows every kind, image folders included; the CLI only fills it in.
public struct DataSource: Sendable, Equatable {
    public var kind: DatasetKind
    /// The data set's folder (nil: the kind's default folder).
    public var directory: String?
    /// Convert every image to 1 or 3 channels (any kind); nil: the images' own (for a folder,
    /// 3 when any image is RGB).
    public var channels: Int?
    /// IDX and CIFAR: each batch's images resized to N x N. A folder: the shorter side resized
    /// to N and the center N x N kept, once, at load.
    public var resize: Int?
    /// A folder only: the model's input is `crop` x `crop`, a center crop of the loaded images
    /// for testing and a random resized crop of them for training (nil: `resize`, else the
    /// images' shorter side).
    public var crop: Int?
    /// A folder only: hold out this fraction of each class's training images as the test split
    /// when there is no `val/` or `test/` folder.
    public var valSplit: Double?
    /// A folder only: the most bytes the decoded images may take (nil: the host's available memory).
    public var memoryBudget: Int?
    /// A folder only: decoding threads (nil: one per core).
    public var threads: Int?

    public init(kind: DatasetKind, directory: String? = nil, channels: Int? = nil, resize: Int? = nil, crop: Int? = nil,
                valSplit: Double? = nil) {
        self.kind = kind
        self.directory = directory
        self.channels = channels
        self.resize = resize
        self.crop = crop
        self.valSplit = valSplit
    }

    /// `split`, keeping `limit` images when given: the first N of IDX and CIFAR files; for a
    /// folder, the first N of a fixed shuffled order of its files (every class represented, the
    /// same images every run).
    public func load(split: DatasetSplit, limit: Int? = nil) throws -> ImageDataset {
        try check()
        guard kind == .folder else {
            let data = try DatasetLoader.load(kind: kind, directory: directory, split: split, limit: limit)
            return channels.map { data.converted(toChannels: $0) } ?? data
        }
        let listing = try listFolder(requireTest: split == .test)
        return try decode(listing, split: split, limit: limit, channels: channels)
    }

    /// Both splits of a training run: the test split takes the training split's channels, and
    /// for a folder without `resize` its images must have the training images' size.
    public func loadTrainAndTest(limit: Int? = nil) throws -> (train: ImageDataset, test: ImageDataset) {
        try check()
        guard kind == .folder else { return (try load(split: .train, limit: limit), try load(split: .test)) }
        let listing = try listFolder()
        let train = try decode(listing, split: .train, limit: limit, channels: channels)
        var rest = self
        rest.memoryBudget = memoryBudget.map { $0 - train.images.count }
        let test = try rest.decode(listing, split: .test, limit: nil, channels: train.channels)
        if test.height != train.height || test.width != train.width, let a = listing.test.first, let b = listing.train.first {
            throw DataError.mixedImageSizes(path: a.path, width: test.width, height: test.height,
                                            firstPath: b.path, firstWidth: train.width, firstHeight: train.height)
        }
        return (train, test)
    }

    /// The images the model takes from `dataset` (as loaded by this source), and how batches make them.
    public func geometry(of dataset: ImageDataset) -> InputGeometry {
        if kind == .folder {
            let size = crop ?? resize ?? min(dataset.height, dataset.width)
            return InputGeometry(resize: nil, crop: size, height: size, width: size)
        }
        return InputGeometry(resize: resize, crop: nil, height: resize ?? dataset.height, width: resize ?? dataset.width)
    }

    /// What the run log says of the data: "fashion-mnist", or "folder /data/pets (test split: val/)".
    public func describe() -> String {
        guard kind == .folder else { return kind.rawValue }
        let testFolder = directory.flatMap(ImageFolder.testFolderName) ?? "val"
        let split = valSplit.map { "test split: \(Int(($0 * 100).rounded()))% of train held out" } ?? "test split: \(testFolder)/"
        return "folder \(directory ?? "?") (\(split))"
    }

    /// Lists the folder (a folder source only); `requireTest`: a missing test split is an error.
    func listFolder(requireTest: Bool = true) throws -> ImageFolder.Listing {
        guard let directory else { throw DataError.noDirectory(dataset: kind.displayName) }
        return try ImageFolder.list(directory, valSplit: valSplit, requireTest: requireTest)
    }

    func check() throws {
        if let channels, channels != 1 && channels != 3 {
            throw DataError.invalidOption(reason: "--channels \(channels) must be 1 (grayscale) or 3 (RGB)")
        }
        if kind != .folder, crop != nil || valSplit != nil {
            throw DataError.invalidOption(reason: "--crop and --val-split are for --dataset folder; \(kind.displayName) has its own sizes and splits")
        }
        if let crop, let resize, crop > resize {
            throw DataError.invalidOption(reason: "--crop \(crop) is larger than --resize \(resize): crop at most the resized size")
        }
    }

    func decode(_ listing: ImageFolder.Listing, split: DatasetSplit, limit: Int?, channels: Int?) throws -> ImageDataset {
        var entries = listing.entries(split)
        if let limit, limit < entries.count {
            if limit < 0 { throw DataError.invalidOption(reason: "limit \(limit) is negative; give a count of images of at least 0") }
            var order = Array(entries.indices)
            var rng = SeededRandom(mixing: 0x11A1_7000)
            for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, rng.next(below: i + 1)) }
            entries = order.prefix(limit).sorted().map { entries[$0] }
        }
        let folder = (listing.directory as NSString).appendingPathComponent(split == .train ? "train" : listing.testFolder)
        let dataset = try ImageFolder.decode(entries, classNames: listing.classNames, directory: folder,
                                             ImageFolder.Decoding(channels: channels, resize: resize, memoryBudget: memoryBudget,
                                                                  threads: threads))
        if crop ?? 0 > min(dataset.height, dataset.width) {
            throw DataError.invalidOption(reason: "--crop \(crop!) is larger than the \(dataset.width)x\(dataset.height) images of '\(folder)'; give --resize N of at least the crop")
        }
        return dataset
    }
}

/// The images a model takes from a data set, and how its batches make them.
public struct InputGeometry: Sendable, Equatable {
    /// Batches resized to N x N (IDX, CIFAR `--resize`); nil: not resized.
    public var resize: Int?
    /// Batches cropped to N x N (image folders: `BatchOptions.crop`).
    public var crop: Int?
    /// The model's input size.
    public var height: Int
    public var width: Int

    public init(resize: Int?, crop: Int?, height: Int, width: Int) {
        self.resize = resize
        self.crop = crop
        self.height = height
        self.width = width
    }
}

extension ImageDataset {
    /// The data set with `count` channels: gray to RGB repeats the plane, RGB to gray takes the
    /// luma as `DecodedImage.converted(toChannels:)` (Pillow's `convert("L")`).
    public func converted(toChannels count: Int) -> ImageDataset {
        precondition(count == 1 || count == 3, "an image has 1 or 3 channels")
        if count == channels { return self }
        precondition(channels == 1 || channels == 3, "only 1- and 3-channel images convert")
        let plane = height * width
        var out = [UInt8](repeating: 0, count: self.count * count * plane)
        images.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for n in 0..<self.count {
                    let s = src.baseAddress! + n * channels * plane
                    let d = dst.baseAddress! + n * count * plane
                    if count == 3 {
                        for c in 0..<3 { (d + c * plane).update(from: s, count: plane) }
                    } else {
                        for i in 0..<plane { d[i] = DecodedImage.luma(s[i], s[plane + i], s[2 * plane + i]) }
                    }
                }
            }
        }
        return ImageDataset(images: out, labels: labels, count: self.count, channels: count, height: height, width: width,
                            classes: classes, classNames: classNames)
    }
}
