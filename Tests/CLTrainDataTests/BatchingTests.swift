import CLTrainRandom
import Foundation
import XCTest

@testable import CLTrainData

/// Shuffling, resuming, augmentation, resizing, partial batches and prefetching.
final class BatchingTests: XCTestCase {
    private func allBatches(_ batcher: Batcher, epoch: Int, position: Int = 0) throws -> [Batch] {
        Array(try batcher.batches(epoch: epoch, position: position))
    }

    func testNoShuffleKeepsFileOrderAndNormalises() throws {
        let data = syntheticDataset(count: 5, channels: 1, height: 2, width: 3)
        let norm = Normalization(mean: [0.25], std: [0.5])
        let batcher = try Batcher(dataset: data, normalization: norm, options: BatchOptions(batchSize: 2, shuffle: false))
        let batches = try allBatches(batcher, epoch: 3)
        XCTAssertEqual(batches.map(\.count), [2, 2, 1])
        XCTAssertEqual(batches.flatMap(\.indices), [0, 1, 2, 3, 4])
        XCTAssertEqual(batches.flatMap(\.labels), [0, 1, 2, 3, 4])
        XCTAssertEqual(batches.map(\.position), [0, 2, 4])
        let expected = data.images.map { (Float($0) / 255 - 0.25) / 0.5 }
        XCTAssertEqual(batches.flatMap(\.images), expected)
        XCTAssertEqual([batches[0].channels, batches[0].height, batches[0].width], [1, 2, 3])
    }

    func testDropLast() throws {
        let data = syntheticDataset(count: 5)
        let keep = try Batcher(dataset: data, normalization: .identity(channels: 1), options: BatchOptions(batchSize: 2))
        let drop = try Batcher(dataset: data, normalization: .identity(channels: 1), options: BatchOptions(batchSize: 2, dropLast: true))
        XCTAssertEqual(keep.batchesPerEpoch, 3)
        XCTAssertEqual(drop.batchesPerEpoch, 2)
        XCTAssertEqual(try allBatches(keep, epoch: 0).map(\.count), [2, 2, 1])
        XCTAssertEqual(try allBatches(drop, epoch: 0).map(\.count), [2, 2])
    }

    func testShuffleIsSeededPerEpoch() throws {
        let data = syntheticDataset(count: 50)
        func order(seed: UInt64, epoch: Int) throws -> [Int] {
            let b = try Batcher(dataset: data, normalization: .identity(channels: 1),
                                options: BatchOptions(batchSize: 8, seed: seed))
            return try allBatches(b, epoch: epoch).flatMap(\.indices)
        }
        let a = try order(seed: 42, epoch: 0)
        XCTAssertEqual(a, try order(seed: 42, epoch: 0))
        XCTAssertEqual(a.sorted(), Array(0..<50))
        XCTAssertNotEqual(a, Array(0..<50))
        XCTAssertNotEqual(a, try order(seed: 42, epoch: 1))
        XCTAssertNotEqual(a, try order(seed: 43, epoch: 0))
        // The generator's stream is fixed forever: pin the first values.
        var rng = SeededRandom(seed: 0)
        XCTAssertEqual(rng.next(), 0xE220_A839_7B1D_CDAF)
        XCTAssertEqual(rng.next(), 0x6E78_9E6A_A1B9_65F4)
    }

    func testResumeMidEpochSeesTheSameBatches() throws {
        let data = syntheticDataset(count: 23, channels: 2, height: 5, width: 5)
        let options = BatchOptions(batchSize: 4, augment: true, padding: 2, seed: 9)
        let norm = Normalization(mean: [0.3, 0.6], std: [0.2, 0.25])
        let full = try allBatches(try Batcher(dataset: data, normalization: norm, options: options), epoch: 2)
        // A fresh batcher (a restarted process) resuming after 3 batches.
        var resumed = try Batcher(dataset: data, normalization: norm, options: options).batches(epoch: 2, position: 12)
        var rest: [Batch] = []
        while let b = resumed.next() { rest.append(b) }
        XCTAssertEqual(rest, Array(full[3...]))
        XCTAssertEqual(resumed.position, 23)
        // Augmentation of a sample depends on (seed, epoch, index) only, not on its position.
        let noShuffle = BatchOptions(batchSize: 5, shuffle: false, augment: true, padding: 2, seed: 9)
        let ordered = try allBatches(try Batcher(dataset: data, normalization: norm, options: noShuffle), epoch: 2)
        let size = 2 * 5 * 5
        for batch in full {
            for (k, index) in batch.indices.enumerated() {
                let mine = Array(batch.images[(k * size)..<((k + 1) * size)])
                let theirs = Array(ordered[index / 5].images[((index % 5) * size)..<((index % 5 + 1) * size)])
                XCTAssertEqual(mine, theirs)
            }
        }
    }

    func testPadCropFlipByHand() {
        // 1 x 2 x 3 image:  1 2 3 / 4 5 6
        let image: [Float] = [1, 2, 3, 4, 5, 6]
        XCTAssertEqual(Transforms.padCropFlip(image, channels: 1, height: 2, width: 3, padding: 1, top: 1, left: 1, flip: false), image)
        // Window at the padded image's top-left corner: a zero row and a zero column come in.
        XCTAssertEqual(Transforms.padCropFlip(image, channels: 1, height: 2, width: 3, padding: 1, top: 0, left: 0, flip: false),
                       [0, 0, 0, 0, 1, 2])
        // Bottom-right window, then mirrored.
        XCTAssertEqual(Transforms.padCropFlip(image, channels: 1, height: 2, width: 3, padding: 1, top: 2, left: 2, flip: false),
                       [5, 6, 0, 0, 0, 0])
        XCTAssertEqual(Transforms.padCropFlip(image, channels: 1, height: 2, width: 3, padding: 1, top: 1, left: 1, flip: true),
                       [3, 2, 1, 6, 5, 4])
        XCTAssertEqual(Transforms.padCropFlip(image, channels: 1, height: 2, width: 3, padding: 1, top: 1, left: 0, flip: true),
                       [2, 1, 0, 5, 4, 0])
    }

    func testAugmentedBatchMatchesDrawsAndPadsWithZeroPixels() throws {
        let data = syntheticDataset(count: 64, channels: 1, height: 3, width: 3)
        let norm = Normalization(mean: [0.5], std: [0.25])
        let options = BatchOptions(batchSize: 64, shuffle: false, augment: true, padding: 2, seed: 1234)
        let batch = try allBatches(try Batcher(dataset: data, normalization: norm, options: options), epoch: 5)[0]
        var flips = 0
        var tops = Set<Int>()
        for i in 0..<64 {
            let draw = AugmentDraw.make(seed: 1234, epoch: 5, index: i, padding: 2)
            XCTAssertTrue((0...4).contains(draw.top) && (0...4).contains(draw.left))
            if draw.flip { flips += 1 }
            tops.insert(draw.top)
            let pixels = data.image(i).map { Float($0) / 255 }
            let expected = Transforms.padCropFlip(pixels, channels: 1, height: 3, width: 3, padding: 2,
                                                  top: draw.top, left: draw.left, flip: draw.flip)
                .map { ($0 - 0.5) / 0.25 }
            XCTAssertEqual(Array(batch.images[(i * 9)..<((i + 1) * 9)]), expected)
        }
        XCTAssertEqual(tops, Set(0...4))
        XCTAssertTrue((16...48).contains(flips), "flips: \(flips) of 64")
        // Padding is zero in pixel space: after normalising it is -mean/std = -2.
        XCTAssertTrue(batch.images.contains(-2))
    }

    func testBilinearResize() {
        let up = Transforms.resizeBilinear([0, 1, 2, 3], channels: 1, height: 2, width: 2, outHeight: 4, outWidth: 4)
        XCTAssertEqual(up, [0, 0.25, 0.75, 1,
                            0.5, 0.75, 1.25, 1.5,
                            1.5, 1.75, 2.25, 2.5,
                            2, 2.25, 2.75, 3])
        let square: [Float] = (0..<16).map(Float.init)
        let down = Transforms.resizeBilinear(square, channels: 1, height: 4, width: 4, outHeight: 2, outWidth: 2)
        XCTAssertEqual(down, [2.5, 4.5, 10.5, 12.5])
        XCTAssertEqual(Transforms.resizeBilinear(square, channels: 1, height: 4, width: 4, outHeight: 4, outWidth: 4), square)
        // Channels are resized independently.
        let two = Transforms.resizeBilinear([0, 1, 2, 3, 10, 10, 10, 10], channels: 2, height: 2, width: 2, outHeight: 4, outWidth: 4)
        XCTAssertEqual(Array(two[..<16]), up)
        XCTAssertEqual(Array(two[16...]), Array(repeating: 10, count: 16))
    }

    func testResizeInBatchesComesBeforeCrop() throws {
        let data = syntheticDataset(count: 3, channels: 1, height: 4, width: 4)
        let options = BatchOptions(batchSize: 3, shuffle: false, augment: true, padding: 1, resize: 6, seed: 3)
        let batcher = try Batcher(dataset: data, normalization: .identity(channels: 1), options: options)
        XCTAssertEqual([batcher.outputHeight, batcher.outputWidth], [6, 6])
        let batch = try allBatches(batcher, epoch: 0)[0]
        XCTAssertEqual([batch.height, batch.width], [6, 6])
        XCTAssertEqual(batch.images.count, 3 * 36)
        for i in 0..<3 {
            let resized = Transforms.resizeBilinear(data.image(i).map { Float($0) / 255 }, channels: 1,
                                                    height: 4, width: 4, outHeight: 6, outWidth: 6)
            let draw = AugmentDraw.make(seed: 3, epoch: 0, index: i, padding: 1)
            let expected = Transforms.padCropFlip(resized, channels: 1, height: 6, width: 6, padding: 1,
                                                  top: draw.top, left: draw.left, flip: draw.flip)
            XCTAssertEqual(Array(batch.images[(i * 36)..<((i + 1) * 36)]), expected)
        }
    }

    /// The batcher keeps the data set as its bytes and resizes, crops and normalises each batch as
    /// it builds it. Its batches equal the reference computation on a float copy of the whole
    /// set (scale to [0, 1], resize, pad-crop-flip, normalise), bitwise, for CIFAR-shaped images
    /// shuffled and augmented, so keeping bytes changes no result.
    func testResizedBatchesEqualTheReferenceOnAFloatCopyOfTheSet() throws {
        let data = syntheticDataset(count: 6, channels: 3, height: 32, width: 32)
        let normalization = Normalization.compute(data)
        let options = BatchOptions(batchSize: 4, shuffle: true, augment: true, padding: 4, resize: 50, seed: 11)
        let batcher = try Batcher(dataset: data, normalization: normalization, options: options)
        let floats = data.images.map { Float($0) / 255 }
        for epoch in 0..<2 {
            for batch in try allBatches(batcher, epoch: epoch) {
                let size = 3 * 50 * 50
                for (k, index) in batch.indices.enumerated() {
                    let resized = Transforms.resizeBilinear(Array(floats[(index * 3 * 1024)..<((index + 1) * 3 * 1024)]), channels: 3,
                                                            height: 32, width: 32, outHeight: 50, outWidth: 50)
                    let draw = AugmentDraw.make(seed: 11, epoch: epoch, index: index, padding: 4)
                    let cropped = Transforms.padCropFlip(resized, channels: 3, height: 50, width: 50, padding: 4,
                                                         top: draw.top, left: draw.left, flip: draw.flip)
                    let expected = cropped.enumerated().map { i, v in (v - normalization.mean[i / 2500]) / normalization.std[i / 2500] }
                    XCTAssertEqual(Array(batch.images[(k * size)..<((k + 1) * size)]).map(\.bitPattern), expected.map(\.bitPattern),
                                   "epoch \(epoch), image \(index)")
                }
            }
        }
    }

    /// Resident memory grows with the batches in flight, not with the resized data set: 2,000
    /// CIFAR-shaped images at 224 x 224 would be 1.2 GB as floats; ten batches of 16 are 10 MB each.
    func testResizingDoesNotMaterialiseTheDataSet() throws {
        guard let clear = FileHandle(forWritingAtPath: "/proc/self/clear_refs") else { throw XCTSkip("no /proc/self/clear_refs") }
        func status(_ field: String) -> Int {
            let text = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
            let line = text.split(separator: "\n").first { $0.hasPrefix(field + ":") } ?? ""
            return 1024 * (Int(line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first ?? "") ?? 0)
        }
        let data = syntheticDataset(count: 2000, channels: 3, height: 32, width: 32)
        let options = BatchOptions(batchSize: 16, augment: true, resize: 224, seed: 1)
        let batcher = try Batcher(dataset: data, normalization: Normalization.compute(data), options: options)
        try clear.write(contentsOf: Data("5".utf8))
        try clear.close()
        let baseline = status("VmRSS")
        var seen = 0
        for batch in try batcher.prefetchingBatches(epoch: 0) {
            seen += batch.count
            if seen >= 160 { break }
        }
        let growth = status("VmHWM") - baseline
        print("resident growth over 10 batches of 16 at 224 x 224: \(growth / (1 << 20)) MiB")
        XCTAssertLessThan(growth, 200 << 20, "resident memory grew by \(growth) bytes")
    }

    func testPrefetchingEqualsPlainIteration() throws {
        let data = syntheticDataset(count: 37, channels: 3, height: 6, width: 6)
        let options = BatchOptions(batchSize: 5, augment: true, seed: 77)
        let batcher = try Batcher(dataset: data, normalization: Normalization.compute(data), options: options)
        for epoch in 0..<3 {
            let plain = try allBatches(batcher, epoch: epoch)
            let prefetching = try batcher.prefetchingBatches(epoch: epoch)
            XCTAssertEqual(Array(prefetching), plain)
            XCTAssertEqual(prefetching.position, 37)
            XCTAssertNil(prefetching.next())
        }
        // Resumed and prefetched.
        let resumed = Array(try batcher.prefetchingBatches(epoch: 1, position: 10, depth: 1))
        XCTAssertEqual(resumed, Array(try allBatches(batcher, epoch: 1)[2...]))
    }

    func testDroppingPrefetcherMidEpochIsSafe() throws {
        let data = syntheticDataset(count: 100)
        let batcher = try Batcher(dataset: data, normalization: .identity(channels: 1), options: BatchOptions(batchSize: 3))
        for _ in 0..<20 {
            let prefetching = try batcher.prefetchingBatches(epoch: 0)
            XCTAssertEqual(prefetching.next()?.count, 3)
            XCTAssertEqual(prefetching.position, 3)
        }
        // Give the abandoned producers a moment to notice and exit.
        Thread.sleep(forTimeInterval: 0.05)
    }
}
