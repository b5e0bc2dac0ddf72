import CLTrainTestSupport
import Foundation
import XCTest
@testable import CLTrainIO

/// Every error case, each from a hand-made bad file.
final class SafetensorsErrorTests: XCTestCase {
    let fileName = "test.safetensors"

    func decode(_ data: Data) throws -> SafetensorsFile { try SafetensorsFile.decode(data, source: fileName) }

    func entry(_ tensor: String, _ dtype: String = "F32", shape: [Int], _ begin: UInt64, _ end: UInt64) -> String {
        #""\#(tensor)":{"dtype":"\#(dtype)","shape":\#(shape),"data_offsets":[\#(begin),\#(end)]}"#
    }

    func testMissingFileAndDirectoryAreUnreadable() throws {
        let directory = try makeTemporaryDirectory()
        let missing = directory.appendingPathComponent("nope.safetensors")
        assertWeightsError(try SafetensorsFile.read(contentsOf: missing), file: missing.path, mentions: ["no such file"]) {
            if case .unreadable = $0 { return true } else { return false }
        }
        assertWeightsError(try SafetensorsFile.read(contentsOf: directory), file: directory.path, mentions: ["directory"]) {
            if case .unreadable = $0 { return true } else { return false }
        }
    }

    func testUnreadablePermissions() throws {
        guard geteuid() != 0 else { throw XCTSkip("running as root: permissions do not stop reads") }
        let directory = try makeTemporaryDirectory()
        let url = directory.appendingPathComponent("locked.safetensors")
        try SafetensorsWriter.write(tensors: [("w", [1], [1])], to: url)
        try FileManager.default.setAttributes([.posixPermissions: 0o000], ofItemAtPath: url.path)
        assertWeightsError(try SafetensorsFile.read(contentsOf: url), file: url.path) {
            if case .unreadable = $0 { return true } else { return false }
        }
    }

    func testShorterThanEightBytes() {
        for size in [0, 1, 7] {
            assertWeightsError(try decode(Data(repeating: 0, count: size)), mentions: ["truncated"]) {
                $0 == .tooShort(file: self.fileName, size: size)
            }
        }
    }

    func testHugeHeaderLengthIsRefusedBeforeAllocating() {
        let file = handMadeFile(header: "{}", lengthOverride: UInt64.max)
        assertWeightsError(try decode(file)) { $0 == .headerTooLarge(file: self.fileName, headerLength: .max, limit: 100_000_000) }
        let just = handMadeFile(header: "{}", lengthOverride: 100_000_001)
        assertWeightsError(try decode(just)) {
            if case .headerTooLarge = $0 { return true } else { return false }
        }
    }

    func testHeaderLengthBeyondFile() {
        let file = handMadeFile(header: "{}", lengthOverride: 3)
        assertWeightsError(try decode(file), mentions: ["truncated"]) {
            $0 == .headerBeyondFile(file: self.fileName, headerLength: 3, fileSize: 10)
        }
    }

    func testHeaderNotJSON() {
        for header in ["{not json}", "{\"a\":", "", "   ", "{\"a\":1,}", "{\"a\":1} x", "{\"a\":01}", "{\"a\":\"\u{01}\"}",
                       "{\"a\":1,\"a\":2}", "{\"a\":\"\\ud800\"}", String(repeating: "[", count: 1000)] {
            assertWeightsError(try decode(handMadeFile(header: header)), mentions: ["JSON"]) {
                if case .invalidHeaderJSON = $0 { return true } else { return false }
            }
        }
        var invalidUTF8 = handMadeFile(header: "{\"a\":\"xx\"}")
        invalidUTF8[14] = 0xFF
        assertWeightsError(try decode(invalidUTF8)) {
            if case .invalidHeaderJSON = $0 { return true } else { return false }
        }
    }

    func testHeaderNotAnObject() {
        for header in ["[1,2]", "\"x\"", "12", "null"] {
            assertWeightsError(try decode(handMadeFile(header: header))) { $0 == .headerNotObject(file: self.fileName) }
        }
    }

    func testEntriesMissingFieldsOrWithWrongTypes() {
        let cases: [(String, String)] = [
            (#"{"w":{"shape":[1],"data_offsets":[0,4]}}"#, "dtype"),
            (#"{"w":{"dtype":"F32","data_offsets":[0,4]}}"#, "shape"),
            (#"{"w":{"dtype":"F32","shape":[1]}}"#, "data_offsets"),
            (#"{"w":{"dtype":32,"shape":[1],"data_offsets":[0,4]}}"#, "dtype"),
            (#"{"w":{"dtype":"F32","shape":1,"data_offsets":[0,4]}}"#, "shape"),
            (#"{"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}"#, "1.5"),
            (#"{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, "-1"),
            (#"{"w":{"dtype":"F32","shape":["1"],"data_offsets":[0,4]}}"#, "shape"),
            (#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[4]}}"#, "data_offsets"),
            (#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}"#, "data_offsets"),
            (#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}}"#, "-4"),
            (#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,1e1]}}"#, "1e1"),
            (#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,18446744073709551616]}}"#, "data_offsets"),
            (#"{"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}"#, "shape"),
            (#"{"w":{"dtype":"F32","shape":[2147483647,2147483647],"data_offsets":[0,4]}}"#, "too many"),
            (#"{"w":[1,2]}"#, "not an object"),
        ]
        for (header, word) in cases {
            assertWeightsError(try decode(handMadeFile(header: header, data: [0, 0, 0, 0])), mentions: ["'w'", word]) {
                if case .invalidEntry(_, "w", _) = $0 { return true } else { return false }
            }
        }
    }

    func testDescriptionStaysOneLineForNamesWithNewlines() {
        let header = #"{"bad\nname":{"dtype":"F32","shape":[1]}}"#
        assertWeightsError(try decode(handMadeFile(header: header)), mentions: [#"'bad\u{a}name'"#]) {
            if case .invalidEntry(_, "bad\nname", _) = $0 { return true } else { return false }
        }
    }

    func testMetadataNotStrings() {
        for header in [#"{"__metadata__":{"epoch":3}}"#, #"{"__metadata__":["a"]}"#, #"{"__metadata__":"x"}"#] {
            assertWeightsError(try decode(handMadeFile(header: header)), mentions: ["__metadata__"]) {
                if case .invalidMetadata = $0 { return true } else { return false }
            }
        }
    }

    func testUnknownDType() {
        let header = "{\(entry("w", "Q7", shape: [1], 0, 4))}"
        assertWeightsError(try decode(handMadeFile(header: header, data: [0, 0, 0, 0])), mentions: ["'w'", "Q7"]) {
            $0 == .unsupportedDType(file: self.fileName, tensor: "w", dtype: "Q7")
        }
    }

    func testWrongDTypeWhereF32IsNeeded() throws {
        let header = "{\(entry("bn.num_batches_tracked", "I64", shape: [], 0, 8)),\(entry("h", "F16", shape: [2], 8, 12))}"
        let file = try decode(handMadeFile(header: header, data: [5, 0, 0, 0, 0, 0, 0, 0, 0, 0x3C, 0, 0x3C]))
        assertWeightsError(try file.floats("bn.num_batches_tracked"), mentions: ["'bn.num_batches_tracked'", "I64", "F32"]) {
            if case .wrongDType(_, "bn.num_batches_tracked", "I64", _) = $0 { return true } else { return false }
        }
        assertWeightsError(try file.floats("h", allowConversion: false), mentions: ["'h'", "F16"]) {
            $0 == .wrongDType(file: self.fileName, tensor: "h", dtype: "F16", needed: "F32")
        }
        XCTAssertEqual(try file.floats("h"), [1, 1])
        XCTAssertEqual(try file.integer("bn.num_batches_tracked"), 5)
        assertWeightsError(try file.integer("h"), mentions: ["'h'"]) {
            if case .wrongDType(_, "h", "F16", _) = $0 { return true } else { return false }
        }
    }

    func testOffsetsReversed() {
        let header = "{\(entry("w", shape: [0], 8, 4))}"
        assertWeightsError(try decode(handMadeFile(header: header, data: Array(repeating: 0, count: 8))), mentions: ["'w'", "[8, 4]"]) {
            $0 == .invalidOffsets(file: self.fileName, tensor: "w", begin: 8, end: 4)
        }
    }

    func testOffsetsNotMatchingShapeTimesDTypeSize() {
        let header = "{\(entry("w", shape: [3], 0, 8))}"
        assertWeightsError(try decode(handMadeFile(header: header, data: Array(repeating: 0, count: 12))), mentions: ["'w'", "12", "8"]) {
            $0 == .sizeMismatch(file: self.fileName, tensor: "w", shape: [3], dtype: "F32", expectedBytes: 12, actualBytes: 8)
        }
    }

    func testOverlappingTensors() {
        let header = "{\(entry("a", shape: [2], 0, 8)),\(entry("b", shape: [2], 4, 12))}"
        assertWeightsError(try decode(handMadeFile(header: header, data: Array(repeating: 0, count: 12))), mentions: ["'a'", "'b'", "overlap"]) {
            $0 == .overlappingTensors(file: self.fileName, tensor: "b", other: "a")
        }
        // A small tensor inside a larger one that started earlier.
        let inner = "{\(entry("big", shape: [4], 0, 16)),\(entry("small", shape: [1], 12, 16)),\(entry("tiny", shape: [1], 4, 8))}"
        assertWeightsError(try decode(handMadeFile(header: inner, data: Array(repeating: 0, count: 16)))) {
            $0 == .overlappingTensors(file: self.fileName, tensor: "tiny", other: "big")
        }
    }

    func testTruncatedData() {
        let header = "{\(entry("a", shape: [1], 0, 4)),\(entry("w", shape: [2], 4, 12))}"
        assertWeightsError(try decode(handMadeFile(header: header, data: Array(repeating: 0, count: 10))), mentions: ["'w'", "truncated"]) {
            $0 == .truncatedData(file: self.fileName, tensor: "w", needed: 12, available: 10)
        }
        let huge = "{\(entry("w", "U8", shape: [1], 18_446_744_073_709_551_614, 18_446_744_073_709_551_615))}"
        assertWeightsError(try decode(handMadeFile(header: huge, data: [1]))) {
            if case .truncatedData(_, "w", _, 1) = $0 { return true } else { return false }
        }
    }

    func testMissingTensorOnAccess() throws {
        let file = try SafetensorsFile.decode(try SafetensorsWriter.encode(tensors: [("a", [1], [1])]), source: fileName)
        assertWeightsError(try file.floats("features.conv0.weight"), mentions: ["'features.conv0.weight'", "missing"]) {
            $0 == .missingTensor(file: self.fileName, tensor: "features.conv0.weight", others: 0)
        }
        assertWeightsError(try file.floats("a", shape: [1, 1]), mentions: ["[1, 1]", "[1]"]) {
            $0 == .shapeMismatch(file: self.fileName, tensor: "a", expected: [1, 1], found: [1], others: 0)
        }
    }

    func testWriterRejectsInconsistentTensors() throws {
        let directory = try makeTemporaryDirectory()
        let url = directory.appendingPathComponent("out.safetensors")
        let bad: [[SafetensorsWriter.Tensor]] = [
            [("w", [2, 2], [1, 2, 3])],
            [("w", [1], [1]), ("w", [1], [2])],
            [("", [1], [1])],
            [("__metadata__", [1], [1])],
            [("w", [-1], [])],
            [("w", [Int.max, 2], [])],
        ]
        for tensors in bad {
            assertWeightsError(try SafetensorsWriter.write(tensors: tensors, to: url), file: url.path) {
                if case .invalidTensorToWrite = $0 { return true } else { return false }
            }
        }
        XCTAssertEqual(try directoryEntries(directory), [])
    }
}
