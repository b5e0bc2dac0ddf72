import CLTrainTestSupport
import Foundation
import XCTest
@testable import CLTrainIO

final class AtomicFileTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws { directory = try makeTemporaryDirectory() }

    struct Injected: Error {}

    func testWritesAndReplaces() throws {
        let url = directory.appendingPathComponent("state.json")
        try AtomicFile.write(Data("first".utf8), to: url)
        XCTAssertEqual(try Data(contentsOf: url), Data("first".utf8))
        try AtomicFile.write(Data("second, longer".utf8), to: url)
        XCTAssertEqual(try Data(contentsOf: url), Data("second, longer".utf8))
        try AtomicFile.write(Data(), to: url)
        XCTAssertEqual(try Data(contentsOf: url), Data())
        XCTAssertEqual(try directoryEntries(directory), ["state.json"])
    }

    func testFailureMidWayLeavesDestinationAndNoTemporaryFile() throws {
        let url = directory.appendingPathComponent("model.safetensors")
        try AtomicFile.write(Data("old contents".utf8), to: url)
        XCTAssertThrowsError(try AtomicFile.write(to: url) { sink in
            try sink.write(Data(repeating: 7, count: 100_000))
            XCTAssertEqual(sink.bytesWritten, 100_000)
            throw Injected()
        }) { XCTAssertTrue($0 is Injected, "the body's error is rethrown unchanged: \($0)") }
        XCTAssertEqual(try Data(contentsOf: url), Data("old contents".utf8))
        XCTAssertEqual(try directoryEntries(directory), ["model.safetensors"])
    }

    func testMissingDirectory() throws {
        let url = directory.appendingPathComponent("no/such/dir/out.json")
        assertWeightsError(try AtomicFile.write(Data("x".utf8), to: url), file: url.path, mentions: ["temporary"]) {
            if case .writeFailed = $0 { return true } else { return false }
        }
        XCTAssertEqual(try directoryEntries(directory), [])
    }

    /// Renaming over a non-empty directory fails after the data is written and synced.
    func testRenameFailureRemovesTemporaryFile() throws {
        let url = directory.appendingPathComponent("taken")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: false)
        try Data("keep".utf8).write(to: url.appendingPathComponent("inside"))
        assertWeightsError(try SafetensorsWriter.write(tensors: [("w", [1], [1])], to: url), file: url.path, mentions: ["renaming"]) {
            if case .writeFailed = $0 { return true } else { return false }
        }
        XCTAssertEqual(try directoryEntries(directory), ["taken"])
        XCTAssertEqual(try Data(contentsOf: url.appendingPathComponent("inside")), Data("keep".utf8))
    }

    func testReadOnlyDirectory() throws {
        guard geteuid() != 0 else { throw XCTSkip("running as root: a read-only directory does not stop writes") }
        let url = directory.appendingPathComponent("model.safetensors")
        try AtomicFile.write(Data("old".utf8), to: url)
        try FileManager.default.setAttributes([.posixPermissions: 0o555], ofItemAtPath: directory.path)
        assertWeightsError(try SafetensorsWriter.write(tensors: [("w", [1], [1])], to: url), file: url.path) {
            if case .writeFailed = $0 { return true } else { return false }
        }
        XCTAssertEqual(try Data(contentsOf: url), Data("old".utf8))
        XCTAssertEqual(try directoryEntries(directory), ["model.safetensors"])
    }

    func testInvalidTensorLeavesExistingFileUntouched() throws {
        let url = directory.appendingPathComponent("model.safetensors")
        try SafetensorsWriter.write(tensors: [("w", [2], [1, 2])], to: url)
        let before = try Data(contentsOf: url)
        XCTAssertThrowsError(try SafetensorsWriter.write(tensors: [("w", [2], [1, 2]), ("v", [3], [1])], to: url))
        XCTAssertEqual(try Data(contentsOf: url), before)
        XCTAssertEqual(try directoryEntries(directory), ["model.safetensors"])
    }
}
