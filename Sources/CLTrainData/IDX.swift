/// The IDX format of MNIST and Fashion-MNIST: a big-endian magic number (0x0000 + type 0x08
/// for unsigned bytes + number of dimensions), one big-endian UInt32 per dimension, then the data.
public enum IDX {
    public static let imagesMagic: UInt32 = 0x0000_0803
    public static let labelsMagic: UInt32 = 0x0000_0801

    /// Parsed `idx3-ubyte` images: `count` images of `rows` x `cols` bytes, row-major.
    public struct Images: Sendable, Equatable {
        public var count: Int
        public var rows: Int
        public var cols: Int
        public var pixels: [UInt8]
    }

    /// Reads an `idx3-ubyte` file, gzipped or not.
    public static func readImages(_ path: String) throws -> Images {
        try parseImages(DataFile.read(path), path: path)
    }

    /// Reads an `idx1-ubyte` file, gzipped or not.
    public static func readLabels(_ path: String) throws -> [UInt8] {
        try parseLabels(DataFile.read(path), path: path)
    }

    /// Reads an images-only IDX file (for prediction) as an unlabelled one-channel data set.
    public static func readUnlabeled(_ path: String) throws -> ImageDataset {
        let images = try readImages(path)
        return ImageDataset(
            images: images.pixels, labels: [], count: images.count,
            channels: 1, height: images.rows, width: images.cols, classes: 0)
    }

    /// Parses decompressed `idx3-ubyte` bytes; `path` only names the file in errors.
    public static func parseImages(_ bytes: [UInt8], path: String) throws -> Images {
        let dims = try header(bytes, magic: imagesMagic, rank: 3, path: path)
        guard dims[1] > 0, dims[2] > 0 else {
            throw DataError.badHeader(path: path, reason: "image size \(dims[1]) x \(dims[2]) is empty")
        }
        let payload = try checkedSize(dims, path: path)
        try checkLength(bytes.count, header: 4 + 4 * 3, payload: payload, path: path)
        return Images(count: dims[0], rows: dims[1], cols: dims[2], pixels: Array(bytes[16...]))
    }

    /// Parses decompressed `idx1-ubyte` bytes; `path` only names the file in errors.
    public static func parseLabels(_ bytes: [UInt8], path: String) throws -> [UInt8] {
        let dims = try header(bytes, magic: labelsMagic, rank: 1, path: path)
        try checkLength(bytes.count, header: 8, payload: dims[0], path: path)
        return Array(bytes[8...])
    }

    /// Checks the magic number and returns the dimensions.
    private static func header(_ bytes: [UInt8], magic: UInt32, rank: Int, path: String) throws -> [Int] {
        guard !bytes.isEmpty else { throw DataError.emptyFile(path: path) }
        let headerSize = 4 + 4 * rank
        guard bytes.count >= 4 else {
            throw DataError.truncated(path: path, expectedBytes: headerSize, actualBytes: bytes.count)
        }
        let found = bigEndian(bytes, at: 0)
        guard found == magic else { throw DataError.badMagic(path: path, expected: magic, found: found) }
        guard bytes.count >= headerSize else {
            throw DataError.truncated(path: path, expectedBytes: headerSize, actualBytes: bytes.count)
        }
        return (0..<rank).map { Int(bigEndian(bytes, at: 4 + 4 * $0)) }
    }

    private static func checkedSize(_ dims: [Int], path: String) throws -> Int {
        var size = 1
        for d in dims {
            let (product, overflow) = size.multipliedReportingOverflow(by: d)
            guard !overflow, product <= Int(Int32.max) * 16 else {
                throw DataError.badHeader(path: path, reason: "dimensions \(dims) are too large")
            }
            size = product
        }
        return size
    }

    private static func checkLength(_ actual: Int, header: Int, payload: Int, path: String) throws {
        let expected = header + payload
        if actual < expected {
            throw DataError.truncated(path: path, expectedBytes: expected, actualBytes: actual)
        }
        if actual > expected {
            throw DataError.trailingBytes(path: path, expectedBytes: expected, actualBytes: actual)
        }
    }

    private static func bigEndian(_ bytes: [UInt8], at offset: Int) -> UInt32 {
        UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16
            | UInt32(bytes[offset + 2]) << 8 | UInt32(bytes[offset + 3])
    }
}
