/// A float32 tensor on a device: a view (storage, element offset, shape, strides).
///
/// Ops take NCHW tensors whose C, H and W are contiguous inside a sample while the sample stride
/// may be larger; a channel slice of a bigger tensor is such a view, which is what lets a
/// DenseNet layer write its new channels straight into its block's storage.
public struct Tensor: @unchecked Sendable {
    public let storage: Storage
    /// Offset of element [0, 0, ...] in elements.
    public let offset: Int
    public let shape: [Int]
    public let strides: [Int]

    public init(storage: Storage, offset: Int = 0, shape: [Int], strides: [Int]? = nil) {
        let strides = strides ?? Tensor.contiguousStrides(shape)
        precondition(shape.count == strides.count, "shape \(shape) and strides \(strides) differ in rank")
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        let last = zip(shape, strides).reduce(offset) { $0 + max($1.0 - 1, 0) * $1.1 }
        precondition(shape.contains(0) || last < storage.capacity, "view \(shape) at \(offset) exceeds its storage")
        self.storage = storage
        self.offset = offset
        self.shape = shape
        self.strides = strides
    }

    public static func contiguousStrides(_ shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var running = 1
        for axis in stride(from: shape.count - 1, through: 0, by: -1) {
            strides[axis] = running
            running *= shape[axis]
        }
        return strides
    }

    public var device: Device { storage.device }
    public var rank: Int { shape.count }
    public var count: Int { shape.reduce(1, *) }

    /// Dense row-major layout: the whole view is one run of `count` elements.
    public var isContiguous: Bool { strides == Tensor.contiguousStrides(shape) }

    /// Elements after the first axis are dense (the layout every op accepts).
    public var isSampleContiguous: Bool {
        rank == 0 || Array(strides.dropFirst()) == Tensor.contiguousStrides(Array(shape.dropFirst()))
    }

    /// Distance between two consecutive samples (first-axis entries), in elements.
    public var sampleStride: Int { rank == 0 ? 1 : strides[0] }
    /// Elements per sample (product of every axis but the first).
    public var sampleSize: Int { shape.dropFirst().reduce(1, *) }

    // NCHW accessors.
    public var n: Int { shape[0] }
    public var c: Int { shape[1] }
    public var h: Int { shape[2] }
    public var w: Int { shape[3] }

    /// Channels `range` of an NCHW (or N x features) tensor, as a view of the same storage.
    public func channels(_ range: Range<Int>) -> Tensor {
        precondition(rank >= 2 && range.lowerBound >= 0 && range.upperBound <= shape[1], "channel range \(range) outside \(shape)")
        var newShape = shape
        newShape[1] = range.count
        return Tensor(storage: storage, offset: offset + range.lowerBound * strides[1], shape: newShape, strides: strides)
    }

    /// Samples `range` (first axis), as a view.
    public func samples(_ range: Range<Int>) -> Tensor {
        precondition(rank >= 1 && range.lowerBound >= 0 && range.upperBound <= shape[0], "sample range \(range) outside \(shape)")
        var newShape = shape
        newShape[0] = range.count
        return Tensor(storage: storage, offset: offset + range.lowerBound * strides[0], shape: newShape, strides: strides)
    }

    /// The same elements with another shape; the view must be contiguous.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        precondition(isContiguous, "reshape of a non-contiguous view \(shape) \(strides)")
        precondition(newShape.reduce(1, *) == count, "cannot reshape \(shape) to \(newShape)")
        return Tensor(storage: storage, offset: offset, shape: newShape)
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String { "Tensor(\(shape.map(String.init).joined(separator: "x")) on \(device.name))" }
}
