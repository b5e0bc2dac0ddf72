import Foundation

/// A backend and the memory pool above it: where tensors live.
public final class Device: @unchecked Sendable {
    public let backend: any Backend
    public let pool: MemoryPool

    public init(backend: any Backend, cacheLimit: Int? = nil) {
        self.backend = backend
        let limit = cacheLimit ?? max(backend.info.globalMemoryBytes / 2, 256 << 20)
        self.pool = MemoryPool(allocator: backend, deviceName: backend.info.name, cacheLimit: limit)
    }

    public var info: DeviceInfo { backend.info }
    public var name: String { "\(info.backend):\(info.name)" }

    /// An uninitialised tensor of `shape`.
    public func makeTensor(_ shape: [Int]) throws -> Tensor {
        let count = shape.reduce(1, *)
        let buffer = try pool.allocate(bytes: max(count, 1) * MemoryLayout<Float>.stride)
        return Tensor(storage: Storage(buffer: buffer, device: self), shape: shape)
    }

    public func zeros(_ shape: [Int]) throws -> Tensor {
        let t = try makeTensor(shape)
        try backend.fill(t, value: 0)
        return t
    }

    public func full(_ shape: [Int], value: Float) throws -> Tensor {
        let t = try makeTensor(shape)
        try backend.fill(t, value: value)
        return t
    }

    /// A tensor holding `values` (row-major) with `shape`.
    public func tensor(_ values: [Float], shape: [Int]) throws -> Tensor {
        precondition(values.count == shape.reduce(1, *), "\(values.count) values for shape \(shape)")
        let t = try makeTensor(shape)
        try write(values, to: t)
        return t
    }

    /// Overwrite a contiguous tensor with host values.
    public func write(_ values: [Float], to tensor: Tensor) throws {
        precondition(tensor.device === self, "tensor of another device")
        precondition(tensor.isContiguous && values.count == tensor.count, "write needs a contiguous tensor of \(values.count) elements")
        try values.withUnsafeBytes { raw in
            try backend.write(from: raw.baseAddress!, to: tensor.storage.buffer,
                              offset: tensor.offset * MemoryLayout<Float>.stride, bytes: raw.count)
        }
    }

    /// The tensor's elements in row-major order (any sample-contiguous view).
    public func read(_ tensor: Tensor) throws -> [Float] {
        precondition(tensor.device === self, "tensor of another device")
        if tensor.count == 0 { return [] }
        if tensor.isContiguous {
            var values = [Float](repeating: 0, count: tensor.count)
            try values.withUnsafeMutableBytes { raw in
                try backend.read(from: tensor.storage.buffer, offset: tensor.offset * MemoryLayout<Float>.stride,
                                 bytes: raw.count, into: raw.baseAddress!)
            }
            return values
        }
        precondition(tensor.isSampleContiguous, "read of a view that is not sample-contiguous")
        var values = [Float](); values.reserveCapacity(tensor.count)
        for s in 0..<tensor.shape[0] {
            values += try read(tensor.samples(s..<s + 1).compacted())
        }
        return values
    }

    /// Read a contiguous tensor straight into host memory of its size (no intermediate array):
    /// how a gradient lands in its all-reduce bucket.
    public func read(_ tensor: Tensor, into destination: UnsafeMutableBufferPointer<Float>) throws {
        precondition(tensor.device === self, "tensor of another device")
        precondition(tensor.isContiguous && destination.count == tensor.count, "read needs a contiguous tensor of \(destination.count) elements")
        guard let address = destination.baseAddress, tensor.count > 0 else { return }
        try backend.read(from: tensor.storage.buffer, offset: tensor.offset * MemoryLayout<Float>.stride,
                         bytes: tensor.count * MemoryLayout<Float>.stride, into: address)
    }

    /// Overwrite a contiguous tensor from host memory of its size.
    public func write(_ source: UnsafeBufferPointer<Float>, to tensor: Tensor) throws {
        precondition(tensor.device === self, "tensor of another device")
        precondition(tensor.isContiguous && source.count == tensor.count, "write needs a contiguous tensor of \(source.count) elements")
        guard let address = source.baseAddress, tensor.count > 0 else { return }
        try backend.write(from: address, to: tensor.storage.buffer, offset: tensor.offset * MemoryLayout<Float>.stride,
                          bytes: tensor.count * MemoryLayout<Float>.stride)
    }

    /// Copy a tensor from another device (or this one) into a new dense tensor here.
    public func copy(_ tensor: Tensor) throws -> Tensor {
        try self.tensor(tensor.device.read(tensor), shape: tensor.shape)
    }
}

extension Tensor {
    /// The same view relabelled as dense when it is one sample (a single-sample slice of a
    /// sample-contiguous tensor is contiguous).
    fileprivate func compacted() -> Tensor {
        precondition(shape[0] == 1)
        return Tensor(storage: storage, offset: offset, shape: shape)
    }
}
