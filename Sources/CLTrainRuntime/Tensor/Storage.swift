/// A pool buffer owned by exactly one Swift object: when the last tensor viewing it goes away,
/// `deinit` hands the buffer back to the device's pool.
public final class Storage: @unchecked Sendable {
    public let buffer: RawBuffer
    public let device: Device

    init(buffer: RawBuffer, device: Device) {
        self.buffer = buffer
        self.device = device
    }

    /// How many float32 elements fit in the buffer.
    public var capacity: Int { buffer.bytes / MemoryLayout<Float>.stride }

    deinit {
        device.pool.release(buffer)
    }
}
