import CLTrainTestSupport
import Foundation
import XCTest
@testable import CLTrainIO

func directoryEntries(_ url: URL) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: url.path).sorted()
}

/// Builds a safetensors file by hand: length prefix (or `lengthOverride`), header text, data bytes.
func handMadeFile(header: String, data: [UInt8] = [], lengthOverride: UInt64? = nil) -> Data {
    let headerBytes = Array(header.utf8)
    var length = (lengthOverride ?? UInt64(headerBytes.count)).littleEndian
    var file = Data(bytes: &length, count: 8)
    file.append(contentsOf: headerBytes)
    file.append(contentsOf: data)
    return file
}

func littleEndianBytes(_ values: [Float]) -> [UInt8] {
    values.flatMap { value -> [UInt8] in
        let bits = value.bitPattern
        return (0..<4).map { UInt8(truncatingIfNeeded: bits >> (8 * $0)) }
    }
}

/// Asserts `body` throws a WeightsFileError, checks it with `check`, and that its description
/// is one line naming the file.
func assertWeightsError(
    _ body: @autoclosure () throws -> Any,
    file sourceFile: String = "test.safetensors",
    mentions: [String] = [],
    _ check: (WeightsFileError) -> Bool,
    line: UInt = #line
) {
    assertOneLineError(WeightsFileError.self, try body(), prefix: sourceFile, mentions: mentions, line: line, check)
}

/// Whether `python3` on PATH can import safetensors and numpy.
func pythonHasSafetensors() -> Bool { pythonCanImport("safetensors.numpy, numpy") }
