import Foundation

/// Usage figures of a `MemoryPool`.
public struct MemoryStatistics: Equatable, Sendable, CustomStringConvertible {
    /// Bytes held by live storages (rounded to size classes).
    public var liveBytes = 0
    /// Bytes of freed buffers kept for reuse.
    public var cachedBytes = 0
    /// The largest `liveBytes` seen.
    public var peakLiveBytes = 0
    /// Real allocations asked of the device.
    public var deviceAllocations = 0
    /// Requests served from the cache.
    public var reuseHits = 0
    /// Times the cache was emptied and the allocation tried again after a failure.
    public var retriesAfterFailure = 0

    public var description: String {
        "live \(formatBytes(liveBytes)), cached \(formatBytes(cachedBytes)), peak \(formatBytes(peakLiveBytes)), "
            + "\(deviceAllocations) device allocations, \(reuseHits) reuse hits"
    }
}

/// The pool could not serve a request even after emptying its cache.
public struct OutOfMemoryError: Error, CustomStringConvertible {
    public let requestedBytes: Int
    public let statistics: MemoryStatistics
    public let device: String
    public let reason: String

    public var description: String {
        "out of memory on \(device): could not allocate \(formatBytes(requestedBytes)) "
            + "(\(formatBytes(statistics.liveBytes)) in use, \(formatBytes(statistics.peakLiveBytes)) peak; \(reason)); "
            + "use a smaller batch size or model"
    }
}

/// One caching allocator above every backend. Sizes are rounded up to classes (four per
/// power of two, so at most 25% is wasted), freed buffers wait in a cache keyed by class and
/// are handed out again, the cache holds at most `cacheLimit` bytes, and on an allocation
/// failure the cache is emptied and the allocation tried once more.
public final class MemoryPool: @unchecked Sendable {
    public let allocator: RawAllocator
    public let deviceName: String
    /// The most bytes kept in the cache; freeing past it returns memory to the device.
    public let cacheLimit: Int

    private let lock = NSLock()
    private var cache: [Int: [RawBuffer]] = [:]
    private var stats = MemoryStatistics()

    public init(allocator: RawAllocator, deviceName: String, cacheLimit: Int = 8 << 30) {
        self.allocator = allocator
        self.deviceName = deviceName
        self.cacheLimit = cacheLimit
    }

    deinit {
        emptyCache()
    }

    public var statistics: MemoryStatistics {
        lock.lock()
        defer { lock.unlock() }
        return stats
    }

    /// Forget the peak so that a later phase can be measured on its own.
    public func resetPeak() {
        lock.lock()
        stats.peakLiveBytes = stats.liveBytes
        lock.unlock()
    }

    /// The size class a request of `bytes` is served from.
    public static func sizeClass(_ bytes: Int) -> Int {
        let minimum = 256
        if bytes <= minimum { return minimum }
        // Four classes per power of two: 2^k * {1, 1.25, 1.5, 1.75}.
        let high = Int.bitWidth - 1 - (bytes - 1).leadingZeroBitCount  // floor(log2(bytes - 1))
        let step = 1 << max(high - 2, 0)
        return (bytes + step - 1) / step * step
    }

    public func allocate(bytes: Int) throws -> RawBuffer {
        precondition(bytes >= 0, "negative allocation")
        let size = Self.sizeClass(bytes)
        lock.lock()
        if var bucket = cache[size], let buffer = bucket.popLast() {
            cache[size] = bucket.isEmpty ? nil : bucket
            stats.cachedBytes -= size
            stats.reuseHits += 1
            stats.liveBytes += size
            stats.peakLiveBytes = max(stats.peakLiveBytes, stats.liveBytes)
            lock.unlock()
            return buffer
        }
        lock.unlock()

        let buffer: RawBuffer
        do {
            buffer = try allocator.allocate(bytes: size)
        } catch is AllocationFailure {
            emptyCache()
            lock.lock()
            stats.retriesAfterFailure += 1
            lock.unlock()
            do {
                buffer = try allocator.allocate(bytes: size)
            } catch let second as AllocationFailure {
                throw OutOfMemoryError(
                    requestedBytes: bytes, statistics: statistics, device: deviceName, reason: second.reason)
            }
        }
        lock.lock()
        stats.deviceAllocations += 1
        stats.liveBytes += size
        stats.peakLiveBytes = max(stats.peakLiveBytes, stats.liveBytes)
        lock.unlock()
        return buffer
    }

    /// Give a buffer back: it goes to the cache, or to the device when the cache is full.
    public func release(_ buffer: RawBuffer) {
        lock.lock()
        stats.liveBytes -= buffer.bytes
        if stats.cachedBytes + buffer.bytes <= cacheLimit {
            cache[buffer.bytes, default: []].append(buffer)
            stats.cachedBytes += buffer.bytes
            lock.unlock()
        } else {
            lock.unlock()
            allocator.deallocate(buffer)
        }
    }

    /// Return every cached buffer to the device.
    public func emptyCache() {
        lock.lock()
        let buffers = cache.values.flatMap { $0 }
        cache.removeAll()
        stats.cachedBytes = 0
        lock.unlock()
        for buffer in buffers { allocator.deallocate(buffer) }
    }
}
