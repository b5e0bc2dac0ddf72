import CLTrainRandom
import CLTrainTestSupport
import Foundation
import XCTest
@testable import CLTrainIO

/// Seeded random mutations of valid files: every read must succeed or throw WeightsFileError.
final class SafetensorsFuzzTests: XCTestCase {
    static let seed: UInt64 = 0xC17A_15EE_D000_0001
    static let iterations = 4000

    func baseFiles() throws -> [Data] {
        let small = try SafetensorsWriter.encode(
            tensors: [("features.conv0.weight", [2, 1, 2, 2], (0..<8).map(Float.init)), ("fc.bias", [3], [1, 2, 3]), ("s", [], [9])],
            metadata: ["format": "pt", "epoch": "4"])
        let mixed = handMadeFile(
            header: #"{"__metadata__":{"a":"b"},"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"n":{"dtype":"I64","shape":[],"data_offsets":[4,12]},"w":{"dtype":"F32","shape":[1,2],"data_offsets":[12,20]}}"#,
            data: [0, 0x3C, 0, 0xC0] + [3, 0, 0, 0, 0, 0, 0, 0] + littleEndianBytes([1.5, -2]))
        return [small, mixed]
    }

    func mutate(_ input: Data, _ rng: inout SeededRandom) -> Data {
        var bytes = [UInt8](input)
        let headerLength = bytes.count >= 8 ? Int(min(safetensorsHeaderLength(bytes), UInt64(bytes.count))) : 0
        let headerRange = 8..<max(9, min(bytes.count, 8 + headerLength))
        func setLength(_ value: UInt64) {
            guard bytes.count >= 8 else { return }
            for i in 0..<8 { bytes[i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) }
        }
        func headerPosition() -> Int? {
            guard bytes.count > 8 else { return nil }
            let range = headerRange.clamped(to: 8..<bytes.count)
            return range.isEmpty ? nil : Int.random(in: range, using: &rng)
        }
        let tokens = ["{", "}", "[", "]", "\"", ":", ",", "-", "0", "1", "9", ".", "e", " ", "\\", "null", "true", "\"F16\"",
                      "\"I64\"", "\"XX\"", "18446744073709551615", "99999999999", "\"__metadata__\"", "\\u00e9", "\\n", "\n", "\u{FF}"]
        switch Int.random(in: 0..<9, using: &rng) {
        case 0:  // flip bits anywhere
            if !bytes.isEmpty { bytes[Int.random(in: 0..<bytes.count, using: &rng)] ^= UInt8.random(in: 1...255, using: &rng) }
        case 1:  // flip bits in the header
            if let at = headerPosition() { bytes[at] ^= UInt8.random(in: 1...255, using: &rng) }
        case 2:  // truncate
            bytes.removeLast(Int.random(in: 0...bytes.count, using: &rng))
        case 3:  // change the header length
            switch Int.random(in: 0..<3, using: &rng) {
            case 0: setLength(UInt64(max(0, headerLength + Int.random(in: -16...16, using: &rng))))
            case 1: setLength(UInt64.random(in: 0...UInt64(bytes.count + 8), using: &rng))
            default: setLength(rng.next())
            }
        case 4:  // replace a header byte with a JSON-ish token
            if let at = headerPosition() {
                bytes.replaceSubrange(at...at, with: Array(tokens.randomElement(using: &rng)!.utf8))
                setLength(UInt64(max(0, headerLength + bytes.count - input.count)))
            }
        case 5:  // delete a run of header bytes and fix the length
            if let at = headerPosition() {
                let count = min(Int.random(in: 1...6, using: &rng), bytes.count - at)
                bytes.removeSubrange(at..<(at + count))
                if Bool.random(using: &rng) { setLength(UInt64(max(0, headerLength - count))) }
            }
        case 6:  // insert a token into the header and fix the length
            if let at = headerPosition() {
                let token = Array(tokens.randomElement(using: &rng)!.utf8)
                bytes.insert(contentsOf: token, at: at)
                setLength(UInt64(headerLength + token.count))
            }
        case 7:  // change a digit (shapes, offsets)
            let digits = headerRange.clamped(to: 0..<bytes.count).filter { (48...57).contains(bytes[$0]) }
            if let at = digits.randomElement(using: &rng) { bytes[at] = UInt8.random(in: 48...57, using: &rng) }
        default:  // append or drop data bytes
            if Bool.random(using: &rng) { bytes += (0..<Int.random(in: 1...8, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) } }
            else if !bytes.isEmpty { bytes.removeLast() }
        }
        return Data(bytes)
    }

    func exercise(_ read: () throws -> SafetensorsFile) -> Bool {
        do {
            let file = try read()
            for record in file.tensors.values {
                _ = try? record.floats()
                _ = try? record.integers()
                XCTAssertEqual(record.data.count, record.shape.reduce(1, *) * record.dtype.byteSize)
            }
            _ = try? file.validate(against: [("fc.bias", [3]), ("w", [1, 2])])
            return true
        } catch let error as WeightsFileError {
            XCTAssertFalse(error.description.contains("\n"), error.description)
            return false
        } catch {
            XCTFail("read threw \(type(of: error)), not WeightsFileError: \(error)")
            return false
        }
    }

    func testRandomMutationsNeverCrashAndOnlyThrowWeightsFileError() throws {
        var rng = SeededRandom(seed: Self.seed)
        let bases = try baseFiles()
        let start = Date()
        var succeeded = 0
        for iteration in 0..<Self.iterations {
            var data = bases[iteration % bases.count]
            for _ in 0..<Int.random(in: 1...3, using: &rng) { data = mutate(data, &rng) }
            if exercise({ try SafetensorsFile.decode(data, source: "fuzz-\(iteration)") }) { succeeded += 1 }
        }
        let elapsed = Date().timeIntervalSince(start)
        // Both outcomes occur, so the mutations neither always break nor never break files.
        XCTAssertGreaterThan(succeeded, 50)
        XCTAssertLessThan(succeeded, Self.iterations - 500)
        XCTAssertLessThan(elapsed, 5, "fuzzing took \(elapsed) s")
    }

    /// A smaller run through real files, covering `read(contentsOf:)`.
    func testRandomMutationsThroughFiles() throws {
        let directory = try makeTemporaryDirectory()
        var rng = SeededRandom(seed: Self.seed ^ 0xF11E)
        let bases = try baseFiles()
        let url = directory.appendingPathComponent("fuzz.safetensors")
        for iteration in 0..<200 {
            let data = mutate(bases[iteration % bases.count], &rng)
            try data.write(to: url)
            _ = exercise { try SafetensorsFile.read(contentsOf: url) }
        }
    }
}
