import CLTrainCPUKernels

/// The batch-norm loops over a channel's planes: the C functions of `CLTrainCPUKernels`, compiled
/// for AVX-512, AVX2 + FMA and baseline x86-64 and chosen once per process by the CPU's features
/// (`path`; `CLTRAIN_CPU_KERNELS` forces a lower one). Each takes `runs` runs of `n` floats (the
/// plane of one channel in each of a batch's samples), each pointer's runs its own stride apart.
/// Their header says what every path keeps: a NaN through the ReLU, masks "ReLU output > 0",
/// no fused multiply-adds (so `affine` is bitwise the same on every path), sums in float lanes
/// added into a Double every 1024 or so values.
enum SIMDReduction {
    /// The functions of the path this process runs.
    static let kernels: cltrain_cpu_kernels_t = cltrain_cpu_kernels().pointee

    /// "avx512", "avx2" or "baseline".
    static var path: String { String(cString: cltrain_cpu_kernels_path()) }

    /// Σ p over the runs.
    static func sum(_ p: UnsafePointer<Float>, _ n: Int, runs: Int = 1, stride: Int = 0) -> Double {
        kernels.sum(p, n, runs, stride)
    }

    /// Σ (p - mean)^2 over the runs.
    static func squaredDeviations(_ p: UnsafePointer<Float>, _ n: Int, runs: Int = 1, stride: Int = 0, from mean: Float) -> Double {
        kernels.squared_deviations(p, n, runs, stride, mean)
    }

    /// q = p * scale + shift, or max(0, that) with `relu`, run by run (q may be p).
    static func affine(_ p: UnsafePointer<Float>, stride pStride: Int = 0, into q: UnsafeMutablePointer<Float>, stride qStride: Int = 0,
                       _ n: Int, runs: Int = 1, scale: Float, shift: Float, relu useReLU: Bool = false) {
        kernels.affine(p, pStride, q, qStride, n, runs, scale, shift, useReLU)
    }

    /// (Σ dy, Σ dy (x - mean)) over the runs, dy masked by `mask > 0` when given.
    static func gradientSums(_ dy: UnsafePointer<Float>, stride dyStride: Int, _ x: UnsafePointer<Float>, stride xStride: Int, _ n: Int,
                             runs: Int, mean: Float, mask: UnsafePointer<Float>? = nil, maskStride: Int = 0)
        -> (dy: Double, dyCentered: Double) {
        var sums: (Double, Double) = (0, 0)
        withUnsafeMutablePointer(to: &sums) {
            $0.withMemoryRebound(to: Double.self, capacity: 2) {
                kernels.gradient_sums(dy, dyStride, x, xStride, n, runs, mean, mask, maskStride, $0)
            }
        }
        return sums
    }

    /// `gradientSums` with the mask `max(0, x * scale + shift)` (bitwise the mask `affine` with
    /// `relu` writes).
    static func gradientSums(_ dy: UnsafePointer<Float>, stride dyStride: Int, _ x: UnsafePointer<Float>, stride xStride: Int, _ n: Int,
                             runs: Int, mean: Float, maskScale scale: Float, maskShift shift: Float) -> (dy: Double, dyCentered: Double) {
        var sums: (Double, Double) = (0, 0)
        withUnsafeMutablePointer(to: &sums) {
            $0.withMemoryRebound(to: Double.self, capacity: 2) {
                kernels.gradient_sums_mask_affine(dy, dyStride, x, xStride, n, runs, mean, scale, shift, $0)
            }
        }
        return sums
    }

    /// dx (+)= a dy + b x + c over the runs, dy masked by `mask > 0` when given.
    static func batchNormInputGradient(_ dy: UnsafePointer<Float>, stride dyStride: Int, _ x: UnsafePointer<Float>, stride xStride: Int,
                                       into dx: UnsafeMutablePointer<Float>, stride dxStride: Int, _ n: Int, runs: Int,
                                       a: Float, b: Float, c: Float, mask: UnsafePointer<Float>? = nil, maskStride: Int = 0,
                                       accumulate: Bool) {
        kernels.input_gradient(dy, dyStride, x, xStride, dx, dxStride, n, runs, a, b, c, mask, maskStride, accumulate)
    }

    /// `batchNormInputGradient` with the mask `max(0, x * scale + shift)`.
    static func batchNormInputGradient(_ dy: UnsafePointer<Float>, stride dyStride: Int, _ x: UnsafePointer<Float>, stride xStride: Int,
                                       into dx: UnsafeMutablePointer<Float>, stride dxStride: Int, _ n: Int, runs: Int,
                                       a: Float, b: Float, c: Float, maskScale scale: Float, maskShift shift: Float, accumulate: Bool) {
        kernels.input_gradient_mask_affine(dy, dyStride, x, xStride, dx, dxStride, n, runs, a, b, c, scale, shift, accumulate)
    }
}
