import Foundation
import XCTest

/// Whether `python3` on PATH can run `import MODULES` (e.g. "safetensors.numpy, numpy").
public func pythonCanImport(_ modules: String) -> Bool {
    let python = try? RunningProcess(URL(fileURLWithPath: "/usr/bin/env"), ["python3", "-c", "import \(modules)"])
    return python?.finish().status == 0
}

/// Runs `python3 -c script args...`, returning stdout; fails the test on a non-zero exit.
public func runPython(_ script: String, _ arguments: [String], file: StaticString = #filePath, line: UInt = #line) throws -> String {
    let result = try RunningProcess(URL(fileURLWithPath: "/usr/bin/env"), ["python3", "-c", script] + arguments).finish()
    XCTAssertEqual(result.status, 0, result.stderr, file: file, line: line)
    return result.stdout
}
