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
