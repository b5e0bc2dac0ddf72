// Launch code of Kernels/concat.cl.
import CLTrainKernels

extension OpenCLBackend {
    public func channelCopy(from source: Tensor, to destination: Tensor, accumulate: Bool) throws {
        precondition(source.shape == destination.shape, "channel copy of \(source.shape) into \(destination.shape)")
        let s = Self.samples(destination)
        try launchElements(.concat, "channel_copy", count: s.n * s.size,
                           Self.args(Self.strided(source), Self.strided(destination), [.int(s.n), .int(s.size), .int(accumulate ? 1 : 0)]))
    }
}
