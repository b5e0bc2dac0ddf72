import XCTest

/// Fails when any `|a - b| > atol + rtol * |b|`, naming the worst element (the one exceeding
/// its tolerance by the most) and how many elements are off.
public func assertClose(_ a: [Float], _ b: [Float], rtol: Float, atol: Float, _ message: String = "",
                        file: StaticString = #filePath, line: UInt = #line) {
    guard a.count == b.count else {
        XCTFail("\(message): \(a.count) values against \(b.count)", file: file, line: line)
        return
    }
    var worst = -1, worstExcess: Float = 0, failures = 0
    for i in a.indices {
        let excess = abs(a[i] - b[i]) - (atol + rtol * abs(b[i]))
        if excess > 0 || a[i].isNaN != b[i].isNaN {
            failures += 1
            if worst < 0 || excess > worstExcess || excess.isNaN {
                worst = i
                worstExcess = excess.isNaN ? .infinity : excess
            }
        }
    }
    if worst >= 0 {
        XCTFail("\(message): \(failures) of \(a.count) elements differ; worst [\(worst)] \(a[worst]) vs \(b[worst]) "
                + "(rtol \(rtol), atol \(atol))", file: file, line: line)
    }
}
