import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An error writing a file that a later attempt may get through (a full disk, an I/O error),
/// after which the file on disk is still the previous one, whole. A training run recognises these
/// by this protocol, whatever domain threw them, and applies its `--on-write-error` policy.
public protocol FileWriteFailure: Error, CustomStringConvertible {
    /// The file that could not be written, or nil when the error is of another kind.
    var failedWritePath: String? { get }
}

extension WeightsFileError: FileWriteFailure {
    public var failedWritePath: String? {
        switch self {
        case let .writeFailed(file, _), let .notDurable(file, _): return file
        default: return nil
        }
    }
}

/// The free space of the disk that holds a path, as a person reads it.
public enum FreeSpace {
    /// Bytes free for an unprivileged user on the file system of `path` (or of its folder when
    /// the path does not exist); nil when it cannot be asked.
    public static func bytes(at path: String) -> Int64? {
        var url = URL(fileURLWithPath: path)
        for _ in 0..<64 {
            var info = statvfs()
            if statvfs(url.path, &info) == 0 { return Int64(info.f_bavail) * Int64(info.f_frsize) }
            let parent = url.deletingLastPathComponent()
            if parent.path == url.path { break }
            url = parent
        }
        return nil
    }

    /// "1.2 MB free on its disk" (or "free space unknown").
    public static func describe(at path: String) -> String {
        guard let free = bytes(at: path) else { return "free space unknown" }
        return "\(format(free)) free on its disk"
    }

    /// 0 bytes, 12 KB, 1.2 MB, 3.4 GB (powers of 1024).
    public static func format(_ bytes: Int64) -> String {
        if bytes < 1024 { return "\(bytes) bytes" }
        let units = ["KB", "MB", "GB", "TB"]
        var value = Double(bytes) / 1024
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return String(format: value < 10 ? "%.1f %@" : "%.0f %@", value, units[unit])
    }
}

/// CRC-32 (IEEE 802.3, as zlib's crc32), in pieces.
public struct CRC32 {
    public private(set) var value: UInt32 = 0
    private var state: UInt32 = 0xFFFF_FFFF

    public init() {}

    private static let table: [UInt32] = (0..<256).map { n -> UInt32 in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        var c = state
        Self.table.withUnsafeBufferPointer { table in
            for byte in bytes { c = table[Int((c ^ UInt32(byte)) & 0xFF)] ^ (c >> 8) }
        }
        state = c
        value = c ^ 0xFFFF_FFFF
    }

    public mutating func update(_ data: Data) { data.withUnsafeBytes { update($0) } }
    public mutating func update(_ bytes: [UInt8]) { bytes.withUnsafeBytes { update($0) } }
}
