import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A run's claim on its output folder for as long as the run lives: an advisory lock (`flock`) on
/// `.cltrain.lock` in the folder, held by the open descriptor this value owns and released when it
/// goes (or when the process dies, `kill -9` included: the kernel drops the lock with it). The file
/// holds "PID HOST" of the holder so that a refusal can name it; a lock file whose lock is gone is
/// stale, and the next run takes it over.
public final class RunFolderLock {
    public static let fileName = ".cltrain.lock"

    public let url: URL
    /// "PID HOST" of a run that died holding the folder and whose lock this one took over.
    public let tookOverFrom: String?
    private let descriptor: Int32

    /// Lock `folder` (which must exist) or throw `RunFolderInUse` naming the run that holds it.
    public init(folder: URL) throws {
        url = folder.appendingPathComponent(Self.fileName)
        let fd = open(url.path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw UsageError("the output folder \(folder.path) is not writable (creating \(Self.fileName): \(String(cString: strerror(errno)))); choose another --out")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let code = errno
            let holder = Self.holder(fd)
            close(fd)
            if code == EWOULDBLOCK {
                throw RunFolderInUse(folder: folder.path, holder: holder)
            }
            throw UsageError("cannot lock \(url.path) (\(String(cString: strerror(code)))); choose another --out")
        }
        descriptor = fd
        tookOverFrom = Self.holder(fd)
        let text = "\(getpid()) \(Self.hostName())\n"
        _ = ftruncate(fd, 0)
        _ = text.withCString { pwrite(fd, $0, strlen($0), 0) }
    }

    /// A run that ends lets go: the file is emptied (an empty file is a folder left in order), and
    /// closing the descriptor releases the lock.
    deinit {
        _ = ftruncate(descriptor, 0)
        close(descriptor)
    }

    /// What the lock file says ("PID HOST"), nil when it is empty.
    static func holder(_ fd: Int32) -> String? {
        var buffer = [UInt8](repeating: 0, count: 512)
        let count = pread(fd, &buffer, buffer.count, 0)
        guard count > 0 else { return nil }
        let text = String(decoding: buffer[0..<count], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? nil : text
    }

    static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        return String(cString: buffer)
    }
}

/// Another run is writing into the folder a run was asked to use.
public struct RunFolderInUse: Error, CustomStringConvertible, Equatable {
    public let folder: String
    /// "PID HOST" from the lock file, when it could be read.
    public let holder: String?

    public var pid: Int32? { holder.flatMap { $0.split(separator: " ").first }.flatMap { Int32($0) } }

    public var description: String {
        let who: String
        if let holder {
            let parts = holder.split(separator: " ", maxSplits: 1)
            who = "cltrain run (PID \(parts[0])\(parts.count > 1 ? " on \(parts[1])" : ""))"
        } else {
            who = "cltrain run"
        }
        return "\(folder) is in use by another \(who): wait for it to end or stop it, or choose another --out"
    }
}
