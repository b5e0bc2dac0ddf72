// Element-wise kernels over sample-contiguous tensors: fill, add, axpy, ReLU, and the bias
// kernels of the linear layer.
//
// A tensor is addressed as (pointer, element offset, sample stride) and holds N samples of S
// dense elements each; one work-item per element, element gid is (n = gid / S, j = gid % S).

#define AT(off, stride) ((off) + (gid / S) * (stride) + (gid % S))

__kernel void fill(__global float* x, int x_off, int x_stride, int N, int S, float value)
{
    const int gid = get_global_id(0);
    if (gid >= N * S) return;
    x[AT(x_off, x_stride)] = value;
}

// out = a + b; out may be a or b (each work-item reads its element before writing it).
__kernel void add(__global const float* a, int a_off, int a_stride,
                  __global const float* b, int b_off, int b_stride,
                  __global float* out, int out_off, int out_stride, int N, int S)
{
    const int gid = get_global_id(0);
    if (gid >= N * S) return;
    out[AT(out_off, out_stride)] = a[AT(a_off, a_stride)] + b[AT(b_off, b_stride)];
}

// y += alpha * x
__kernel void axpy(float alpha, __global const float* x, int x_off, int x_stride,
                   __global float* y, int y_off, int y_stride, int N, int S)
{
    const int gid = get_global_id(0);
    if (gid >= N * S) return;
    y[AT(y_off, y_stride)] += alpha * x[AT(x_off, x_stride)];
}

// y = max(x, 0); y may be x.
__kernel void relu_forward(__global const float* x, int x_off, int x_stride,
                           __global float* y, int y_off, int y_stride, int N, int S)
{
    const int gid = get_global_id(0);
    if (gid >= N * S) return;
    const float v = x[AT(x_off, x_stride)];
    y[AT(y_off, y_stride)] = v < 0.0f ? 0.0f : v;  // NaN passes through, as in PyTorch (fmax would drop it)
}

// The dropout mask: the same integer hash of (seed, dense index) as DropoutMask.swift.
inline uint dropout_hash(uint seed, uint index)
{
    uint h = seed ^ (index * 0x9E3779B9u);
    h ^= h >> 16;
    h *= 0x7FEB352Du;
    h ^= h >> 15;
    h *= 0x846CA68Bu;
    h ^= h >> 16;
    return h;
}

// y (+)= x * keep / (1 - p): dropout forward (x the input) and backward (x the output gradient).
__kernel void dropout(__global const float* x, int x_off, int x_stride,
                      __global float* y, int y_off, int y_stride,
                      int N, int S, int seed, int threshold, float scale, int accumulate)
{
    const int gid = get_global_id(0);
    if (gid >= N * S) return;
    const int keep = (dropout_hash((uint)seed, (uint)gid) >> 8) >= (uint)threshold;
    const float value = keep ? x[AT(x_off, x_stride)] * scale : 0.0f;
    ACCUMULATE(y[AT(y_off, y_stride)], value, accumulate);
}

// dx (+)= dy * (y > 0), with y the forward's output.
__kernel void relu_backward(__global const float* y, int y_off, int y_stride,
                            __global const float* dy, int dy_off, int dy_stride,
                            __global float* dx, int dx_off, int dx_stride,
                            int N, int S, int accumulate)
{
    const int gid = get_global_id(0);
    if (gid >= N * S) return;
    const float g = y[AT(y_off, y_stride)] > 0.0f ? dy[AT(dy_off, dy_stride)] : 0.0f;
    ACCUMULATE(dx[AT(dx_off, dx_stride)], g, accumulate);
}

// out[n, j] += bias[j] for out[N, F] with sample stride out_stride.
__kernel void linear_bias_forward(__global float* out, int out_off, int out_stride,
                                  __global const float* bias, int bias_off, int N, int F)
{
    const int gid = get_global_id(0);
    if (gid >= N * F) return;
    const int n = gid / F;
    const int j = gid - n * F;
    out[out_off + n * out_stride + j] += bias[bias_off + j];
}

// grad_bias[j] += sum over n of dy[n, j]; one work-item per feature (N is a batch size).
__kernel void linear_bias_backward(__global const float* dy, int dy_off, int dy_stride,
                                   __global float* grad_bias, int grad_bias_off, int N, int F)
{
    const int j = get_global_id(0);
    if (j >= F) return;
    float sum = 0.0f;
    for (int n = 0; n < N; ++n) sum += dy[dy_off + n * dy_stride + j];
    grad_bias[grad_bias_off + j] += sum;
}
