@testable import CLTrainDistributed
import XCTest

final class BucketLayoutTests: XCTestCase {
    func testGradientsFillBucketsGreedilyInBackwardOrder() {
        // 16-byte buckets hold 4 floats.
        let layout = BucketLayout(sizes: [1, 2, 1, 3, 4, 1], bucketBytes: 16)
        XCTAssertEqual(layout.buckets, [[0, 1, 2], [3], [4], [5]])
        XCTAssertEqual(layout.bucketElements, [4, 3, 4, 1])
        XCTAssertEqual(layout.offsetOf, [0, 1, 3, 0, 0, 0])
        XCTAssertEqual(layout.bucketOf, [0, 0, 0, 1, 2, 3])
    }

    func testAGradientLargerThanABucketHasOneOfItsOwn() {
        let layout = BucketLayout(sizes: [2, 10, 1, 1], bucketBytes: 16)
        XCTAssertEqual(layout.buckets, [[0], [1], [2, 3]])
    }

    func testEveryElementHasExactlyOnePlace() {
        let sizes = (0..<200).map { ($0 * 7919) % 5000 }
        let layout = BucketLayout(sizes: sizes, bucketBytes: 64 << 10)
        XCTAssertEqual(layout.buckets.flatMap { $0 }, Array(sizes.indices))
        XCTAssertEqual(layout.bucketElements.reduce(0, +), sizes.reduce(0, +))
        for (bucket, members) in layout.buckets.enumerated() {
            var offset = 0
            for index in members {
                XCTAssertEqual(layout.offsetOf[index], offset)
                offset += sizes[index]
            }
            XCTAssert(members.count == 1 || layout.bucketElements[bucket] <= 16 << 10, "bucket \(bucket) is over its size")
        }
    }

    func testDefaultBucketIsFourMiB() {
        XCTAssertEqual(BucketLayout.defaultBucketBytes, 4 * 1024 * 1024)
        // 3 gradients of 0.5 Mi floats (2 MiB each): two fit in 4 MiB, the third starts a bucket.
        XCTAssertEqual(BucketLayout(sizes: [1 << 19, 1 << 19, 1 << 19]).buckets, [[0, 1], [2]])
    }
}

final class BatchShardTests: XCTestCase {
    func testSharesAreContiguousAndCoverTheBatchInOrder() {
        for count in [0, 1, 2, 7, 64, 65, 127] {
            for ranks in 1...5 {
                let shards = (0..<ranks).map { BatchShard(count: count, rank: $0, ranks: ranks) }
                XCTAssertEqual(shards.first?.range.lowerBound, 0)
                XCTAssertEqual(shards.last?.range.upperBound, count)
                for (a, b) in zip(shards, shards.dropFirst()) { XCTAssertEqual(a.range.upperBound, b.range.lowerBound) }
                let lengths = shards.map(\.range.count)
                XCTAssertLessThanOrEqual(lengths.max()! - lengths.min()!, 1, "count \(count) over \(ranks)")
                XCTAssertEqual(lengths.sorted(by: >), lengths, "the larger shares come first")
            }
        }
    }

    func testTenImagesOverFourRanks() {
        let ranges = (0..<4).map { BatchShard(count: 10, rank: $0, ranks: 4).range }
        XCTAssertEqual(ranges, [0..<3, 3..<6, 6..<8, 8..<10])
        XCTAssertEqual(BatchShard(count: 10, rank: 0, ranks: 4).indices(of: Array(100..<110)), [100, 101, 102])
    }

    func testWeightedMeansAveragedOverRanksAreTheGlobalMean() {
        let losses = (0..<13).map { Double($0 * $0 % 11) + 0.25 }
        let globalMean = losses.reduce(0, +) / Double(losses.count)
        for ranks in 1...6 {
            let perRank = (0..<ranks).map { rank -> Double in
                let shard = BatchShard(count: losses.count, rank: rank, ranks: ranks)
                let mine = losses[shard.range]
                let mean = mine.isEmpty ? 0 : mine.reduce(0, +) / Double(mine.count)
                return shard.lossWeight * mean
            }
            XCTAssertEqual(perRank.reduce(0, +) / Double(ranks), globalMean, accuracy: 1e-12, "\(ranks) ranks")
        }
        XCTAssertEqual(BatchShard(count: 64, rank: 1, ranks: 2).lossWeight, 1, "equal shares leave the loss alone")
    }
}
