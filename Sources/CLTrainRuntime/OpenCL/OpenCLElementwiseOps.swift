// Launch code of Kernels/elementwise.cl (fill, add, axpy, ReLU, dropout; the linear bias kernels
// are launched from OpenCLLinearOps.swift).
import CLTrainKernels

// This file declares the `Backend` conformance; the other ops
// live in OpenCL*Ops.swift, one file per kernel family.

extension OpenCLBackend: Backend {}

extension OpenCLBackend {
    /// Work-group size of the element-wise kernels (a power of two the device allows).
    var elementGroupSize: Int { reductionGroupSize }

    /// A sample-contiguous tensor as N samples of S dense elements, `stride` apart.
    static func samples(_ t: Tensor) -> (n: Int, size: Int, stride: Int) {
        precondition(t.isSampleContiguous, "OpenCL ops need sample-contiguous tensors, got \(t.shape) \(t.strides)")
        if t.rank == 0 { return (1, 1, 1) }
        return (t.shape[0], t.sampleSize, t.sampleStride)
    }

    /// Tensor, then its sample stride: the (pointer, offset, stride) triple most kernels take.
    static func strided(_ t: Tensor) -> [KernelArgument] {
        [.tensor(t), .int(samples(t).stride)]
    }

    /// The argument lists `parts`, in order (spelled this way to keep type-checking fast).
    static func args(_ parts: [KernelArgument]...) -> [KernelArgument] { parts.flatMap { $0 } }

    /// Launch a kernel with one work-item per element of `count`, in groups of `elementGroupSize`.
    /// Kernels index with 32-bit ints, so `count` must fit one.
    func launchElements(_ family: KernelFamily, _ name: String, defines: String = "", count: Int, _ arguments: [KernelArgument]) throws {
        precondition(count <= Int(Int32.max) - elementGroupSize, "\(name) over \(count) elements: too many for 32-bit kernel indexing")
        try launch(family, name, defines: defines, global: [count], local: [elementGroupSize], arguments)
    }

    // MARK: Basic

    public func fill(_ tensor: Tensor, value: Float) throws {
        let s = Self.samples(tensor)
        try launchElements(.elementwise, "fill", count: s.n * s.size,
                           Self.args(Self.strided(tensor), [.int(s.n), .int(s.size), .float(value)]))
    }

    public func add(_ a: Tensor, _ b: Tensor, output: Tensor) throws {
        precondition(a.shape == b.shape && a.shape == output.shape, "add of \(a.shape), \(b.shape) into \(output.shape)")
        let s = Self.samples(output)
        try launchElements(.elementwise, "add", count: s.n * s.size,
                           Self.args(Self.strided(a), Self.strided(b), Self.strided(output), [.int(s.n), .int(s.size)]))
    }

    public func axpy(alpha: Float, x: Tensor, y: Tensor) throws {
        precondition(x.shape == y.shape, "axpy of \(x.shape) into \(y.shape)")
        let s = Self.samples(y)
        try launchElements(.elementwise, "axpy", count: s.n * s.size,
                           Self.args([.float(alpha)], Self.strided(x), Self.strided(y), [.int(s.n), .int(s.size)]))
    }

    // MARK: ReLU

    public func reluForward(input: Tensor, output: Tensor) throws {
        precondition(input.shape == output.shape, "relu of \(input.shape) into \(output.shape)")
        let s = Self.samples(output)
        try launchElements(.elementwise, "relu_forward", count: s.n * s.size,
                           Self.args(Self.strided(input), Self.strided(output), [.int(s.n), .int(s.size)]))
    }

    public func reluBackward(output: Tensor, gradOutput: Tensor, gradInput: Tensor, accumulate: Bool) throws {
        precondition(output.shape == gradOutput.shape && output.shape == gradInput.shape, "relu backward shapes differ")
        let s = Self.samples(gradInput)
        try launchElements(.elementwise, "relu_backward", count: s.n * s.size,
                           Self.args(Self.strided(output), Self.strided(gradOutput), Self.strided(gradInput), [.int(s.n), .int(s.size), .int(accumulate ? 1 : 0)]))
    }

    // MARK: Dropout

    public func dropoutForward(input: Tensor, output: Tensor, probability: Float, seed: UInt32) throws {
        precondition(input.shape == output.shape, "dropout of \(input.shape) into \(output.shape)")
        try dropout(from: input, into: output, probability: probability, seed: seed, accumulate: false)
    }

    public func dropoutBackward(gradOutput: Tensor, gradInput: Tensor, probability: Float, seed: UInt32, accumulate: Bool) throws {
        precondition(gradOutput.shape == gradInput.shape, "dropout backward of \(gradOutput.shape) into \(gradInput.shape)")
        try dropout(from: gradOutput, into: gradInput, probability: probability, seed: seed, accumulate: accumulate)
    }

    /// Launches `dropout`, the one kernel of both directions.
    private func dropout(from source: Tensor, into destination: Tensor, probability: Float, seed: UInt32, accumulate: Bool) throws {
        precondition(probability >= 0 && probability < 1, "dropout probability \(probability) outside [0, 1)")
        let s = Self.samples(destination)
        try launchElements(.elementwise, "dropout", count: s.n * s.size,
                           Self.args(Self.strided(source), Self.strided(destination),
                                     [.int(s.n), .int(s.size), .int(Int(Int32(bitPattern: seed))),
                                      .int(Int(DropoutMask.threshold(probability: probability))), .float(1 / (1 - probability)),
                                      .int(accumulate ? 1 : 0)]))
    }

    // MARK: Linear
}
