import CLTrainTestSupport
import XCTest

@testable import CLTrainData

/// Every kind of bad input becomes a one-line DataError naming the file.
final class DataErrorTests: XCTestCase {
    func testMissingDirectory() {
        assertDataError(
            try DatasetLoader.load(kind: .mnist, directory: "/nonexistent/cltrain-mnist", split: .train),
            mentioning: "/nonexistent/cltrain-mnist"
        ) { if case .missingDirectory = $0 { return true } else { return false } }
    }

    func testNoDefaultDirectoryAsksForData() {
        for kind in [DatasetKind.mnist, .cifar10, .cifar100] {
            XCTAssertNil(kind.defaultDirectory)
            assertDataError(try DatasetLoader.load(kind: kind, split: .train), mentioning: "--data DIR") {
                if case .noDirectory = $0 { return true } else { return false }
            }
        }
        XCTAssertEqual(DatasetKind.fashionMNIST.defaultDirectory, "/usr/share/datasets/fashion-mnist")
    }

    func testMissingFile() throws {
        let dir = try makeTemporaryDirectory().path
        try write(idxImages(count: 1, rows: 2, cols: 2), to: join(dir, "train-images-idx3-ubyte"))
        assertDataError(
            try DatasetLoader.load(kind: .mnist, directory: dir, split: .train),
            mentioning: "train-labels-idx1-ubyte"
        ) { if case .missingFile = $0 { return true } else { return false } }
        assertDataError(try DatasetLoader.load(kind: .cifar10, directory: dir, split: .test), mentioning: "test_batch.bin") {
            if case .missingFile = $0 { return true } else { return false }
        }
        assertDataError(try IDX.readImages(join(dir, "nothing-here"))) {
            if case .missingFile = $0 { return true } else { return false }
        }
    }

    func testWrongMagic() throws {
        let dir = try makeTemporaryDirectory().path
        // Images and labels swapped.
        try write(idxLabels([1, 2]), to: join(dir, "train-images-idx3-ubyte"))
        try write(idxImages(count: 2, rows: 2, cols: 2), to: join(dir, "train-labels-idx1-ubyte"))
        assertDataError(
            try DatasetLoader.load(kind: .mnist, directory: dir, split: .train),
            mentioning: "train-images-idx3-ubyte"
        ) {
            if case let .badMagic(_, expected, found) = $0 { return expected == 0x803 && found == 0x801 }
            return false
        }
    }

    func testTruncatedAndTooLong() throws {
        let dir = try makeTemporaryDirectory().path
        let path = join(dir, "images")
        let good = idxImages(count: 3, rows: 2, cols: 2)
        try write(Array(good.dropLast(5)), to: path)
        assertDataError(try IDX.readImages(path), mentioning: "expected 28 bytes, found 23") {
            if case let .truncated(p, expected, actual) = $0 { return p == path && expected == 28 && actual == 23 }
            return false
        }
        try write(Array(good.prefix(10)), to: path)
        assertDataError(try IDX.readImages(path), mentioning: "16") {
            if case .truncated = $0 { return true } else { return false }
        }
        try write(good + [0, 0], to: path)
        assertDataError(try IDX.readImages(path)) {
            if case let .trailingBytes(_, expected, actual) = $0 { return expected == 28 && actual == 30 }
            return false
        }
        try write(Array(idxLabels([1, 2, 3]).dropLast()), to: path)
        assertDataError(try IDX.readLabels(path)) {
            if case .truncated = $0 { return true } else { return false }
        }
    }

    func testCountMismatch() throws {
        let dir = try makeTemporaryDirectory().path
        try write(idxImages(count: 3, rows: 2, cols: 2), to: join(dir, "t10k-images-idx3-ubyte"))
        try write(idxLabels([1, 2]), to: join(dir, "t10k-labels-idx1-ubyte"))
        assertDataError(try DatasetLoader.load(kind: .fashionMNIST, directory: dir, split: .test), mentioning: "3 images") {
            if case let .countMismatch(_, images, _, labels) = $0 { return images == 3 && labels == 2 }
            return false
        }
    }

    func testLabelOutOfRange() throws {
        let dir = try makeTemporaryDirectory().path
        try write(idxImages(count: 3, rows: 2, cols: 2), to: join(dir, "train-images-idx3-ubyte"))
        try write(idxLabels([1, 10, 2]), to: join(dir, "train-labels-idx1-ubyte"))
        assertDataError(try DatasetLoader.load(kind: .mnist, directory: dir, split: .train), mentioning: "label 10") {
            if case let .labelOutOfRange(_, index, label, classes) = $0 { return index == 1 && label == 10 && classes == 10 }
            return false
        }
        var cifar = cifarRecords([3, 4], variant: .cifar10)
        cifar[CIFAR.Variant.cifar10.recordSize] = 10
        assertDataError(try CIFAR.parse(cifar, variant: .cifar10, path: "x.bin")) {
            if case let .labelOutOfRange(_, index, label, _) = $0 { return index == 1 && label == 10 }
            return false
        }
        var cifar100 = cifarRecords([99], variant: .cifar100)
        cifar100[1] = 100
        assertDataError(try CIFAR.parse(cifar100, variant: .cifar100, path: "train.bin")) {
            if case let .labelOutOfRange(_, _, label, classes) = $0 { return label == 100 && classes == 100 }
            return false
        }
    }

    func testCorruptGzip() throws {
        let dir = try makeTemporaryDirectory().path
        let gz = try gzipBytes(idxImages(count: 20, rows: 8, cols: 8, pixel: { UInt8(($0 * $0) % 256) }))
        let path = join(dir, "images.gz")
        var flipped = gz
        flipped[gz.count / 2] ^= 0xff
        try write(flipped, to: path)
        assertDataError(try IDX.readImages(path), mentioning: "images.gz") {
            if case .corruptGzip = $0 { return true } else { return false }
        }
        try write(Array(gz.prefix(gz.count - 6)), to: path)
        assertDataError(try IDX.readImages(path), mentioning: "truncated") {
            if case .corruptGzip = $0 { return true } else { return false }
        }
        try write(gz + [1, 2, 3], to: path)
        assertDataError(try IDX.readImages(path)) {
            if case .corruptGzip = $0 { return true } else { return false }
        }
        // A damaged CRC in the trailer.
        var badCRC = gz
        badCRC[gz.count - 8] ^= 0x01
        assertDataError(try Gzip.decompress(badCRC, path: "crc.gz")) {
            if case .corruptGzip = $0 { return true } else { return false }
        }
    }

    func testCIFARPartialRecord() throws {
        let dir = try makeTemporaryDirectory().path
        let path = join(dir, "test_batch.bin")
        try write(cifarRecords([1, 2], variant: .cifar10) + [7], to: path)
        assertDataError(try DatasetLoader.load(kind: .cifar10, directory: dir, split: .test), mentioning: "6147 bytes") {
            if case let .partialRecord(p, size, record) = $0 { return p == path && size == 6147 && record == 3073 }
            return false
        }
        // A CIFAR-10 file read as CIFAR-100 has the wrong record size.
        assertDataError(try CIFAR.read(path, variant: .cifar100)) {
            if case .partialRecord = $0 { return true } else { return false }
        }
    }

    func testEmptyFile() throws {
        let dir = try makeTemporaryDirectory().path
        for name in ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "train.bin"] {
            try write([], to: join(dir, name))
        }
        assertDataError(try DatasetLoader.load(kind: .mnist, directory: dir, split: .train), mentioning: "empty") {
            if case .emptyFile = $0 { return true } else { return false }
        }
        assertDataError(try DatasetLoader.load(kind: .cifar100, directory: dir, split: .train), mentioning: "train.bin") {
            if case .emptyFile = $0 { return true } else { return false }
        }
        // A gzip stream of nothing is empty too.
        try write(try gzipBytes([]), to: join(dir, "empty.gz"))
        assertDataError(try IDX.readLabels(join(dir, "empty.gz"))) {
            if case .emptyFile = $0 { return true } else { return false }
        }
    }

    func testBadHeaderDimensions() {
        let huge: [UInt8] = [0, 0, 8, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]
        assertDataError(try IDX.parseImages(huge, path: "huge")) {
            if case .badHeader = $0 { return true } else { return false }
        }
        let zeroSize = [0, 0, 8, 3] + bigEndian(1) + bigEndian(0) + bigEndian(5)
        assertDataError(try IDX.parseImages(zeroSize, path: "zero")) {
            if case .badHeader = $0 { return true } else { return false }
        }
    }

    func testInvalidOptionsAndNormalization() {
        let data = syntheticDataset(count: 4)
        let norm = Normalization.identity(channels: 1)
        assertDataError(try Batcher(dataset: data, normalization: norm, options: BatchOptions(batchSize: 0))) {
            if case .invalidOption = $0 { return true } else { return false }
        }
        assertDataError(try Batcher(dataset: data, normalization: norm, options: BatchOptions(batchSize: 2, resize: 0))) {
            if case .invalidOption = $0 { return true } else { return false }
        }
        assertDataError(try Batcher(dataset: data, normalization: Normalization(mean: [0.5, 0.5], std: [1, 1]),
                                    options: BatchOptions(batchSize: 2))) {
            if case .invalidNormalization = $0 { return true } else { return false }
        }
        assertDataError(try Normalization(mean: [0.5], std: [0]).validate(channels: 1), mentioning: "std") {
            if case .invalidNormalization = $0 { return true } else { return false }
        }
        assertDataError(try Normalization(mean: [.nan], std: [1]).validate(channels: 1)) {
            if case .invalidNormalization = $0 { return true } else { return false }
        }
        assertDataError(try Batcher(dataset: data, normalization: norm, options: BatchOptions(batchSize: 2)).batches(epoch: 0, position: 5)) {
            if case .invalidOption = $0 { return true } else { return false }
        }
        assertDataError(try DatasetLoader.load(kind: .mnist, directory: "/tmp", split: .train, limit: -1)) {
            if case .invalidOption = $0 { return true } else { return false }
        }
    }
}
