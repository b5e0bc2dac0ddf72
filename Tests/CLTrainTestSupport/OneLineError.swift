import XCTest

/// Asserts that `body` throws an `E` that `matches` accepts, described in one non-empty line
/// (how the CLI shows every error) that starts with `prefix` and mentions each of `mentions`.
public func assertOneLineError<E: Error & CustomStringConvertible, T>(
    _ errorType: E.Type, _ body: @autoclosure () throws -> T, prefix: String = "", mentions: [String] = [],
    file: StaticString = #filePath, line: UInt = #line, _ matches: (E) -> Bool
) {
    do {
        _ = try body()
        XCTFail("expected a \(E.self)", file: file, line: line)
    } catch let error as E {
        XCTAssertTrue(matches(error), "unexpected error: \(error)", file: file, line: line)
        let text = error.description
        XCTAssertFalse(text.isEmpty, "empty description", file: file, line: line)
        XCTAssertFalse(text.contains("\n"), "description spans lines: \(text)", file: file, line: line)
        XCTAssertTrue(text.hasPrefix(prefix), "'\(text)' does not start with \(prefix)", file: file, line: line)
        for word in mentions {
            XCTAssertTrue(text.contains(word), "'\(text)' does not mention '\(word)'", file: file, line: line)
        }
    } catch {
        XCTFail("expected a \(E.self), got \(type(of: error)): \(error)", file: file, line: line)
    }
}
