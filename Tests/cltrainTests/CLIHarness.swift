import CLTrainTestSupport
import Foundation
import XCTest

/// Runs the built `cltrain` binary and writes the small data files the CLI tests feed it.
enum CLI {
    /// The `cltrain` executable built beside the test bundle.
    static func executable() throws -> URL {
        var directory = Bundle.main.bundleURL
        for _ in 0..<3 {
            let candidate = directory.appendingPathComponent("cltrain")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            directory.deleteLastPathComponent()
        }
        throw XCTSkip("the cltrain executable is not built next to the tests (run `swift build` first)")
    }

    /// Run `cltrain arguments` to the end (or until `timeout` seconds, then kill it).
    static func run(_ arguments: [String], environment: [String: String] = [:], timeout: Double = 120) throws -> ProcessResult {
        let running = try start(arguments, environment: environment)
        let deadline = Date().addingTimeInterval(timeout)
        while running.process.isRunning && Date() < deadline { usleep(20_000) }
        if running.process.isRunning { running.process.terminate() }
        return running.finish()
    }

    static func start(_ arguments: [String], environment: [String: String] = [:]) throws -> RunningProcess {
        try RunningProcess(executable(), arguments, environment: environment)
    }

    // MARK: Files

    /// IDX images of `size` x `size` whose pixels hash their index with `seed`.
    static func idxImages(count: Int, size: Int = 28, seed: Int = 1) -> [UInt8] {
        CLTrainTestSupport.idxImages(count: count, rows: size, cols: size) { UInt8(truncatingIfNeeded: ($0 &* 2_654_435_761 &+ seed) >> 7) }
    }

    /// A Fashion-MNIST-shaped folder of `count` training and test images (not gzipped).
    static func writeDataset(in directory: URL, count: Int = 32) throws {
        let labels = (0..<count).map { UInt8($0 % 10) }
        try Data(idxImages(count: count)).write(to: directory.appendingPathComponent("train-images-idx3-ubyte"))
        try Data(idxLabels(labels)).write(to: directory.appendingPathComponent("train-labels-idx1-ubyte"))
        try Data(idxImages(count: count, seed: 2)).write(to: directory.appendingPathComponent("t10k-images-idx3-ubyte"))
        try Data(idxLabels(labels)).write(to: directory.appendingPathComponent("t10k-labels-idx1-ubyte"))
    }
}
