// Pooling kernels: max and average pooling (forward, and backward as gathers per input
// element, so no atomics), global average pooling.
//
// NCHW tensors are (pointer, element offset, sample stride); one work-item per element,
// indices are decomposed as (n, c, y, x) with n the sample and (c, y, x) dense inside it.

// Max over the window of output (oy, ox) in plane `plane` (already offset to (n, c)).
// Padded positions never win; the first maximum in row-major window order wins.
// Returns the winning position as y * W + x in *where.
inline float window_max(__global const float* plane, int H, int W, int oy, int ox,
                        int kh, int kw, int sh, int sw, int ph, int pw, int* where)
{
    float best = -INFINITY;
    int best_at = -1;
    const int y0 = oy * sh - ph;
    const int x0 = ox * sw - pw;
    for (int ky = 0; ky < kh; ++ky) {
        const int y = y0 + ky;
        if (y < 0 || y >= H) continue;
        for (int kx = 0; kx < kw; ++kx) {
            const int x = x0 + kx;
            if (x < 0 || x >= W) continue;
            const float v = plane[y * W + x];
            // `best_at < 0` lets a window of -inf (or NaN) values still pick its first position.
            if (v > best || best_at < 0) { best = v; best_at = y * W + x; }
        }
    }
    *where = best_at;
    return best;
}

__kernel void max_pool2d_forward(__global const float* x, int x_off, int x_stride,
                                 __global float* y, int y_off, int y_stride,
                                 int N, int C, int H, int W, int Ho, int Wo,
                                 int kh, int kw, int sh, int sw, int ph, int pw)
{
    const int gid = get_global_id(0);
    const int sample = C * Ho * Wo;
    if (gid >= N * sample) return;
    const int n = gid / sample;
    const int rem = gid - n * sample;
    const int c = rem / (Ho * Wo);
    const int p = rem - c * (Ho * Wo);
    const int oy = p / Wo;
    const int ox = p - oy * Wo;
    int where;
    const float best = window_max(x + x_off + n * x_stride + c * H * W, H, W, oy, ox,
                                  kh, kw, sh, sw, ph, pw, &where);
    y[y_off + n * y_stride + rem] = best;
}

// Range of outputs along one axis whose windows contain input position `v`:
// o * s - pad <= v <= o * s - pad + k - 1, clamped to [0, count).
inline void covering_outputs(int v, int k, int s, int pad, int count, int* first, int* last)
{
    const int hi = v + pad;                 // o * s <= hi
    const int lo = v + pad - k + 1;         // o * s >= lo
    *first = lo <= 0 ? 0 : (lo + s - 1) / s;
    *last = min(hi / s, count - 1);
}

// dx[n, c, y, x] (+)= sum of dy over the windows whose (recomputed) argmax is (y, x).
__kernel void max_pool2d_backward(__global const float* x, int x_off, int x_stride,
                                  __global const float* dy, int dy_off, int dy_stride,
                                  __global float* dx, int dx_off, int dx_stride,
                                  int N, int C, int H, int W, int Ho, int Wo,
                                  int kh, int kw, int sh, int sw, int ph, int pw, int accumulate)
{
    const int gid = get_global_id(0);
    const int sample = C * H * W;
    if (gid >= N * sample) return;
    const int n = gid / sample;
    const int rem = gid - n * sample;
    const int c = rem / (H * W);
    const int q = rem - c * (H * W);
    const int iy = q / W;
    const int ix = q - iy * W;

    __global const float* plane = x + x_off + n * x_stride + c * H * W;
    __global const float* grad = dy + dy_off + n * dy_stride + c * Ho * Wo;
    int oy0, oy1, ox0, ox1;
    covering_outputs(iy, kh, sh, ph, Ho, &oy0, &oy1);
    covering_outputs(ix, kw, sw, pw, Wo, &ox0, &ox1);
    float sum = 0.0f;
    for (int oy = oy0; oy <= oy1; ++oy) {
        for (int ox = ox0; ox <= ox1; ++ox) {
            int where;
            window_max(plane, H, W, oy, ox, kh, kw, sh, sw, ph, pw, &where);
            if (where == q) sum += grad[oy * Wo + ox];
        }
    }
    ACCUMULATE(dx[dx_off + n * dx_stride + rem], sum, accumulate);
}

// Average pooling with count_include_pad: the divisor is always kh * kw.
__kernel void avg_pool2d_forward(__global const float* x, int x_off, int x_stride,
                                 __global float* y, int y_off, int y_stride,
                                 int N, int C, int H, int W, int Ho, int Wo,
                                 int kh, int kw, int sh, int sw, int ph, int pw)
{
    const int gid = get_global_id(0);
    const int sample = C * Ho * Wo;
    if (gid >= N * sample) return;
    const int n = gid / sample;
    const int rem = gid - n * sample;
    const int c = rem / (Ho * Wo);
    const int p = rem - c * (Ho * Wo);
    const int oy = p / Wo;
    const int ox = p - oy * Wo;
    __global const float* plane = x + x_off + n * x_stride + c * H * W;
    float sum = 0.0f;
    for (int ky = 0; ky < kh; ++ky) {
        const int iy = oy * sh - ph + ky;
        if (iy < 0 || iy >= H) continue;
        for (int kx = 0; kx < kw; ++kx) {
            const int ix = ox * sw - pw + kx;
            if (ix < 0 || ix >= W) continue;
            sum += plane[iy * W + ix];
        }
    }
    y[y_off + n * y_stride + rem] = sum / (float)(kh * kw);
}

__kernel void avg_pool2d_backward(__global const float* dy, int dy_off, int dy_stride,
                                  __global float* dx, int dx_off, int dx_stride,
                                  int N, int C, int H, int W, int Ho, int Wo,
                                  int kh, int kw, int sh, int sw, int ph, int pw, int accumulate)
{
    const int gid = get_global_id(0);
    const int sample = C * H * W;
    if (gid >= N * sample) return;
    const int n = gid / sample;
    const int rem = gid - n * sample;
    const int c = rem / (H * W);
    const int q = rem - c * (H * W);
    const int iy = q / W;
    const int ix = q - iy * W;
    __global const float* grad = dy + dy_off + n * dy_stride + c * Ho * Wo;
    int oy0, oy1, ox0, ox1;
    covering_outputs(iy, kh, sh, ph, Ho, &oy0, &oy1);
    covering_outputs(ix, kw, sw, pw, Wo, &ox0, &ox1);
    float sum = 0.0f;
    for (int oy = oy0; oy <= oy1; ++oy)
        for (int ox = ox0; ox <= ox1; ++ox)
            sum += grad[oy * Wo + ox];
    ACCUMULATE(dx[dx_off + n * dx_stride + rem], sum / (float)(kh * kw), accumulate);
}

// y[n, c] = mean of x[n, c, :, :]; one work-item per (n, c), looping over the plane (a few
// dozen elements in the networks this serves).
__kernel void global_avg_pool_forward(__global const float* x, int x_off, int x_stride,
                                      __global float* y, int y_off, int y_stride,
                                      int N, int C, int HW)
{
    const int gid = get_global_id(0);
    if (gid >= N * C) return;
    const int n = gid / C;
    const int c = gid - n * C;
    __global const float* plane = x + x_off + n * x_stride + c * HW;
    float sum = 0.0f;
    for (int q = 0; q < HW; ++q) sum += plane[q];
    y[y_off + n * y_stride + c] = sum / (float)HW;
}

// dx[n, c, q] (+)= dy[n, c] / HW; one work-item per input element.
__kernel void global_avg_pool_backward(__global const float* dy, int dy_off, int dy_stride,
                                       __global float* dx, int dx_off, int dx_stride,
                                       int N, int C, int HW, int accumulate)
{
    const int gid = get_global_id(0);
    const int sample = C * HW;
    if (gid >= N * sample) return;
    const int n = gid / sample;
    const int rem = gid - n * sample;
    const int c = rem / HW;
    ACCUMULATE(dx[dx_off + n * dx_stride + rem], dy[dy_off + n * dy_stride + c] / (float)HW, accumulate);
}
