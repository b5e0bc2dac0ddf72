/// Convolutions that read their input through a batch norm + ReLU (`BatchNormReLU`). The loops
/// that take one sample at a time normalise each sample, as they come to it, into a buffer of
/// the thread's own that is still in cache when the GEMM reads it (`ConvInput`); the other
/// algorithms get groups of samples normalised into a scratch buffer (`forNormalizedGroups`).
/// Either way the whole batch is never written out normalised and read back.

/// A batch norm + ReLU as the CPU's loops apply it: `max(0, x * scales[c] + shifts[c])` per
/// channel c, the scale and shift as `batchNormApply` computes them (`BatchNormReLU.scaleShift`).
struct ChannelAffine {
    let scales: [Float], shifts: [Float]
}

/// A convolution's input as its per-sample loops read it: as it lies, or normalised sample by
/// sample (bitwise as `batchNormApply` with `relu` writes it) into the reading thread's buffer.
final class ConvInput {
    let x: UnsafeMutablePointer<Float>
    let stride: Int
    let channels: Int
    let plane: Int
    /// The batch norm + ReLU it is read through; nil: the input as it lies.
    let norm: ChannelAffine?
    private var buffers: UnsafeMutablePointer<Float>?

    init(x: UnsafeMutablePointer<Float>, stride: Int, channels: Int, plane: Int, norm: ChannelAffine? = nil) {
        if let norm {
            precondition(norm.scales.count == channels && norm.shifts.count == channels,
                         "ConvInput: \(norm.scales.count) scales for \(channels) channels")
        }
        self.x = x
        self.stride = stride
        self.channels = channels
        self.plane = plane
        self.norm = norm
    }

    var isNormalized: Bool { norm != nil }

    /// Samples each chunk's buffer holds (`reserve`).
    private var blockSamples = 1

    /// One buffer per chunk of samples (thread), from `scratch`, for `samples` samples at a time;
    /// call before the loops, with their chunk count, and `unreserve()` before the scratch is released.
    /// An input read as it lies needs a buffer only to gather blocks of several samples.
    func reserve(chunks: Int, samples: Int = 1, from scratch: CPUScratch) throws {
        precondition(samples >= 1, "ConvInput: blocks of \(samples) samples")
        guard norm != nil || samples > 1 else { return }
        blockSamples = samples
        buffers = try scratch.floats(chunks * samples * channels * plane)
    }

    /// Forget the buffers of `reserve(chunks:samples:from:)`.
    func unreserve() {
        buffers = nil
        blockSamples = 1
    }

    /// Sample `n`'s input (`[C, H, W]`, channels `plane` apart) for the thread of chunk `chunk`.
    func sample(_ n: Int, chunk: Int) -> UnsafeMutablePointer<Float> {
        let source = x + n * stride
        guard norm != nil else { return source }
        let buffer = chunkBuffer(chunk)
        normalize(source, into: buffer)
        return buffer
    }

    /// Samples `first..<first + count` side by side (`[C, count * plane]`: sample j's plane of
    /// channel c at `c * count * plane + j * plane`), normalised where the input is, for the thread
    /// of chunk `chunk`: the matrix one GEMM reads for a block of samples. One sample is `sample(_:chunk:)`.
    func samples(_ first: Int, count: Int, chunk: Int) -> UnsafeMutablePointer<Float> {
        if count == 1 { return sample(first, chunk: chunk) }
        precondition(count <= blockSamples, "ConvInput: \(count) samples in buffers reserved for \(blockSamples)")
        let buffer = chunkBuffer(chunk)
        CPUBackend.gatherSamples(x, sampleStride: stride, first: first, count: count, channels: channels, plane: plane, norm: norm,
                                 into: buffer)
        return buffer
    }

    private func chunkBuffer(_ chunk: Int) -> UnsafeMutablePointer<Float> {
        guard let buffers else { preconditionFailure("ConvInput: reserve(chunks:) before reading normalised or gathered samples") }
        return buffers + chunk * blockSamples * channels * plane
    }

    /// All channels of the sample at `source`, normalised into `destination` (`[C, plane]`): one
    /// C call (`grid_fill`), which applies `affine` with `relu` to each plane, however small.
    func normalize(_ source: UnsafePointer<Float>, into destination: UnsafeMutablePointer<Float>) {
        guard let norm else { preconditionFailure("ConvInput: normalising an input read as it lies") }
        CPUBackend.gatherSamples(source, sampleStride: 0, first: 0, count: 1, channels: channels, plane: plane, norm: norm,
                                 into: destination)
    }
}

extension CPUBackend {
    /// A batch norm's per-channel scale and shift, as `batchNormApply` computes them.
    func batchNormAffine(_ norm: BatchNormReLU) -> ChannelAffine {
        let m = dense(norm.mean), v = dense(norm.invStd), w = dense(norm.weight), b = dense(norm.bias)
        let pairs = (0..<norm.channels).map { BatchNormReLU.scaleShift(mean: m[$0], invStd: v[$0], weight: w[$0], bias: b[$0]) }
        return ChannelAffine(scales: pairs.map(\.scale), shifts: pairs.map(\.shift))
    }

    /// The input of convolution `s` read through `norm` (nil: as it lies).
    func convInput(_ s: ConvShape, x: UnsafeMutablePointer<Float>, xStride: Int, norm: BatchNormReLU?) -> ConvInput {
        if let norm {
            precondition(norm.channels == s.inChannels,
                         "conv2d: batch norm + ReLU of \(norm.channels) channels for an input of \(s.inChannels)")
        }
        return ConvInput(x: x, stride: xStride, channels: s.inChannels, plane: s.inPlane, norm: norm.map { batchNormAffine($0) })
    }

    /// Floats of normalised input per group for the other algorithms (all channels of its samples).
    static let normalizedGroupBudget = 1 << 20

    /// `body(first, group, normalized)` for consecutive groups of samples: `group` is `s` for that
    /// many samples and `input` holds them normalised (dense, `[count, Cin, H, W]`, in scratch from `pool`).
    func forNormalizedGroups(_ s: ConvShape, _ input: ConvInput, pool: MemoryPool,
                             _ body: (_ first: Int, _ group: ConvShape, _ normalized: ConvInput) throws -> Void) throws {
        guard input.isNormalized else { preconditionFailure("forNormalizedGroups of an input read as it lies") }
        let plane = s.inPlane, channels = s.inChannels
        let size = max(1, min(s.n, Self.normalizedGroupBudget / max(channels * plane, 1)))
        let scratch = CPUScratch(pool)
        defer { scratch.release() }
        let normalized = try scratch.floats(size * channels * plane)
        var first = 0
        while first < s.n {
            let count = min(size, s.n - first), start = first
            parallel.forEach(count, cost: channels * plane) { sample in
                input.normalize(input.x + (start + sample) * input.stride, into: normalized + sample * channels * plane)
            }
            try body(start, s.samples(count), ConvInput(x: normalized, stride: channels * plane, channels: channels, plane: plane))
            first += count
        }
    }
}

extension CPUBackend.ConvShape {
    /// The same convolution over `count` samples.
    func samples(_ count: Int) -> Self {
        Self(n: count, inChannels: inChannels, height: height, width: width, outChannels: outChannels,
             outHeight: outHeight, outWidth: outWidth, geometry: geometry)
    }
}
