import CLTrainCPUKernels

/// The batch-norm loops over one contiguous run of floats (a channel plane of one sample): the C
/// functions of `CLTrainCPUKernels`, compiled for AVX-512, AVX2 + FMA and baseline x86-64 and
/// chosen once per process by the CPU's features (`path`; `CLTRAIN_CPU_KERNELS` forces a lower
/// one). Their header says what every path keeps: a NaN through the ReLU, masks "ReLU output
/// > 0", no fused multiply-adds (so `affine` is bitwise the same on every path), float lanes
/// summed per call (the caller adds calls in Double).
enum SIMDReduction {
    /// The functions of the path this process runs.
    static let kernels: cltrain_cpu_kernels_t = cltrain_cpu_kernels().pointee

    /// "avx512", "avx2" or "baseline".
    static var path: String { String(cString: cltrain_cpu_kernels_path()) }

    /// Σ p[i].
    static func sum(_ p: UnsafePointer<Float>, _ n: Int) -> Float { kernels.sum(p, n) }

    /// Σ (p[i] - mean)^2.
    static func squaredDeviations(_ p: UnsafePointer<Float>, _ n: Int, from mean: Float) -> Float {
        kernels.squared_deviations(p, n, mean)
    }

    /// q[i] = p[i] * scale + shift, or max(0, that) with `relu` (q may be p).
    static func affine(_ p: UnsafePointer<Float>, into q: UnsafeMutablePointer<Float>, _ n: Int, scale: Float, shift: Float,
                       relu useReLU: Bool = false) {
        kernels.affine(p, q, n, scale, shift, useReLU)
    }

    /// (Σ dy, Σ dy (x - mean)), dy masked by `mask > 0` when given.
    static func gradientSums(_ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int, mean: Float,
                             mask: UnsafePointer<Float>? = nil) -> (dy: Float, dyCentered: Float) {
        var sums: (Float, Float) = (0, 0)
        withUnsafeMutablePointer(to: &sums) {
            $0.withMemoryRebound(to: Float.self, capacity: 2) { kernels.gradient_sums(dy, x, n, mean, mask, $0) }
        }
        return sums
    }

    /// `gradientSums` with the mask `max(0, x * scale + shift)` (bitwise the mask `affine` with
    /// `relu` writes).
    static func gradientSums(_ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int, mean: Float,
                             maskScale scale: Float, maskShift shift: Float) -> (dy: Float, dyCentered: Float) {
        var sums: (Float, Float) = (0, 0)
        withUnsafeMutablePointer(to: &sums) {
            $0.withMemoryRebound(to: Float.self, capacity: 2) {
                kernels.gradient_sums_mask_affine(dy, x, n, mean, scale, shift, $0)
            }
        }
        return sums
    }

    /// dx[i] (+)= a dy[i] + b x[i] + c, dy masked by `mask > 0` when given.
    static func batchNormInputGradient(_ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, into dx: UnsafeMutablePointer<Float>,
                                       _ n: Int, a: Float, b: Float, c: Float, mask: UnsafePointer<Float>? = nil, accumulate: Bool) {
        kernels.input_gradient(dy, x, dx, n, a, b, c, mask, accumulate)
    }

    /// `batchNormInputGradient` with the mask `max(0, x * scale + shift)`.
    static func batchNormInputGradient(_ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, into dx: UnsafeMutablePointer<Float>,
                                       _ n: Int, a: Float, b: Float, c: Float, maskScale scale: Float, maskShift shift: Float,
                                       accumulate: Bool) {
        kernels.input_gradient_mask_affine(dy, x, dx, n, a, b, c, scale, shift, accumulate)
    }
}
