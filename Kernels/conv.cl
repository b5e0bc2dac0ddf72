// Convolution kernels: im2col / col2im around CLBlast GEMMs, the layout transposes that let one
// GEMM span a chunk of samples, and the bias add and reduction.
//
// Tensors are (pointer, element offset) pairs; NCHW tensors also take their sample stride
// (distance between two samples, >= C*H*W when the tensor is a channel slice).
// Every kernel checks its bounds: launch code rounds global sizes up to the work-group size.

// Column matrix of a chunk of `nb` samples, layout [K = C*kh*kw rows][nb*P columns] with
// P = Ho*Wo: sample i of the chunk occupies columns i*P .. i*P+P-1. One work-item per entry,
// consecutive work-items along a row (coalesced writes). Padded positions read as zero (the
// padding is of the normalised input).
__kernel void conv2d_im2col(__global const float* x, int x_off, int x_stride,
                            __global float* col, int col_off,
                            CONV2D_INPUT_NORM_PARAMETERS,
                            int nb, int C, int H, int W, int Ho, int Wo,
                            int kh, int kw, int sh, int sw, int ph, int pw, int dh, int dw)
{
    const int P = Ho * Wo;
    const int columns = nb * P;
    const int total = C * kh * kw * columns;
    const int gid = get_global_id(0);
    if (gid >= total) return;

    const int k = gid / columns;          // row: (c, ky, kx)
    const int j = gid - k * columns;      // column: (i, oy, ox)
    const int i = j / P;
    const int p = j - i * P;
    const int oy = p / Wo;
    const int ox = p - oy * Wo;
    const int c = k / (kh * kw);
    const int r = k - c * (kh * kw);
    const int ky = r / kw;
    const int kx = r - ky * kw;

    const int iy = oy * sh - ph + ky * dh;
    const int ix = ox * sw - pw + kx * dw;
    float v = 0.0f;
    if (iy >= 0 && iy < H && ix >= 0 && ix < W) {
        v = CONV2D_INPUT_NORM(x[x_off + i * x_stride + (c * H + iy) * W + ix], c);
    }
    col[col_off + gid] = v;
}

// The adjoint of conv2d_im2col, as a gather: one work-item per input element (i, c, y, x) of
// the chunk sums every column entry that im2col would have read from it. No atomics needed.
// `accumulate` adds into dx instead of overwriting it.
__kernel void conv2d_col2im(__global const float* col, int col_off,
                            __global float* dx, int dx_off, int dx_stride,
                            int nb, int C, int H, int W, int Ho, int Wo,
                            int kh, int kw, int sh, int sw, int ph, int pw, int dh, int dw,
                            int accumulate)
{
    const int HW = H * W;
    const int total = nb * C * HW;
    const int gid = get_global_id(0);
    if (gid >= total) return;

    const int i = gid / (C * HW);
    const int rem = gid - i * (C * HW);
    const int c = rem / HW;
    const int q = rem - c * HW;
    const int y = q / W;
    const int x = q - y * W;

    const int P = Ho * Wo;
    const int columns = nb * P;
    float sum = 0.0f;
    for (int ky = 0; ky < kh; ++ky) {
        // oy * sh = y + ph - ky * dh must be a non-negative multiple of sh below Ho * sh.
        const int ty = y + ph - ky * dh;
        if (ty < 0 || ty % sh != 0) continue;
        const int oy = ty / sh;
        if (oy >= Ho) continue;
        for (int kx = 0; kx < kw; ++kx) {
            const int tx = x + pw - kx * dw;
            if (tx < 0 || tx % sw != 0) continue;
            const int ox = tx / sw;
            if (ox >= Wo) continue;
            const int k = (c * kh + ky) * kw + kx;
            sum += col[col_off + k * columns + i * P + oy * Wo + ox];
        }
    }
    const int d = dx_off + i * dx_stride + rem;
    ACCUMULATE(dx[d], sum, accumulate);
}

// Transpose a chunk of nb samples of an NCHW tensor [nb][C][P] (sample stride x_stride) into
// a dense [C][nb*P] matrix, so that one GEMM can span samples and positions; normalised when
// has_norm (a pointwise convolution's input).
__kernel void conv2d_nchw_to_cnhw(__global const float* x, int x_off, int x_stride,
                                  __global float* y, int y_off,
                                  CONV2D_INPUT_NORM_PARAMETERS,
                                  int nb, int C, int P)
{
    const int columns = nb * P;
    const int gid = get_global_id(0);
    if (gid >= C * columns) return;
    const int c = gid / columns;
    const int j = gid - c * columns;
    const int i = j / P;
    const int p = j - i * P;
    y[y_off + gid] = CONV2D_INPUT_NORM(x[x_off + i * x_stride + c * P + p], c);
}

// The inverse: a dense [C][nb*P] matrix (a GEMM's result over a chunk) into the nb samples of an
// NCHW tensor (sample stride y_stride), plus bias[c] when has_bias, added into y when accumulate.
// One work-item per element of y, consecutive along a sample's positions.
__kernel void conv2d_cnhw_to_nchw(__global const float* x, int x_off,
                                  __global float* y, int y_off, int y_stride,
                                  __global const float* bias, int bias_off, int has_bias,
                                  int nb, int C, int P, int accumulate)
{
    const int sample = C * P;
    const int gid = get_global_id(0);
    if (gid >= nb * sample) return;
    const int i = gid / sample;
    const int rem = gid - i * sample;
    const int c = rem / P;
    const int p = rem - c * P;
    float v = x[x_off + (c * nb + i) * P + p];
    if (has_bias) v += bias[bias_off + c];
    ACCUMULATE(y[y_off + i * y_stride + rem], v, accumulate);
}

// out[n, c, p] += bias[c] for an output [N][C][P] with sample stride out_stride.
__kernel void conv2d_bias_forward(__global float* out, int out_off, int out_stride,
                                  __global const float* bias, int bias_off,
                                  int N, int C, int P)
{
    const int gid = get_global_id(0);
    const int sample = C * P;
    if (gid >= N * sample) return;
    const int n = gid / sample;
    const int rem = gid - n * sample;
    const int c = rem / P;
    out[out_off + n * out_stride + rem] += bias[bias_off + c];
}

// gradBias[c] += sum over n, p of dy[n, c, p]. One work-group per channel: each work-item
// sums a strided part of the channel, then a tree reduction in local memory (the group size
// must be a power of two; `scratch` holds one float per work-item).
__kernel void conv2d_bias_backward(__global const float* dy, int dy_off, int dy_stride,
                                   __global float* grad_bias, int grad_bias_off,
                                   int N, int C, int P,
                                   __local float* scratch)
{
    const int c = get_group_id(0);
    const int lid = get_local_id(0);
    const int lsize = get_local_size(0);
    if (c >= C) return;  // whole group leaves together: no barrier is skipped by half a group

    float sum = 0.0f;
    const int count = N * P;
    for (int j = lid; j < count; j += lsize) {
        const int n = j / P;
        const int p = j - n * P;
        sum += dy[dy_off + n * dy_stride + c * P + p];
    }
    scratch[lid] = sum;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int width = lsize / 2; width > 0; width >>= 1) {
        if (lid < width) scratch[lid] += scratch[lid + width];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0) grad_bias[grad_bias_off + c] += scratch[0];
}
