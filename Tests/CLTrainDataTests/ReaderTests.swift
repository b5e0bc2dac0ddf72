import CLTrainRandom
import CLTrainTestSupport
import XCTest

@testable import CLTrainData

/// Gzip, IDX and CIFAR parsing and the loader's file names, folders and limit.
final class ReaderTests: XCTestCase {
    func testGzipRoundTrip() throws {
        // Larger than the 256 KiB inflate chunk, partly incompressible.
        var rng = SeededRandom(seed: 7)
        let original = (0..<700_000).map { i in i % 3 == 0 ? UInt8(truncatingIfNeeded: rng.next()) : UInt8(i % 13) }
        let gz = try gzipBytes(original)
        XCTAssertTrue(Gzip.isGzip(gz))
        XCTAssertEqual(try Gzip.decompress(gz, path: "x.gz"), original)
        // Concatenated members inflate to the concatenation.
        let second = try gzipBytes([1, 2, 3])
        XCTAssertEqual(try Gzip.decompress(gz + second, path: "x.gz"), original + [1, 2, 3])
        // Plain data passes through DataFile.decode untouched.
        XCTAssertEqual(try DataFile.decode([5, 6, 7], path: "plain"), [5, 6, 7])
    }

    func testIDXPlainAndGzippedDetectedByMagic() throws {
        let dir = try makeTemporaryDirectory().path
        let bytes = idxImages(count: 3, rows: 2, cols: 4)
        try write(bytes, to: join(dir, "plain"))
        // Gzipped but named without .gz: found by the magic bytes.
        try writeGzip(bytes, to: join(dir, "gzipped-without-extension"))
        for name in ["plain", "gzipped-without-extension"] {
            let images = try IDX.readImages(join(dir, name))
            XCTAssertEqual(images.count, 3)
            XCTAssertEqual(images.rows, 2)
            XCTAssertEqual(images.cols, 4)
            XCTAssertEqual(images.pixels, Array(bytes[16...]))
        }
        try writeGzip(idxLabels([9, 0, 4]), to: join(dir, "labels.gz"))
        XCTAssertEqual(try IDX.readLabels(join(dir, "labels.gz")), [9, 0, 4])
    }

    func testUnlabeledIDXForPrediction() throws {
        let dir = try makeTemporaryDirectory().path
        try writeGzip(idxImages(count: 5, rows: 3, cols: 2), to: join(dir, "images.idx.gz"))
        let data = try IDX.readUnlabeled(join(dir, "images.idx.gz"))
        XCTAssertEqual(data.count, 5)
        XCTAssertEqual([data.channels, data.height, data.width], [1, 3, 2])
        XCTAssertTrue(data.labels.isEmpty)
        let batcher = try Batcher(dataset: data, normalization: .identity(channels: 1),
                                  options: BatchOptions(batchSize: 4, shuffle: false))
        let batches = Array(try batcher.batches(epoch: 0))
        XCTAssertEqual(batches.map(\.count), [4, 1])
        XCTAssertTrue(batches[0].labels.isEmpty)
    }

    func testLoadMNISTSplitsMixedGzipAndLimit() throws {
        let dir = try makeTemporaryDirectory().path
        try writeGzip(idxImages(count: 6, rows: 28, cols: 28), to: join(dir, "train-images-idx3-ubyte.gz"))
        try writeGzip(idxLabels([0, 1, 2, 3, 4, 9]), to: join(dir, "train-labels-idx1-ubyte.gz"))
        try write(idxImages(count: 2, rows: 28, cols: 28, pixel: { _ in 200 }), to: join(dir, "t10k-images-idx3-ubyte"))
        try write(idxLabels([7, 8]), to: join(dir, "t10k-labels-idx1-ubyte"))

        let train = try DatasetLoader.load(kind: .mnist, directory: dir, split: .train)
        XCTAssertEqual(train.count, 6)
        XCTAssertEqual([train.channels, train.height, train.width, train.classes], [1, 28, 28, 10])
        XCTAssertEqual(train.labels, [0, 1, 2, 3, 4, 9])
        XCTAssertEqual(train.images, Array(idxImages(count: 6, rows: 28, cols: 28)[16...]))

        let test = try DatasetLoader.load(kind: .fashionMNIST, directory: dir, split: .test)
        XCTAssertEqual(test.labels, [7, 8])
        XCTAssertTrue(test.images.allSatisfy { $0 == 200 })

        let limited = try DatasetLoader.load(kind: .mnist, directory: dir, split: .train, limit: 4)
        XCTAssertEqual(limited.count, 4)
        XCTAssertEqual(limited.labels, [0, 1, 2, 3])
        XCTAssertEqual(limited.images, Array(train.images.prefix(4 * 784)))
        XCTAssertEqual(try DatasetLoader.load(kind: .mnist, directory: dir, split: .train, limit: 100).count, 6)
        XCTAssertEqual(try DatasetLoader.load(kind: .mnist, directory: dir, split: .train, limit: 0).count, 0)
        XCTAssertEqual(train.prefix(2), try DatasetLoader.load(kind: .mnist, directory: dir, split: .train, limit: 2))
    }

    func testLoadCIFAR10FromArchiveFolderWithLimit() throws {
        let dir = try makeTemporaryDirectory().path
        let folder = join(dir, "cifar-10-batches-bin")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for b in 1...5 {
            try write(cifarRecords([UInt8(b), UInt8(b + 1)], variant: .cifar10), to: join(folder, "data_batch_\(b).bin"))
        }
        try write(cifarRecords([9, 0, 5], variant: .cifar10), to: join(folder, "test_batch.bin"))

        let train = try DatasetLoader.load(kind: .cifar10, directory: dir, split: .train)
        XCTAssertEqual(train.count, 10)
        XCTAssertEqual([train.channels, train.height, train.width, train.classes], [3, 32, 32, 10])
        XCTAssertEqual(train.labels, [1, 2, 2, 3, 3, 4, 4, 5, 5, 6])
        // Image 1 of batch 2 is record 1 of its file: pixel j = (7 + j) % 256, CHW as stored.
        XCTAssertEqual(Array(train.image(3).prefix(3)), [7, 8, 9])
        XCTAssertEqual(train.image(3).count, 3072)

        let test = try DatasetLoader.load(kind: .cifar10, directory: folder, split: .test)
        XCTAssertEqual(test.labels, [9, 0, 5])

        let limited = try DatasetLoader.load(kind: .cifar10, directory: dir, split: .train, limit: 3)
        XCTAssertEqual(limited.labels, [1, 2, 2])
        XCTAssertEqual(limited.images, Array(train.images.prefix(3 * 3072)))
    }

    func testLoadCIFAR100UsesFineLabel() throws {
        let dir = try makeTemporaryDirectory().path
        let folder = join(dir, "cifar-100-binary")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try writeGzip(cifarRecords([99, 42, 7], variant: .cifar100), to: join(folder, "train.bin.gz"))
        let train = try DatasetLoader.load(kind: .cifar100, directory: dir, split: .train)
        XCTAssertEqual(train.labels, [99, 42, 7])
        XCTAssertEqual(train.classes, 100)
        XCTAssertEqual(Array(train.image(1).prefix(2)), [7, 8])
    }
}
