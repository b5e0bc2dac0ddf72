import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Replaces a file atomically and durably: the bytes go to a temporary file in the same
/// directory, which is fsynced, renamed over the destination, and the directory is fsynced.
/// Readers see the old file or the new one, never a mixture. On any failure before the
/// rename, the temporary file is removed and an existing destination is left untouched.
public enum AtomicFile {
    /// Writes `data` to `url` atomically. Throws `WeightsFileError`.
    public static func write(_ data: Data, to url: URL) throws {
        try write(to: url) { sink in try sink.write(data) }
    }

    /// Streams a file's contents through `body` and puts it in place atomically.
    /// An error thrown by `body` is rethrown unchanged after the temporary file is removed;
    /// the others are `WeightsFileError`.
    public static func write(to url: URL, _ body: (inout Sink) throws -> Void) throws {
        let destination = url.standardizedFileURL
        let path = destination.path
        let directory = destination.deletingLastPathComponent().path
        let temporary = directory + "/." + destination.lastPathComponent + ".\(getpid()).\(UInt32.random(in: 0...UInt32.max)).tmp"

        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw failure("creating a temporary file", errno, path) }
        var sink = Sink(fd: fd, path: path)
        var closed = false
        do {
            try body(&sink)
            guard fsync(fd) == 0 else { throw SystemCallFailed(stage: "fsync", code: errno) }
            closed = true
            guard close(fd) == 0 else { throw SystemCallFailed(stage: "close", code: errno) }
            guard rename(temporary, path) == 0 else { throw SystemCallFailed(stage: "renaming into place", code: errno) }
        } catch {
            if !closed { _ = close(fd) }
            _ = unlink(temporary)
            // The free space is measured once the temporary file is gone: what a person can use.
            if let failed = error as? SystemCallFailed { throw failure(failed.stage, failed.code, path) }
            throw error
        }
        try syncDirectory(directory, file: path)
    }

    /// A system call that failed while the temporary file exists.
    struct SystemCallFailed: Error {
        let stage: String
        let code: Int32
    }

    /// Where `write(to:_:)` sends bytes.
    public struct Sink {
        fileprivate let fd: Int32
        fileprivate let path: String
        /// Bytes written so far.
        public private(set) var bytesWritten = 0

        public mutating func write(_ data: Data) throws {
            try data.withUnsafeBytes { try write($0) }
        }

        public mutating func write(_ bytes: UnsafeRawBufferPointer) throws {
            guard var next = bytes.baseAddress else { return }
            var remaining = bytes.count
            while remaining > 0 {
                let written = Glibc_write(fd, next, remaining)
                if written < 0 {
                    if errno == EINTR { continue }
                    throw SystemCallFailed(stage: "write", code: errno)
                }
                next += written
                remaining -= written
                bytesWritten += written
            }
        }
    }

    private static func syncDirectory(_ directory: String, file: String) throws {
        let fd = open(directory, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw WeightsFileError.notDurable(file: file, reason: "opening the directory: \(errnoText())") }
        defer { _ = close(fd) }
        // Some file systems cannot fsync a directory (EINVAL); the rename is then as durable as it gets.
        if fsync(fd) != 0, errno != EINVAL {
            throw WeightsFileError.notDurable(file: file, reason: "fsync of the directory: \(errnoText())")
        }
    }
}

private func errnoText() -> String {
    String(cString: strerror(errno))
}

/// What the system said about `code`; when the disk is full or failing (ENOSPC, EDQUOT, EIO),
/// with the free space on the disk of `path`, which is what a person needs to act.
private func failure(_ stage: String, _ code: Int32, _ path: String) -> WeightsFileError {
    var text = String(cString: strerror(code))
    if code == ENOSPC || code == EDQUOT || code == EIO { text += ", \(FreeSpace.describe(at: path))" }
    return .writeFailed(file: path, reason: "\(stage): \(text)")
}

@inline(__always)
private func Glibc_write(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    write(fd, buffer, count)
}
