// Launch code of Kernels/pool.cl.
import CLTrainKernels

extension OpenCLBackend {
    /// The integer arguments shared by the pooling kernels: N, C, H, W, Ho, Wo and the window.
    private static func poolArguments(input: Tensor, output: Tensor, geometry g: Pool2dGeometry) -> [KernelArgument] {
        precondition(input.rank == 4 && output.rank == 4 && input.n == output.n && input.c == output.c,
                     "pooling \(input.shape) into \(output.shape)")
        precondition(output.h == g.outputHeight(input.h) && output.w == g.outputWidth(input.w),
                     "pooling \(g) of \(input.shape) gives \(g.outputHeight(input.h))x\(g.outputWidth(input.w)), not \(output.shape)")
        return [input.n, input.c, input.h, input.w, output.h, output.w,
                g.kernelH, g.kernelW, g.strideH, g.strideW, g.padH, g.padW].map { .int($0) }
    }

    public func maxPool2dForward(input: Tensor, output: Tensor, geometry: Pool2dGeometry) throws {
        try launchElements(.pool, "max_pool2d_forward", count: output.count,
                           Self.args(Self.strided(input), Self.strided(output), Self.poolArguments(input: input, output: output, geometry: geometry)))
    }

    public func maxPool2dBackward(input: Tensor, gradOutput: Tensor, gradInput: Tensor, geometry: Pool2dGeometry, accumulate: Bool) throws {
        precondition(gradInput.shape == input.shape, "max pool gradient \(gradInput.shape) for input \(input.shape)")
        try launchElements(.pool, "max_pool2d_backward", count: input.count,
                           Self.args(Self.strided(input), Self.strided(gradOutput), Self.strided(gradInput), Self.poolArguments(input: input, output: gradOutput, geometry: geometry), [.int(accumulate ? 1 : 0)]))
    }

    public func avgPool2dForward(input: Tensor, output: Tensor, geometry: Pool2dGeometry) throws {
        try launchElements(.pool, "avg_pool2d_forward", count: output.count,
                           Self.args(Self.strided(input), Self.strided(output), Self.poolArguments(input: input, output: output, geometry: geometry)))
    }

    public func avgPool2dBackward(gradOutput: Tensor, gradInput: Tensor, geometry: Pool2dGeometry, accumulate: Bool) throws {
        try launchElements(.pool, "avg_pool2d_backward", count: gradInput.count,
                           Self.args(Self.strided(gradOutput), Self.strided(gradInput), Self.poolArguments(input: gradInput, output: gradOutput, geometry: geometry), [.int(accumulate ? 1 : 0)]))
    }

    public func globalAvgPoolForward(input: Tensor, output: Tensor) throws {
        precondition(input.rank == 4 && output.shape.count >= 2 && output.shape[0] == input.n
                     && output.shape[1] == input.c && output.count == input.n * input.c,
                     "global average pool of \(input.shape) into \(output.shape)")
        try launchElements(.pool, "global_avg_pool_forward", count: input.n * input.c,
                           Self.args(Self.strided(input), Self.strided(output), [.int(input.n), .int(input.c), .int(input.h * input.w)]))
    }

    public func globalAvgPoolBackward(gradOutput: Tensor, gradInput: Tensor, accumulate: Bool) throws {
        precondition(gradInput.rank == 4 && gradOutput.shape.count >= 2 && gradOutput.shape[0] == gradInput.n
                     && gradOutput.count == gradInput.n * gradInput.c,
                     "global average pool gradient \(gradOutput.shape) for \(gradInput.shape)")
        try launchElements(.pool, "global_avg_pool_backward", count: gradInput.count,
                           Self.args(Self.strided(gradOutput), Self.strided(gradInput), [.int(gradInput.n), .int(gradInput.c), .int(gradInput.h * gradInput.w), .int(accumulate ? 1 : 0)]))
    }
}
