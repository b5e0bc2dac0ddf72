/// A block of device memory as a backend hands it out: an opaque handle (a host pointer on the
/// CPU backend, a `cl_mem` on OpenCL) and its size in bytes. Only the backend that made it
/// knows what the handle is.
public struct RawBuffer: Hashable, @unchecked Sendable {
    public let handle: UnsafeMutableRawPointer
    public let bytes: Int

    public init(handle: UnsafeMutableRawPointer, bytes: Int) {
        self.handle = handle
        self.bytes = bytes
    }
}

/// The raw memory interface the pool sits on. Backends implement only this much allocation.
public protocol RawAllocator: AnyObject {
    /// Allocate `bytes` bytes. Throws `AllocationFailure` when the device is out of memory.
    func allocate(bytes: Int) throws -> RawBuffer
    func deallocate(_ buffer: RawBuffer)
}

/// What a backend throws from `allocate` when the device has no room; the pool then empties its
/// cache and tries once more.
public struct AllocationFailure: Error, CustomStringConvertible {
    public let bytes: Int
    public let reason: String
    public init(bytes: Int, reason: String) {
        self.bytes = bytes
        self.reason = reason
    }
    public var description: String { "allocation of \(formatBytes(bytes)) failed: \(reason)" }
}

/// "1.5 MiB" style sizes for messages and tables.
public func formatBytes(_ bytes: Int) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
    var value = Double(bytes)
    var unit = 0
    while value >= 1024, unit < units.count - 1 {
        value /= 1024
        unit += 1
    }
    return unit == 0 ? "\(bytes) B" : String(format: "%.1f %@", value, units[unit])
}
