import CZlib
import Foundation
import XCTest

@testable import CLTrainData

/// A fresh temporary directory, removed when the test ends.
func makeTemporaryDirectory(_ test: XCTestCase) throws -> String {
    let path = (NSTemporaryDirectory() as NSString)
        .appendingPathComponent("cltrain-data-\(UUID().uuidString)")
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
    return path
}

func join(_ directory: String, _ name: String) -> String {
    (directory as NSString).appendingPathComponent(name)
}

func write(_ bytes: [UInt8], to path: String) throws {
    try Data(bytes).write(to: URL(fileURLWithPath: path))
}

/// Writes `bytes` as a gzip file with zlib's gzopen/gzwrite.
func writeGzip(_ bytes: [UInt8], to path: String) throws {
    guard let file = gzopen(path, "wb9") else { throw CocoaError(.fileWriteUnknown) }
    let written = bytes.withUnsafeBytes { raw -> Int32 in
        guard let base = raw.baseAddress else { return 0 }
        return gzwrite(file, base, UInt32(raw.count))
    }
    let closed = gzclose(file)
    guard Int(written) == bytes.count, closed == Z_OK else { throw CocoaError(.fileWriteUnknown) }
}

/// Gzip bytes in memory, by way of a temporary file written with gzopen.
func gzipBytes(_ bytes: [UInt8], _ test: XCTestCase) throws -> [UInt8] {
    let path = join(try makeTemporaryDirectory(test), "data.gz")
    try writeGzip(bytes, to: path)
    return [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
}

func bigEndian(_ value: Int) -> [UInt8] {
    let v = UInt32(truncatingIfNeeded: value)
    return [UInt8(v >> 24), UInt8((v >> 16) & 0xff), UInt8((v >> 8) & 0xff), UInt8(v & 0xff)]
}

/// An idx3-ubyte file of `count` images of `rows` x `cols`; pixel i of the file is `pixel(i)`.
func idxImages(count: Int, rows: Int, cols: Int, pixel: (Int) -> UInt8 = { UInt8($0 % 251) }) -> [UInt8] {
    [0, 0, 8, 3] + bigEndian(count) + bigEndian(rows) + bigEndian(cols)
        + (0..<(count * rows * cols)).map(pixel)
}

func idxLabels(_ labels: [UInt8]) -> [UInt8] {
    [0, 0, 8, 1] + bigEndian(labels.count) + labels
}

/// CIFAR records: image i has label `labels[i]` (and coarse label `labels[i] / 5` for CIFAR-100)
/// and pixel j equal to (i * 7 + j) % 256.
func cifarRecords(_ labels: [UInt8], variant: CIFAR.Variant) -> [UInt8] {
    var bytes: [UInt8] = []
    for (i, label) in labels.enumerated() {
        if variant == .cifar100 { bytes.append(label / 5) }
        bytes.append(label)
        bytes += (0..<CIFAR.imageBytes).map { UInt8((i * 7 + $0) % 256) }
    }
    return bytes
}

/// Asserts that `body` throws a `DataError` accepted by `matches`, whose description is one
/// line mentioning `mentioning`.
func assertDataError<T>(
    _ body: @autoclosure () throws -> T, mentioning: String? = nil,
    file: StaticString = #filePath, line: UInt = #line, _ matches: (DataError) -> Bool
) {
    do {
        _ = try body()
        XCTFail("expected a DataError", file: file, line: line)
    } catch let error as DataError {
        XCTAssertTrue(matches(error), "unexpected error: \(error)", file: file, line: line)
        let text = error.description
        XCTAssertFalse(text.contains("\n"), "description must be one line: \(text)", file: file, line: line)
        XCTAssertFalse(text.isEmpty, file: file, line: line)
        if let mentioning {
            XCTAssertTrue(text.contains(mentioning), "'\(text)' should mention \(mentioning)", file: file, line: line)
        }
    } catch {
        XCTFail("expected a DataError, got \(error)", file: file, line: line)
    }
}

/// A small labelled data set whose pixel i is (i * 37) % 256.
func syntheticDataset(count: Int, channels: Int = 1, height: Int = 4, width: Int = 4, classes: Int = 10) -> ImageDataset {
    let size = channels * height * width
    return ImageDataset(
        images: (0..<(count * size)).map { UInt8(($0 * 37) % 256) },
        labels: (0..<count).map { Int32($0 % classes) },
        count: count, channels: channels, height: height, width: width, classes: classes)
}
