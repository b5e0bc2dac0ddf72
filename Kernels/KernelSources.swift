// The OpenCL C sources of cltrain, one file per op family, embedded in the binary at build time
// so that `swift run`, the tests and a copied binary all find them.

import Foundation

/// One `.cl` file of `Kernels/`.
public enum KernelFamily: String, CaseIterable, Sendable {
    case conv, pool, concat, norm, elementwise, loss, optim
    /// The tiled implicit-GEMM convolutions, built once per tile configuration (`-D` defines).
    case convImplicitGemm = "conv_implicit_gemm"

    /// The file name inside `Kernels/`.
    public var fileName: String { "\(rawValue).cl" }
}

public enum KernelSources {
    /// Code put in front of every kernel file (the `.cl` files use no `#include`).
    public static let prelude = """
        // cltrain prelude: OpenCL C 1.2, float32 NCHW tensors addressed as
        // (buffer, element offset, sample stride) with contiguous C, H, W inside a sample.
        #define ACCUMULATE(dst, value, accumulate) ((dst) = (accumulate) ? (dst) + (value) : (value))
        // A convolution input's batch norm + ReLU at channel c (batch_norm_apply's formula) when
        // has_norm, so that the convolution kernels read the input normalised without a copy of it.
        #define CONV2D_INPUT_NORM_PARAMETERS \\
            __global const float* norm_mean, int norm_mean_off, __global const float* norm_inv, int norm_inv_off, \\
            __global const float* norm_w, int norm_w_off, __global const float* norm_b, int norm_b_off, int has_norm
        #define CONV2D_INPUT_NORM(v, c) (has_norm \\
            ? fmax(((v) - norm_mean[norm_mean_off + (c)]) * norm_inv[norm_inv_off + (c)] * norm_w[norm_w_off + (c)] \\
                   + norm_b[norm_b_off + (c)], 0.0f) \\
            : (v))

        """

    /// The source of one family. When `overrideDirectory` is given (development: the
    /// `CLTRAIN_KERNELS_DIR` variable), the file is read from there instead.
    public static func source(_ family: KernelFamily, overrideDirectory: String? = nil) throws -> String {
        if let dir = overrideDirectory {
            let url = URL(fileURLWithPath: dir).appendingPathComponent(family.fileName)
            return try String(contentsOf: url, encoding: .utf8)
        }
        return String(decoding: embedded(family), as: UTF8.self)
    }

    private static func embedded(_ family: KernelFamily) -> [UInt8] {
        switch family {
        case .conv: return PackageResources.conv_cl
        case .pool: return PackageResources.pool_cl
        case .concat: return PackageResources.concat_cl
        case .norm: return PackageResources.norm_cl
        case .elementwise: return PackageResources.elementwise_cl
        case .loss: return PackageResources.loss_cl
        case .optim: return PackageResources.optim_cl
        case .convImplicitGemm: return PackageResources.conv_implicit_gemm_cl
        }
    }
}
