import Foundation
import XCTest

/// What a finished process left: its exit status and everything it wrote.
public struct ProcessResult {
    public var status: Int32
    public var stdout: String
    public var stderr: String
}

/// A started process whose output and error streams are collected as they come, so that
/// neither pipe can fill up and stall it.
public final class RunningProcess {
    public let process = Process()
    private let out = Pipe(), err = Pipe()
    private var outData = Data(), errData = Data()
    private let lock = NSLock()

    /// Starts `executable arguments` with this process's environment plus `environment`.
    public init(_ executable: URL, _ arguments: [String], environment: [String: String] = [:]) throws {
        process.executableURL = executable
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

    /// Waits for the process to exit and returns what it wrote.
    public func finish() -> ProcessResult {
        process.waitUntilExit()
        out.fileHandleForReading.readabilityHandler = nil
        err.fileHandleForReading.readabilityHandler = nil
        append(out.fileHandleForReading.readDataToEndOfFile(), error: false)
        append(err.fileHandleForReading.readDataToEndOfFile(), error: true)
        lock.lock()
        defer { lock.unlock() }
        return ProcessResult(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                             stderr: String(decoding: errData, as: UTF8.self))
    }
}

/// Open MPI's launcher on PATH, or a skip that says how to get it (the tests that run ranks).
public func mpirunExecutable() throws -> URL {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    for folder in path.split(separator: ":") {
        let candidate = URL(fileURLWithPath: String(folder)).appendingPathComponent("mpirun")
        if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
    }
    throw XCTSkip("mpirun is not installed (apt-get install openmpi-bin libopenmpi-dev, as scripts/install-dependencies.sh does)")
}
