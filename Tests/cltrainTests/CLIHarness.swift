import CLTrainTestSupport
import Foundation
import XCTest

/// Runs the built `cltrain` binary and writes the small data files the CLI tests feed it.
enum CLI {
    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

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
    static func run(_ arguments: [String], environment: [String: String] = [:], timeout: Double = 120) throws -> Result {
        let process = try start(arguments, environment: environment)
        let deadline = Date().addingTimeInterval(timeout)
        while process.process.isRunning && Date() < deadline { usleep(20_000) }
        if process.process.isRunning { process.process.terminate() }
        return process.finish()
    }

    final class Running {
        let process = Process()
        let out = Pipe(), err = Pipe()
        private var outData = Data(), errData = Data()
        private let lock = NSLock()

        init(_ url: URL, _ arguments: [String], _ environment: [String: String]) throws {
            process.executableURL = url
            process.arguments = arguments
            var env = ProcessInfo.processInfo.environment
            for (key, value) in environment { env[key] = value }
            process.environment = env
            process.standardOutput = out
            process.standardError = err
            out.fileHandleForReading.readabilityHandler = { [weak self] h in self?.append(h.availableData, error: false) }
            err.fileHandleForReading.readabilityHandler = { [weak self] h in self?.append(h.availableData, error: true) }
            try process.run()
        }

        private func append(_ data: Data, error: Bool) {
            lock.lock()
            if error { errData.append(data) } else { outData.append(data) }
            lock.unlock()
        }

        func finish() -> Result {
            process.waitUntilExit()
            out.fileHandleForReading.readabilityHandler = nil
            err.fileHandleForReading.readabilityHandler = nil
            append(out.fileHandleForReading.readDataToEndOfFile(), error: false)
            append(err.fileHandleForReading.readDataToEndOfFile(), error: true)
            lock.lock()
            defer { lock.unlock() }
            return Result(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                          stderr: String(decoding: errData, as: UTF8.self))
        }
    }

    static func start(_ arguments: [String], environment: [String: String] = [:]) throws -> Running {
        try Running(executable(), arguments, environment)
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
