import CLTrainRandom
import CLTrainTestSupport
import Foundation
import XCTest

@testable import CLTrainData

/// Seeded random mutations of valid files: every parse either succeeds or throws DataError.
/// A crash (trap, out-of-bounds read) would end the test process.
final class FuzzTests: XCTestCase {
    /// Fixed so that a failure can be replayed; change it only to explore.
    static let seed: UInt64 = 0xC17A_2025_0D47_A5E7
    static let mutationsPerFile = 2500
    static let secondsPerFile = 1.2

    enum Parser { case idxImages, idxLabels, cifar10, cifar100 }

    private func parse(_ bytes: [UInt8], as parser: Parser) throws {
        let decoded = try DataFile.decode(bytes, path: "fuzz")
        switch parser {
        case .idxImages: _ = try IDX.parseImages(decoded, path: "fuzz")
        case .idxLabels: _ = try IDX.parseLabels(decoded, path: "fuzz")
        case .cifar10: _ = try CIFAR.parse(decoded, variant: .cifar10, path: "fuzz")
        case .cifar100: _ = try CIFAR.parse(decoded, variant: .cifar100, path: "fuzz", limit: 2)
        }
    }

    private func mutate(_ input: [UInt8], _ rng: inout SeededRandom) -> [UInt8] {
        var bytes = input
        for _ in 0..<(1 + rng.next(below: 3)) {
            switch rng.next(below: 8) {
            case 0 where !bytes.isEmpty:  // flip bits of one byte
                bytes[rng.next(below: bytes.count)] ^= UInt8(1 + rng.next(below: 255))
            case 1 where !bytes.isEmpty:  // random byte anywhere
                bytes[rng.next(below: bytes.count)] = UInt8(truncatingIfNeeded: rng.next())
            case 2:  // truncate
                bytes = Array(bytes.prefix(rng.next(below: bytes.count + 1)))
            case 3:  // extend with random bytes
                bytes += (0..<(1 + rng.next(below: 64))).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            case 4 where bytes.count >= 16:  // header field: a dimension or the magic
                let field = rng.next(below: 4) * 4
                let value = [0, 1, 0xff, 0x7f, UInt8(truncatingIfNeeded: rng.next())][rng.next(below: 5)]
                bytes[field + rng.next(below: 4)] = value
            case 5 where bytes.count >= 2:  // delete a range
                let start = rng.next(below: bytes.count)
                let end = min(bytes.count, start + 1 + rng.next(below: 32))
                bytes.removeSubrange(start..<end)
            case 6 where !bytes.isEmpty:  // duplicate a range
                let start = rng.next(below: bytes.count)
                let end = min(bytes.count, start + 1 + rng.next(below: 32))
                bytes.insert(contentsOf: bytes[start..<end], at: start)
            case 7 where bytes.count > 10:  // damage near the end (gzip trailer, last record)
                bytes[bytes.count - 1 - rng.next(below: 10)] ^= 0x5a
            default:
                break
            }
        }
        return bytes
    }

    private func fuzz(_ valid: [UInt8], as parser: Parser, salt: UInt64) -> (runs: Int, accepted: Int) {
        XCTAssertNoThrow(try parse(valid, as: parser), "the unmutated input must parse")
        var rng = SeededRandom(mixing: Self.seed, salt)
        let start = Date()
        var runs = 0
        var accepted = 0
        while runs < Self.mutationsPerFile && Date().timeIntervalSince(start) < Self.secondsPerFile {
            let mutated = mutate(valid, &rng)
            do {
                try parse(mutated, as: parser)
                accepted += 1
            } catch is DataError {
                // Expected for most mutations.
            } catch {
                XCTFail("run \(runs): not a DataError: \(error)")
            }
            runs += 1
        }
        XCTAssertGreaterThan(runs, 100)
        return (runs, accepted)
    }

    func testMutatedIDX() {
        let valid = idxImages(count: 6, rows: 5, cols: 4)
        let result = fuzz(valid, as: .idxImages, salt: 1)
        _ = fuzz(idxLabels([1, 2, 3, 4, 5]), as: .idxLabels, salt: 2)
        print("IDX fuzz: \(result.runs) mutations, \(result.accepted) parsed")
    }

    func testMutatedGzippedIDX() throws {
        let valid = try gzipBytes(idxImages(count: 8, rows: 6, cols: 6, pixel: { UInt8(($0 * 13) % 97) }))
        let result = fuzz(valid, as: .idxImages, salt: 3)
        print("gzip IDX fuzz: \(result.runs) mutations, \(result.accepted) parsed")
    }

    func testMutatedCIFAR() {
        let result = fuzz(cifarRecords([3, 9], variant: .cifar10), as: .cifar10, salt: 4)
        _ = fuzz(cifarRecords([99, 0, 42], variant: .cifar100), as: .cifar100, salt: 5)
        print("CIFAR fuzz: \(result.runs) mutations, \(result.accepted) parsed")
    }
}
