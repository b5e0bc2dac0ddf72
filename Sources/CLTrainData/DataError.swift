import Foundation

/// Everything that can go wrong while reading a data set. Each case renders as one line that
/// names the file, says what is wrong and what to do about it.
public enum DataError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The data directory does not exist (or is not a directory).
    case missingDirectory(path: String, dataset: String)
    /// A data set has no default directory and none was given.
    case noDirectory(dataset: String)
    /// A file the data set needs is absent; `expected` lists the names that were tried.
    case missingFile(path: String, expected: [String])
    /// The file exists but could not be read.
    case unreadable(path: String, reason: String)
    /// The file has zero bytes.
    case emptyFile(path: String)
    /// An IDX file's first four bytes are not the magic number of the expected kind.
    case badMagic(path: String, expected: UInt32, found: UInt32)
    /// A header field is impossible (zero or overflowing dimensions, ...).
    case badHeader(path: String, reason: String)
    /// The file is shorter than its header says.
    case truncated(path: String, expectedBytes: Int, actualBytes: Int)
    /// The file is longer than its header says.
    case trailingBytes(path: String, expectedBytes: Int, actualBytes: Int)
    /// Image and label files disagree on the number of samples.
    case countMismatch(imagesPath: String, images: Int, labelsPath: String, labels: Int)
    /// A label is not in `0..<classes`.
    case labelOutOfRange(path: String, index: Int, label: Int, classes: Int)
    /// A gzip stream could not be inflated.
    case corruptGzip(path: String, reason: String)
    /// A CIFAR binary file whose size is not a whole number of records.
    case partialRecord(path: String, size: Int, recordSize: Int)
    /// Normalisation statistics that cannot be used.
    case invalidNormalization(reason: String)
    /// A batching or loading option that cannot be honoured.
    case invalidOption(reason: String)
    /// An image folder without its `train/` folder.
    case noTrainFolder(directory: String)
    /// An image folder without `val/` or `test/`, and no `--val-split`.
    case noTestFolder(directory: String)
    /// `--val-split` given for a folder that has its own test split.
    case valSplitWithTestFolder(folder: String)
    /// A split folder with no class folders in it.
    case noClassFolders(path: String)
    /// A class folder with no images.
    case emptyClassFolder(path: String)
    /// A class with a folder in one split and none in the other.
    case classMissing(name: String, presentIn: String, missingFrom: String)
    /// Images of different sizes and no `--resize`.
    case mixedImageSizes(path: String, width: Int, height: Int, firstPath: String, firstWidth: Int, firstHeight: Int)
    /// The decoded images would not fit in memory.
    case tooLargeForMemory(directory: String, images: Int, bytes: Int, available: Int)

    public var description: String {
        switch self {
        case let .missingDirectory(path, dataset):
            return "data directory '\(path)' for \(dataset) does not exist; pass --data DIR pointing at the folder that holds its files"
        case let .noDirectory(dataset):
            return "\(dataset) has no default data directory; pass --data DIR pointing at the folder that holds its files"
        case let .missingFile(path, expected):
            let names = expected.joined(separator: " or ")
            return "missing data file '\(path)' (looked for \(names)); download it or pass --data DIR pointing at the folder that holds it"
        case let .unreadable(path, reason):
            return "cannot read '\(path)': \(reason); check the file's permissions"
        case let .emptyFile(path):
            return "data file '\(path)' is empty; download it again"
        case let .badMagic(path, expected, found):
            return "'\(path)' is not the expected IDX file: magic number \(hex(found)), expected \(hex(expected)); check that images and labels files are not swapped or download it again"
        case let .badHeader(path, reason):
            return "'\(path)' has an invalid header: \(reason); download it again"
        case let .truncated(path, expectedBytes, actualBytes):
            return "'\(path)' is truncated: expected \(expectedBytes) bytes, found \(actualBytes); download it again"
        case let .trailingBytes(path, expectedBytes, actualBytes):
            return "'\(path)' is longer than its header says: expected \(expectedBytes) bytes, found \(actualBytes); download it again"
        case let .countMismatch(imagesPath, images, labelsPath, labels):
            return "'\(imagesPath)' holds \(images) images but '\(labelsPath)' holds \(labels) labels; use image and label files of the same split"
        case let .labelOutOfRange(path, index, label, classes):
            return "'\(path)': label \(label) of sample \(index) is outside 0..<\(classes); check that the file belongs to this data set"
        case let .corruptGzip(path, reason):
            return "'\(path)' is not a valid gzip stream (\(reason)); download it again"
        case let .partialRecord(path, size, recordSize):
            return "'\(path)' has \(size) bytes, not a whole number of \(recordSize)-byte CIFAR records; download it again or check the data set kind (CIFAR-10 vs CIFAR-100)"
        case let .invalidNormalization(reason):
            return "invalid normalisation: \(reason); give one mean and one positive std per channel"
        case let .invalidOption(reason):
            return "invalid data option: \(reason)"
        case let .noTrainFolder(directory):
            return "'\(directory)' has no train/ folder; an image folder holds train/CLASS/*.jpg|png and val/CLASS/...: point --data at the folder that holds train/"
        case let .noTestFolder(directory):
            return "'\(directory)' has no val/ or test/ folder to test on; add val/CLASS/... beside train/, or give --val-split 0.1 to hold out 10% of train"
        case let .valSplitWithTestFolder(folder):
            return "--val-split holds out part of train when there is no test split, but '\(folder)' is one; drop --val-split"
        case let .noClassFolders(path):
            return "'\(path)' holds no class folders; put each class's images in a folder named after the class (\((path as NSString).lastPathComponent)/CLASS/*.jpg|png)"
        case let .emptyClassFolder(path):
            return "class folder '\(path)' holds no .jpg, .jpeg or .png images; add some or remove the folder"
        case let .classMissing(name, presentIn, missingFrom):
            return "class '\(name)' has a folder in '\(presentIn)' but none in '\(missingFrom)'; add '\((missingFrom as NSString).appendingPathComponent(name))' with images or remove '\((presentIn as NSString).appendingPathComponent(name))'"
        case let .mixedImageSizes(path, width, height, firstPath, firstWidth, firstHeight):
            return "'\(path)' is \(width)x\(height) but '\(firstPath)' is \(firstWidth)x\(firstHeight); images of different sizes need --resize N (shorter side to N, then a center crop to N x N)"
        case let .tooLargeForMemory(directory, images, bytes, available):
            return "the \(images) images of '\(directory)' need \(bytes) bytes (\(bytes >> 20) MiB) decoded but \(available) bytes (\(available >> 20) MiB) of memory are available; give a smaller --resize or --limit N"
        }
    }
}

private func hex(_ value: UInt32) -> String {
    let digits = String(value, radix: 16)
    return "0x" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
}
