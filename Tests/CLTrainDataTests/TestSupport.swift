import CLTrainTestSupport
import Foundation
import XCTest

@testable import CLTrainData

func join(_ directory: String, _ name: String) -> String {
    (directory as NSString).appendingPathComponent(name)
}

func write(_ bytes: [UInt8], to path: String) throws {
    try Data(bytes).write(to: URL(fileURLWithPath: path))
}

/// Asserts that `body` throws a `DataError` accepted by `matches`, whose description is one
/// line mentioning `mentioning`.
func assertDataError<T>(
    _ body: @autoclosure () throws -> T, mentioning: String? = nil,
    file: StaticString = #filePath, line: UInt = #line, _ matches: (DataError) -> Bool
) {
    assertOneLineError(DataError.self, try body(), mentions: mentioning.map { [$0] } ?? [], file: file, line: line, matches)
}

/// A small labelled data set whose pixel i is (i * 37) % 256.
func syntheticDataset(count: Int, channels: Int = 1, height: Int = 4, width: Int = 4, classes: Int = 10) -> ImageDataset {
    let size = channels * height * width
    return ImageDataset(
        images: (0..<(count * size)).map { UInt8(($0 * 37) % 256) },
        labels: (0..<count).map { Int32($0 % classes) },
        count: count, channels: channels, height: height, width: width, classes: classes)
}
