import Foundation

/// The data sets cltrain knows how to read.
public enum DatasetKind: String, CaseIterable, Sendable, Codable {
    case fashionMNIST = "fashion-mnist"
    case mnist = "mnist"
    case cifar10 = "cifar10"
    case cifar100 = "cifar100"
    /// Your own images in torchvision's ImageFolder layout (`ImageFolder`; see `DataSource`).
    case folder = "folder"

    public var displayName: String {
        switch self {
        case .folder: return "image folder"
        case .fashionMNIST: return "Fashion-MNIST"
        case .mnist: return "MNIST"
        case .cifar10: return "CIFAR-10"
        case .cifar100: return "CIFAR-100"
        }
    }

    /// Where the data set lives when no directory is given (Debian's dataset-fashion-mnist
    /// package for Fashion-MNIST); nil when there is no standard place.
    public var defaultDirectory: String? {
        self == .fashionMNIST ? "/usr/share/datasets/fashion-mnist" : nil
    }

    public var classes: Int {
        switch self {
        case .fashionMNIST, .mnist, .cifar10: return 10
        case .cifar100: return 100
        case .folder: return 0  // known once the folder is listed
        }
    }

    /// The standard name of each class, by label (torchvision's `classes` of the same data set).
    public var classNames: [String] {
        switch self {
        case .fashionMNIST:
            return ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
        case .mnist:
            return (0..<10).map(String.init)
        case .cifar10:
            return ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
        case .cifar100:
            return Self.cifar100Names
        case .folder:
            return []  // the folder names, known once the folder is listed
        }
    }

    private static let cifar100Names = """
        apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus butterfly camel can castle \
        caterpillar cattle chair chimpanzee clock cloud cockroach couch crab crocodile cup dinosaur dolphin elephant flatfish \
        forest fox girl hamster house kangaroo keyboard lamp lawn_mower leopard lion lizard lobster man maple_tree motorcycle \
        mountain mouse mushroom oak_tree orange orchid otter palm_tree pear pickup_truck pine_tree plain plate poppy porcupine \
        possum rabbit raccoon ray road rocket rose sea seal shark shrew skunk skyscraper snail snake spider squirrel streetcar \
        sunflower sweet_pepper table tank telephone television tiger tractor train trout tulip turtle wardrobe whale \
        willow_tree wolf woman worm
        """.split(separator: " ").map(String.init)

    public var channels: Int { isIDX ? 1 : 3 }
    public var height: Int { isIDX ? 28 : 32 }
    public var width: Int { isIDX ? 28 : 32 }

    var isIDX: Bool { self == .fashionMNIST || self == .mnist }
}

public enum DatasetSplit: String, Sendable, Codable, CaseIterable {
    case train
    case test
}

/// Loads a data set split from its standard file names.
public enum DatasetLoader {
    /// Loads `split` of `kind` from `directory` (or `kind.defaultDirectory` when nil), keeping
    /// the first `limit` images when given.
    ///
    /// - Fashion-MNIST / MNIST: `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`,
    ///   `t10k-images-idx3-ubyte`, `t10k-labels-idx1-ubyte`, each optionally `.gz`.
    /// - CIFAR-10: `data_batch_1.bin` ... `data_batch_5.bin`, `test_batch.bin`, in `directory`
    ///   or in `directory/cifar-10-batches-bin`.
    /// - CIFAR-100: `train.bin`, `test.bin`, in `directory` or `directory/cifar-100-binary`.
    public static func load(
        kind: DatasetKind, directory: String? = nil, split: DatasetSplit, limit: Int? = nil
    ) throws -> ImageDataset {
        if let limit, limit < 0 {
            throw DataError.invalidOption(reason: "limit \(limit) is negative; give a count of images of at least 0")
        }
        guard let directory = directory ?? kind.defaultDirectory else {
            throw DataError.noDirectory(dataset: kind.displayName)
        }
        guard DataFile.isDirectory(directory) else {
            throw DataError.missingDirectory(path: directory, dataset: kind.displayName)
        }
        switch kind {
        case .fashionMNIST, .mnist:
            return try loadIDX(kind: kind, directory: directory, split: split, limit: limit)
        case .cifar10, .cifar100:
            return try loadCIFAR(kind: kind, directory: directory, split: split, limit: limit)
        case .folder:
            return try DataSource(kind: .folder, directory: directory).load(split: split, limit: limit)
        }
    }

    /// The standard file names of a split, without `.gz`.
    public static func fileNames(kind: DatasetKind, split: DatasetSplit) -> [String] {
        switch (kind, split) {
        case (.fashionMNIST, .train), (.mnist, .train):
            return ["train-images-idx3-ubyte", "train-labels-idx1-ubyte"]
        case (.fashionMNIST, .test), (.mnist, .test):
            return ["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
        case (.cifar10, .train):
            return (1...5).map { "data_batch_\($0).bin" }
        case (.cifar10, .test):
            return ["test_batch.bin"]
        case (.cifar100, .train):
            return ["train.bin"]
        case (.cifar100, .test):
            return ["test.bin"]
        case (.folder, _):
            return []
        }
    }

    private static func loadIDX(
        kind: DatasetKind, directory: String, split: DatasetSplit, limit: Int?
    ) throws -> ImageDataset {
        let names = fileNames(kind: kind, split: split)
        // Also accept the dotted names some mirrors use (train-images.idx3-ubyte).
        let imagesPath = try DataFile.locate(
            [names[0], names[0].replacingOccurrences(of: "-idx", with: ".idx")], in: directory)
        let labelsPath = try DataFile.locate(
            [names[1], names[1].replacingOccurrences(of: "-idx", with: ".idx")], in: directory)
        let images = try IDX.readImages(imagesPath)
        let labels = try IDX.readLabels(labelsPath)
        guard images.count == labels.count else {
            throw DataError.countMismatch(
                imagesPath: imagesPath, images: images.count, labelsPath: labelsPath, labels: labels.count)
        }
        let n = min(images.count, limit ?? images.count)
        var labels32 = [Int32](repeating: 0, count: n)
        for i in 0..<n {
            let label = Int(labels[i])
            guard label < kind.classes else {
                throw DataError.labelOutOfRange(path: labelsPath, index: i, label: label, classes: kind.classes)
            }
            labels32[i] = Int32(label)
        }
        let size = images.rows * images.cols
        let pixels = n == images.count ? images.pixels : Array(images.pixels[0..<(n * size)])
        return ImageDataset(
            images: pixels, labels: labels32, count: n,
            channels: 1, height: images.rows, width: images.cols, classes: kind.classes, classNames: kind.classNames)
    }

    private static func loadCIFAR(
        kind: DatasetKind, directory: String, split: DatasetSplit, limit: Int?
    ) throws -> ImageDataset {
        let variant: CIFAR.Variant = kind == .cifar10 ? .cifar10 : .cifar100
        let names = fileNames(kind: kind, split: split)
        let subfolder = kind == .cifar10 ? "cifar-10-batches-bin" : "cifar-100-binary"
        let nested = (directory as NSString).appendingPathComponent(subfolder)
        // Files directly in the directory win; else look in the archive's folder.
        let folder = DataFile.isFile((directory as NSString).appendingPathComponent(names[0]))
            || DataFile.isFile((directory as NSString).appendingPathComponent(names[0] + ".gz"))
            || !DataFile.isDirectory(nested) ? directory : nested
        var pixels: [UInt8] = []
        var labels: [Int32] = []
        for name in names {
            let remaining = limit.map { $0 - labels.count }
            if let remaining, remaining <= 0 { break }
            let path = try DataFile.locate([name], in: folder)
            let records = try CIFAR.read(path, variant: variant, limit: remaining)
            pixels.append(contentsOf: records.pixels)
            labels.append(contentsOf: records.labels)
        }
        return ImageDataset(
            images: pixels, labels: labels, count: labels.count,
            channels: 3, height: 32, width: 32, classes: variant.classes, classNames: kind.classNames)
    }
}
