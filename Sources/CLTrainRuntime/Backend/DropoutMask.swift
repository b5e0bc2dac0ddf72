/// The dropout mask shared by both backends (and, in OpenCL C, by `Kernels/elementwise.cl`): a
/// counter-based hash of (seed, element index), so no mask is stored and the backward pass, the
/// CPU and the GPU all see the same one.
public enum DropoutMask {
    /// 32-bit mix of seed and index (an integer hash with good avalanche).
    @inline(__always)
    public static func hash(seed: UInt32, index: UInt32) -> UInt32 {
        var h = seed ^ (index &* 0x9E37_79B9)
        h ^= h >> 16
        h = h &* 0x7FEB_352D
        h ^= h >> 15
        h = h &* 0x846C_A68B
        h ^= h >> 16
        return h
    }

    /// Elements whose 24-bit draw is below this are dropped.
    @inline(__always)
    public static func threshold(probability: Float) -> UInt32 {
        UInt32((Double(probability) * 16_777_216).rounded(.down))
    }

    @inline(__always)
    public static func drops(seed: UInt32, index: UInt32, threshold: UInt32) -> Bool {
        hash(seed: seed, index: index) >> 8 < threshold
    }
}
