import XCTest
@testable import CLTrainRuntime

/// An allocator with a fixed capacity that records what it is asked, so the pool's policy can be
/// tested without a real device.
private final class FakeAllocator: RawAllocator {
    let capacity: Int
    private(set) var inUse = 0
    private(set) var allocations = 0
    private(set) var deallocations = 0
    private var blocks: [UnsafeMutableRawPointer: Int] = [:]

    init(capacity: Int) { self.capacity = capacity }

    func allocate(bytes: Int) throws -> RawBuffer {
        guard inUse + bytes <= capacity else { throw AllocationFailure(bytes: bytes, reason: "fake device full") }
        let pointer = UnsafeMutableRawPointer.allocate(byteCount: max(bytes, 1), alignment: 64)
        blocks[pointer] = bytes
        inUse += bytes
        allocations += 1
        return RawBuffer(handle: pointer, bytes: bytes)
    }

    func deallocate(_ buffer: RawBuffer) {
        precondition(blocks.removeValue(forKey: buffer.handle) != nil, "double free")
        inUse -= buffer.bytes
        deallocations += 1
        buffer.handle.deallocate()
    }
}

final class MemoryPoolTests: XCTestCase {
    func testSizeClassesRoundUpByAtMostAQuarter() {
        XCTAssertEqual(MemoryPool.sizeClass(1), 256)
        XCTAssertEqual(MemoryPool.sizeClass(256), 256)
        XCTAssertEqual(MemoryPool.sizeClass(1000), 1024)
        XCTAssertEqual(MemoryPool.sizeClass(1025), 1280)
        XCTAssertEqual(MemoryPool.sizeClass(1 << 20), 1 << 20)
        for bytes in [257, 999, 4097, 123_457, 10_000_001] {
            let size = MemoryPool.sizeClass(bytes)
            XCTAssertGreaterThanOrEqual(size, bytes)
            XCTAssertLessThanOrEqual(Double(size), Double(bytes) * 1.25 + 1)
            XCTAssertEqual(MemoryPool.sizeClass(size), size, "a class is its own class")
        }
    }

    func testFreedBuffersAreReusedWithoutNewDeviceAllocations() throws {
        let fake = FakeAllocator(capacity: 1 << 20)
        let pool = MemoryPool(allocator: fake, deviceName: "fake")
        let a = try pool.allocate(bytes: 1000)
        pool.release(a)
        let b = try pool.allocate(bytes: 900)  // same class (1024)
        XCTAssertEqual(a.handle, b.handle)
        XCTAssertEqual(fake.allocations, 1)
        let stats = pool.statistics
        XCTAssertEqual(stats.deviceAllocations, 1)
        XCTAssertEqual(stats.reuseHits, 1)
        XCTAssertEqual(stats.liveBytes, 1024)
        XCTAssertEqual(stats.cachedBytes, 0)
        pool.release(b)
        XCTAssertEqual(pool.statistics.liveBytes, 0)
        XCTAssertEqual(pool.statistics.cachedBytes, 1024)
        XCTAssertEqual(pool.statistics.peakLiveBytes, 1024)
    }

    func testCacheCapReturnsMemoryToTheDevice() throws {
        let fake = FakeAllocator(capacity: 1 << 20)
        let pool = MemoryPool(allocator: fake, deviceName: "fake", cacheLimit: 3000)
        let buffers = try (0..<4).map { _ in try pool.allocate(bytes: 1024) }
        buffers.forEach(pool.release)
        XCTAssertEqual(pool.statistics.cachedBytes, 2048, "only two 1 KiB buffers fit under a 3000-byte cap")
        XCTAssertEqual(fake.deallocations, 2)
        XCTAssertEqual(fake.inUse, 2048)
        pool.emptyCache()
        XCTAssertEqual(fake.inUse, 0)
        XCTAssertEqual(pool.statistics.cachedBytes, 0)
    }

    func testFailureEmptiesTheCacheAndRetriesOnce() throws {
        let fake = FakeAllocator(capacity: 4096)
        let pool = MemoryPool(allocator: fake, deviceName: "fake")
        let small = try pool.allocate(bytes: 2048)
        pool.release(small)  // cached: the device now has 2048 of 4096 bytes taken
        let big = try pool.allocate(bytes: 4096)  // fails once, the cache is emptied, then succeeds
        XCTAssertEqual(big.bytes, 4096)
        XCTAssertEqual(pool.statistics.retriesAfterFailure, 1)
        XCTAssertEqual(pool.statistics.cachedBytes, 0)
        pool.release(big)
    }

    func testImpossibleRequestThrowsAnErrorNamingRequestAndUsage() throws {
        let fake = FakeAllocator(capacity: 4096)
        let pool = MemoryPool(allocator: fake, deviceName: "fake")
        let held = try pool.allocate(bytes: 1024)
        XCTAssertThrowsError(try pool.allocate(bytes: 10_000)) { error in
            guard let oom = error as? OutOfMemoryError else { return XCTFail("unexpected \(error)") }
            XCTAssertEqual(oom.requestedBytes, 10_000)
            XCTAssertEqual(oom.statistics.liveBytes, 1024)
            let text = oom.description
            XCTAssertTrue(text.contains("9.8 KiB"), text)
            XCTAssertTrue(text.contains("1.0 KiB in use"), text)
            XCTAssertTrue(text.contains("smaller batch"), text)
        }
        pool.release(held)
    }

    func testTensorsReturnTheirStorageWhenReleased() throws {
        let device = Device(backend: CPUBackend())
        let start = device.pool.statistics.liveBytes
        do {
            let t = try device.zeros([2, 3, 4, 5])
            XCTAssertGreaterThan(device.pool.statistics.liveBytes, start)
            let slice = t.channels(1..<2)
            XCTAssertEqual(slice.offset, 20)
            XCTAssertEqual(slice.sampleStride, 60)
            XCTAssertTrue(slice.isSampleContiguous)
            XCTAssertFalse(slice.isContiguous)
        }
        XCTAssertEqual(device.pool.statistics.liveBytes, start)
    }

    func testImpossibleAllocationOnTheCPUBackendIsAClearError() {
        let device = Device(backend: CPUBackend())
        XCTAssertThrowsError(try device.makeTensor([1 << 20, 1 << 20, 1 << 10])) { error in
            XCTAssertTrue(error is OutOfMemoryError, "\(error)")
            XCTAssertTrue(String(describing: error).contains("out of memory"), "\(error)")
        }
    }

    func testDeviceChoiceParsing() throws {
        XCTAssertEqual(try DeviceChoice(parsing: "auto"), .auto)
        XCTAssertEqual(try DeviceChoice(parsing: "CPU"), .cpu)
        XCTAssertEqual(try DeviceChoice(parsing: "opencl"), .opencl(index: nil))
        XCTAssertEqual(try DeviceChoice(parsing: "opencl:2"), .opencl(index: 2))
        for bad in ["gpu", "opencl:", "opencl:-1", "cuda:0", ""] {
            XCTAssertThrowsError(try DeviceChoice(parsing: bad), bad)
        }
    }
}
