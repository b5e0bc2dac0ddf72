/// The binary versions of CIFAR-10 and CIFAR-100: fixed-size records of label byte(s)
/// followed by 3 x 32 x 32 pixel bytes (all red, then green, then blue; rows top to bottom),
/// which is already CHW.
public enum CIFAR {
    public static let imageBytes = 3 * 32 * 32

    public enum Variant: Sendable {
        /// 1 label byte + 3072 pixels, 10 classes.
        case cifar10
        /// coarse label byte + fine label byte + 3072 pixels; the fine label (100 classes) is used.
        case cifar100

        public var labelBytes: Int { self == .cifar10 ? 1 : 2 }
        public var recordSize: Int { labelBytes + CIFAR.imageBytes }
        public var classes: Int { self == .cifar10 ? 10 : 100 }
    }

    /// Parsed records: `count` CHW images of 3 x 32 x 32 bytes and their labels.
    public struct Records: Sendable, Equatable {
        public var count: Int
        public var pixels: [UInt8]
        public var labels: [Int32]
    }

    /// Reads one CIFAR binary file (gzipped or not), keeping at most `limit` records.
    public static func read(_ path: String, variant: Variant, limit: Int? = nil) throws -> Records {
        try parse(DataFile.read(path), variant: variant, path: path, limit: limit)
    }

    /// Parses the bytes of one CIFAR binary file; `path` only names the file in errors.
    public static func parse(_ bytes: [UInt8], variant: Variant, path: String, limit: Int? = nil) throws -> Records {
        guard !bytes.isEmpty else { throw DataError.emptyFile(path: path) }
        let recordSize = variant.recordSize
        guard bytes.count % recordSize == 0 else {
            throw DataError.partialRecord(path: path, size: bytes.count, recordSize: recordSize)
        }
        let available = bytes.count / recordSize
        let count = min(available, max(0, limit ?? available))
        var pixels = [UInt8](repeating: 0, count: count * imageBytes)
        var labels = [Int32](repeating: 0, count: count)
        try bytes.withUnsafeBufferPointer { src in
            try pixels.withUnsafeMutableBufferPointer { dst in
                for i in 0..<count {
                    let record = i * recordSize
                    if variant == .cifar100 {
                        let coarse = Int(src[record])
                        guard coarse < 20 else {
                            throw DataError.labelOutOfRange(path: path, index: i, label: coarse, classes: 20)
                        }
                    }
                    let label = Int(src[record + variant.labelBytes - 1])
                    guard label < variant.classes else {
                        throw DataError.labelOutOfRange(path: path, index: i, label: label, classes: variant.classes)
                    }
                    labels[i] = Int32(label)
                    let from = record + variant.labelBytes
                    for j in 0..<imageBytes { dst[i * imageBytes + j] = src[from + j] }
                }
            }
        }
        return Records(count: count, pixels: pixels, labels: labels)
    }
}
