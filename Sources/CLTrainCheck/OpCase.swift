import CLTrainRandom
import CLTrainRuntime

/// One op at one shape, ready to run on any device with the same seeded inputs: the unit of
/// `cltrain bench kernels`, of its `--check`, and of the OpenCL-vs-CPU tests.
public struct OpCase: Sendable {
    /// The op's name, as its kernel is named (`conv2d_forward`, `batch_norm_backward`, ...).
    public let op: String
    /// The op family, as the kernel files are split.
    public let family: String
    /// What the shape is, for tables.
    public let shape: String
    /// Floating-point operations of one run (2 per multiply-add), 0 where memory-bound.
    public let flops: Double
    /// Bytes one run reads and writes at least.
    public let bytes: Double
    let setup: @Sendable (Device, inout SeededRandom) throws -> PreparedOp

    public init(op: String, family: String, shape: String, flops: Double = 0, bytes: Double,
                setup: @escaping @Sendable (Device, inout SeededRandom) throws -> PreparedOp) {
        self.op = op
        self.family = family
        self.shape = shape
        self.flops = flops
        self.bytes = bytes
        self.setup = setup
    }

    /// Allocate and fill the inputs on `device` from `seed`; the same seed gives the same inputs
    /// on every device.
    public func prepare(on device: Device, seed: UInt64 = 42) throws -> PreparedOp {
        var random = SeededRandom(seed: seed)
        return try setup(device, &random)
    }
}

/// An op with its tensors allocated: `run` enqueues it once, `results` reads what it wrote.
public struct PreparedOp {
    public let run: () throws -> Void
    public let results: () throws -> [Float]

    public init(run: @escaping () throws -> Void, results: @escaping () throws -> [Float]) {
        self.run = run
        self.results = results
    }
}

/// How far a device's result is from the reference: the largest absolute difference relative
/// to the reference's largest magnitude (element-wise relative error is meaningless near zero).
public func relativeError(_ values: [Float], reference: [Float]) -> Float {
    precondition(values.count == reference.count, "results of \(values.count) and \(reference.count) elements")
    var worst: Float = 0
    var scale: Float = 0
    for (a, b) in zip(values, reference) {
        if a.isNaN != b.isNaN || a.isInfinite != b.isInfinite { return .infinity }
        worst = max(worst, abs(a - b))
        scale = max(scale, abs(b))
    }
    return scale == 0 ? worst : worst / scale
}
