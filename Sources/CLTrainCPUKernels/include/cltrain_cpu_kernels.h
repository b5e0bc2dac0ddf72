#ifndef CLTRAIN_CPU_KERNELS_H
#define CLTRAIN_CPU_KERNELS_H

// The hand-written loops of the CPU backend (batch norm over a channel's plane in each sample
// of a batch; the direct convolution over a padded grid; the copies of region
// plans; Winograd's tile transforms), compiled three times
// (AVX-512, AVX2 + FMA, baseline x86-64) and chosen once per process by the CPU's features;
// CLTRAIN_CPU_KERNELS=baseline|avx2|avx512 forces a lower path.
//
// Semantics every path keeps in the batch-norm loops (as the Swift loops they replace):
// - ReLU is max(v, 0) with a NaN kept (and -0 written as +0);
// - a ReLU mask keeps dy where the ReLU output is > 0, else writes 0 (not dy * 0);
// - no multiply-add is fused: `affine` is bitwise the same on every path, so a mask recomputed
//   from the input (`*_mask_affine`) is bitwise the mask `affine` with relu wrote;
// - sums run in float lanes (W, then four, then a scalar for the rest of a run) across runs,
//   added into a double total every 1024 or so values and at the end. Lane counts (and so the
//   order of additions) differ between paths.

#include <stddef.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

#pragma clang assume_nonnull begin

typedef enum {
    CLTRAIN_CPU_KERNELS_BASELINE = 0,
    CLTRAIN_CPU_KERNELS_AVX2 = 1,
    CLTRAIN_CPU_KERNELS_AVX512 = 2,
} cltrain_cpu_kernels_path_t;

/// One path's functions. The batch-norm loops work on `runs` runs of `n` floats (a channel's
/// plane in each of a batch's samples), each pointer's runs `*_stride` floats apart.
typedef struct {
    /// Σ p[r * stride + i] over runs r and i < n.
    double (*sum)(const float *p, size_t n, size_t runs, size_t stride);
    /// Σ (p[r * stride + i] - mean)^2.
    double (*squared_deviations)(const float *p, size_t n, size_t runs, size_t stride, float mean);
    /// q = p * scale + shift, or max(0, that) (NaN kept) with relu, run by run; q may be p.
    void (*affine)(const float *p, size_t p_stride, float *q, size_t q_stride, size_t n, size_t runs, float scale,
                   float shift, bool relu);
    /// sums[0] = Σ d, sums[1] = Σ d (x - mean) (sums: two doubles), d = dy masked by mask > 0 (mask may be NULL).
    void (*gradient_sums)(const float *dy, size_t dy_stride, const float *x, size_t x_stride, size_t n, size_t runs,
                          float mean, const float *_Nullable mask, size_t mask_stride, double *sums);
    /// `gradient_sums` with the mask max(0, x * scale + shift) as `affine` computes it.
    void (*gradient_sums_mask_affine)(const float *dy, size_t dy_stride, const float *x, size_t x_stride, size_t n,
                                      size_t runs, float mean, float scale, float shift, double *sums);
    /// dx (+)= a d + b x + c, d = dy masked by mask > 0 (mask may be NULL).
    void (*input_gradient)(const float *dy, size_t dy_stride, const float *x, size_t x_stride, float *dx, size_t dx_stride,
                           size_t n, size_t runs, float a, float b, float c, const float *_Nullable mask, size_t mask_stride,
                           bool accumulate);
    /// `input_gradient` with the mask max(0, x * scale + shift) as `affine` computes it.
    void (*input_gradient_mask_affine)(const float *dy, size_t dy_stride, const float *x, size_t x_stride, float *dx,
                                       size_t dx_stride, size_t n, size_t runs, float a, float b, float c, float scale,
                                       float shift, bool accumulate);

    // The direct convolution of stride 1 over a padded grid (see conv_body.inc): each input
    // plane is laid out with its padding as zeros, so output position q reads tap t at
    // q + offsets[t]. `cout` is a multiple of `conv_block`, `positions` of `conv_span`, and every
    // float the loops read (up to positions - 1 + the largest offset in each plane) is readable.

    /// y[co * y_stride + q] = Σ_ci Σ_t w[(ci * taps + t) * cout + co] * x[ci * x_stride + q + offsets[t]]
    /// for co < cout and q < positions.
    void (*direct_conv)(const float *x, size_t x_stride, size_t cin, const float *w, const ptrdiff_t *offsets,
                        size_t taps, float *y, size_t y_stride, size_t cout, size_t positions);
    /// dw[(ci * taps + t) * cout + co] += Σ_s Σ_q dy[s * dy_sample + co * dy_stride + q]
    ///                                           * x[s * x_sample + ci * x_stride + q + offsets[t]]
    /// over `samples` samples and q < positions (dy zero where an output position is thrown away).
    void (*direct_conv_weight)(const float *x, size_t x_sample, size_t x_stride, size_t cin, const ptrdiff_t *offsets,
                               size_t taps, const float *dy, size_t dy_sample, size_t dy_stride, size_t cout,
                               size_t positions, size_t samples, float *dw);
    /// Planes `[channels, height, width]` at x into a padded grid (`grid` at pixel (0, 0) of
    /// plane 0): each row `row_stride` floats after the last, each plane `plane_stride`; through
    /// max(0, x * scales[ch] + shifts[ch]) as `affine` computes it where scales is not NULL. The
    /// grid's padding is not written.
    void (*grid_fill)(const float *x, size_t channels, size_t height, size_t width, float *grid, size_t plane_stride,
                      size_t row_stride, const float *_Nullable scales, const float *_Nullable shifts);
    /// The other way: y[ch, h, w] (+)= grid[ch * plane_stride + h * row_stride + w] + bias[ch]
    /// (bias may be NULL).
    void (*grid_unpad)(const float *grid, size_t channels, size_t height, size_t width, size_t plane_stride,
                       size_t row_stride, float *y, const float *_Nullable bias, bool accumulate);

    // A convolution's region plan (see region_body.inc): a column matrix with a row per (tap t,
    // channel c), t * channels + c, and a column per (sample j, position p), j * positions + p,
    // reading the float c * plane + offsets[t] + j * sample_stride + index[p] of the image.

    /// col = that matrix's rows of channels c0..<c1 for `count` samples.
    void (*region_unfold)(const float *x, size_t plane, size_t sample_stride, size_t count, size_t c0, size_t c1,
                          size_t channels, const ptrdiff_t *offsets, size_t taps, const ptrdiff_t *index,
                          size_t positions, float *col, size_t ld);
    /// The other way, for channels c0..<c1: the image's float += the matrix's (every tap of a
    /// channel in turn) with accumulate, else = the matrix's + bias[c] (bias may be NULL).
    void (*region_fold)(const float *col, size_t ld, size_t c0, size_t c1, size_t channels, const ptrdiff_t *offsets,
                        size_t taps, const ptrdiff_t *index, size_t positions, size_t count, float *x, size_t plane,
                        size_t sample_stride, const float *_Nullable bias, bool accumulate);
    /// The kernel w [cout, cin, area] tap-major, for output channels co0..<co1: dst[co, k, c] =
    /// w[co, c, k] for the taps k in used[0..<used_count] (the others are not written).
    void (*region_tap_major)(const float *w, size_t co0, size_t co1, size_t cin, size_t area, const ptrdiff_t *used,
                             size_t used_count, float *dst);
    /// The other way, adding: gw[co, c, k] += gwt[co, k, c] for the taps in used.
    void (*region_add_tap_major)(const float *gwt, size_t co0, size_t co1, size_t cin, size_t area, const ptrdiff_t *used,
                                 size_t used_count, float *gw);

    // Winograd F(m x m, 3 x 3), m = 2 or 4 (see winograd_body.inc): tiles move eight at a time,
    // one per lane, between the channel planes of an image and the transformed domain, whose value
    // xi (< (m + 2)^2) of channel k of tile j is at [(xi * channels + k) * ld + j] (ld a multiple
    // of 8). Tile j's m x m outputs are the floats origins[j] + i * row_step + c * col_step of each
    // plane (planes channel_stride apart), of which the first rows[j] rows and cols[j] columns lie
    // inside the image.

    /// V = B^T d B for every tile j < tiles and channel ch into v (lanes from `tiles` to the next
    /// multiple of 8 written with zeros): d is the tile's alpha x alpha input, value (a, b) the float
    /// origins[j] + a * row_step + b * col_step of the channel's plane, through
    /// max(0, x * scales[ch] + shifts[ch]) as `affine` computes it where scales is not NULL, and
    /// zero (the padding) outside rows row_spans[2j]..<row_spans[2j + 1] and columns
    /// col_spans[2j]..<col_spans[2j + 1], where no float is read.
    void (*winograd_input)(const float *x, size_t channels, size_t channel_stride, size_t m, size_t tiles,
                           const ptrdiff_t *origins, const unsigned char *row_spans, const unsigned char *col_spans,
                           ptrdiff_t row_step, ptrdiff_t col_step, const float *_Nullable scales,
                           const float *_Nullable shifts, float *v, size_t ld);
    /// y (+)= A^T M A + bias[k] for every tile j < tiles and channel k, M read from `product`
    /// (its lanes up to the next multiple of 8 readable); outputs outside the image dropped.
    void (*winograd_output)(const float *product, size_t ld, size_t channels, size_t m, size_t tiles,
                            const ptrdiff_t *origins, const unsigned char *rows, const unsigned char *cols,
                            size_t channel_stride, ptrdiff_t row_step, ptrdiff_t col_step,
                            const float *_Nullable bias, bool accumulate, float *y);
    /// dm = A dY A^T for every tile and channel, dY read from gy (zero outside the image); lanes
    /// from `tiles` to the next multiple of 8 are written with zeros.
    void (*winograd_output_gradient)(const float *gy, size_t channels, size_t m, size_t tiles, const ptrdiff_t *origins,
                                     const unsigned char *rows, const unsigned char *cols, size_t channel_stride,
                                     ptrdiff_t row_step, ptrdiff_t col_step, float *dm, size_t ld);
    /// Output channels per register block: `cout` is padded to a multiple of it.
    size_t conv_block;
    /// Positions per register block: `positions` is padded to a multiple of it.
    size_t conv_span;
} cltrain_cpu_kernels_t;

/// The path this process runs: the best the CPU supports, or lower where CLTRAIN_CPU_KERNELS
/// asks (read once, on the first call).
cltrain_cpu_kernels_path_t cltrain_cpu_kernels_active_path(void);

/// "avx512", "avx2" or "baseline": the path this process runs.
const char *cltrain_cpu_kernels_path(void);

/// The functions of the path this process runs.
const cltrain_cpu_kernels_t *cltrain_cpu_kernels(void);

/// The functions of a given path, or NULL where this CPU cannot run it (for tests).
const cltrain_cpu_kernels_t *_Nullable cltrain_cpu_kernels_for_path(cltrain_cpu_kernels_path_t path);

#pragma clang assume_nonnull end

#ifdef __cplusplus
}
#endif

#endif
