// Batch normalisation over N, H, W per channel (NCHW, sample strides honoured).
//
// The training forward (batch_norm_forward_training) and the backward (batch_norm_backward) are
// one launch each, one work-group per channel: the group reduces over its channel in local
// memory, then, after the barrier that ends the reduction, writes its channel's outputs; no
// other group touches that channel, so no global synchronisation is needed and the output may
// be the input. batch_norm_statistics is the statistics alone and batch_norm_apply the
// normalisation alone (DenseNet's shared statistics). Reductions use a tree in local memory;
// the work-group size must be a power of two and `scratch` must hold one float per work-item.

// Sum over the work-group of each work-item's `value`; every work-item gets the total.
inline float group_sum(float value, __local float* scratch)
{
    const int lid = get_local_id(0);
    const int lsize = get_local_size(0);
    barrier(CLK_LOCAL_MEM_FENCE);   // scratch may still be read by a previous call
    scratch[lid] = value;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int width = lsize / 2; width > 0; width >>= 1) {
        if (lid < width) scratch[lid] += scratch[lid + width];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    return scratch[0];
}

// Channel c's mean and sum of squared deviations (two passes, for accuracy), as (mean, m2) for
// every work-item of the group; one work-group per channel, all of whose work-items call it.
inline float2 channel_moments(__global const float* x, int x_off, int x_stride, int c, int N, int P,
                              __local float* scratch)
{
    const int lid = get_local_id(0);
    const int lsize = get_local_size(0);
    const int count = N * P;
    float sum = 0.0f;
    for (int j = lid; j < count; j += lsize) {
        const int n = j / P;
        sum += x[x_off + n * x_stride + c * P + (j - n * P)];
    }
    const float mean = group_sum(sum, scratch) / (float)count;

    float squares = 0.0f;
    for (int j = lid; j < count; j += lsize) {
        const int n = j / P;
        const float d = x[x_off + n * x_stride + c * P + (j - n * P)] - mean;
        squares += d * d;
    }
    const float m2 = group_sum(squares, scratch);
    return (float2)(mean, m2);
}

// The statistics alone, for channels that several batch norms read (DenseNet's blocks): per
// channel c, mean[c], invstd[c] = 1 / sqrt(biased var + eps) and the unbiased variance.
__kernel void batch_norm_statistics(__global const float* x, int x_off, int x_stride,
                                            __global float* mean_out, int mean_off,
                                            __global float* invstd_out, int invstd_off,
                                            __global float* variance_out, int variance_off,
                                            int N, int C, int P, float epsilon,
                                            __local float* scratch)
{
    const int c = get_group_id(0);
    const int lid = get_local_id(0);
    if (c >= C) return;  // whole groups only
    const int count = N * P;
    const float2 moments = channel_moments(x, x_off, x_stride, c, N, P, scratch);
    const float mean = moments.x, m2 = moments.y;

    if (lid == 0) {
        mean_out[mean_off + c] = mean;
        invstd_out[invstd_off + c] = 1.0f / sqrt(m2 / (float)count + epsilon);
        variance_out[variance_off + c] = m2 / (float)(count - 1);
    }
}

// The batch norm of one value: (x - mean) * scale + bias, scale = invstd * weight. One function
// for the forward and for the backward that finds a fused ReLU's mask from the input, so both
// round alike.
inline float batch_norm_value(float x, float mean, float scale, float bias)
{
    return (x - mean) * scale + bias;
}

// Per channel c: mean, biased variance (two passes, for accuracy), then
// save_mean[c] = mean, save_invstd[c] = 1 / sqrt(var + eps), the running statistics
// running = (1 - momentum) * running + momentum * batch with the unbiased variance, and
// y = (x - mean) * invstd * weight[c] + bias[c] (then max(y, 0) when relu) as batch_norm_apply
// computes it; one work-group per channel.
__kernel void batch_norm_forward_training(__global const float* x, int x_off, int x_stride,
                                          __global float* y, int y_off, int y_stride,
                                          __global const float* weight, int weight_off,
                                          __global const float* bias, int bias_off,
                                          __global float* save_mean, int save_mean_off,
                                          __global float* save_invstd, int save_invstd_off,
                                          __global float* running_mean, int running_mean_off,
                                          __global float* running_var, int running_var_off,
                                          int N, int C, int P, float momentum, float epsilon, int relu,
                                          __local float* scratch)
{
    const int c = get_group_id(0);
    const int lid = get_local_id(0);
    const int lsize = get_local_size(0);
    if (c >= C) return;  // whole groups only
    const int count = N * P;
    const float2 moments = channel_moments(x, x_off, x_stride, c, N, P, scratch);
    const float mean = moments.x, m2 = moments.y;
    const float var = m2 / (float)count;
    const float invstd = 1.0f / sqrt(var + epsilon);

    if (lid == 0) {
        const float unbiased = count > 1 ? m2 / (float)(count - 1) : var;
        save_mean[save_mean_off + c] = mean;
        save_invstd[save_invstd_off + c] = invstd;
        running_mean[running_mean_off + c] = (1.0f - momentum) * running_mean[running_mean_off + c] + momentum * mean;
        running_var[running_var_off + c] = (1.0f - momentum) * running_var[running_var_off + c] + momentum * unbiased;
    }

    // Every work-item has read its last x in channel_moments' final barrier: y may be x.
    const float scale = invstd * weight[weight_off + c];
    const float b = bias[bias_off + c];
    for (int j = lid; j < count; j += lsize) {
        const int n = j / P;
        const int e = c * P + (j - n * P);
        const float v = batch_norm_value(x[x_off + n * x_stride + e], mean, scale, b);
        y[y_off + n * y_stride + e] = (relu && v < 0.0f) ? 0.0f : v;  // a NaN passes the ReLU
    }
}

// y = (x - mean[c]) * invstd[c] * weight[c] + bias[c], then max(y, 0) when relu (BN and ReLU
// fused); one work-item per element.
__kernel void batch_norm_apply(__global const float* x, int x_off, int x_stride,
                               __global float* y, int y_off, int y_stride,
                               __global const float* mean, int mean_off,
                               __global const float* invstd, int invstd_off,
                               __global const float* weight, int weight_off,
                               __global const float* bias, int bias_off,
                               int N, int C, int P, int relu)
{
    const int gid = get_global_id(0);
    const int sample = C * P;
    if (gid >= N * sample) return;
    const int n = gid / sample;
    const int rem = gid - n * sample;
    const int c = rem / P;
    const float scale = invstd[invstd_off + c] * weight[weight_off + c];
    const float v = batch_norm_value(x[x_off + n * x_stride + rem], mean[mean_off + c], scale, bias[bias_off + c]);
    y[y_off + n * y_stride + rem] = (relu && v < 0.0f) ? 0.0f : v;  // a NaN passes the ReLU
}

// Eval mode: y = (x - running_mean[c]) / sqrt(running_var[c] + eps) * weight[c] + bias[c], then
// max(y, 0) when relu.
__kernel void batch_norm_forward_inference(__global const float* x, int x_off, int x_stride,
                                   __global float* y, int y_off, int y_stride,
                                   __global const float* running_mean, int running_mean_off,
                                   __global const float* running_var, int running_var_off,
                                   __global const float* weight, int weight_off,
                                   __global const float* bias, int bias_off,
                                   int N, int C, int P, float epsilon, int relu)
{
    const int gid = get_global_id(0);
    const int sample = C * P;
    if (gid >= N * sample) return;
    const int n = gid / sample;
    const int rem = gid - n * sample;
    const int c = rem / P;
    const float scale = weight[weight_off + c] / sqrt(running_var[running_var_off + c] + epsilon);
    const float v = (x[x_off + n * x_stride + rem] - running_mean[running_mean_off + c]) * scale + bias[bias_off + c];
    y[y_off + n * y_stride + rem] = (relu && v < 0.0f) ? 0.0f : v;  // a NaN passes the ReLU
}

// Whether dy (the gradient after a fused ReLU) counts: masked 0, always; 1, where the forward's
// output y > 0; 2, where that output, found again from x (batch_norm_value), is > 0.
inline bool relu_passes(int masked, float y, float x, float mean, float scale, float bias)
{
    if (masked == 1) return y > 0.0f;
    if (masked == 2) return batch_norm_value(x, mean, scale, bias) > 0.0f;
    return true;
}

// Per channel c, one work-group: sum_dy = Σ dy and sum_dy_xhat = Σ dy * xhat with
// xhat = (x - mean) * invstd, reduced in local memory; grad_bias[c] += sum_dy,
// grad_weight[c] += sum_dy_xhat; then the same group writes its channel's
// dx (+)= weight * invstd / M * (M * dy - sum_dy - xhat * sum_dy_xhat), M = N * P.
// dy is masked as relu_passes says (y is read when masked is 1, bias when it is 2).
__kernel void batch_norm_backward(__global const float* x, int x_off, int x_stride,
                                  __global const float* dy, int dy_off, int dy_stride,
                                  __global const float* y, int y_off, int y_stride, int masked,
                                  __global const float* bias, int bias_off,
                                  __global float* dx, int dx_off, int dx_stride,
                                  __global const float* weight, int weight_off,
                                  __global const float* mean, int mean_off,
                                  __global const float* invstd, int invstd_off,
                                  __global float* grad_weight, int grad_weight_off,
                                  __global float* grad_bias, int grad_bias_off,
                                  int N, int C, int P, int accumulate,
                                  __local float* scratch)
{
    const int c = get_group_id(0);
    const int lid = get_local_id(0);
    const int lsize = get_local_size(0);
    if (c >= C) return;  // whole groups only
    const int count = N * P;
    const float m = mean[mean_off + c];
    const float s = invstd[invstd_off + c];
    const float w = weight[weight_off + c];
    const float scale = s * w;
    const float b = masked == 2 ? bias[bias_off + c] : 0.0f;

    float sum_dy = 0.0f, sum_dy_xhat = 0.0f;
    for (int j = lid; j < count; j += lsize) {
        const int n = j / P;
        const int e = c * P + (j - n * P);
        const float xv = x[x_off + n * x_stride + e];
        const float yv = masked == 1 ? y[y_off + n * y_stride + e] : 0.0f;
        const float g = relu_passes(masked, yv, xv, m, scale, b) ? dy[dy_off + n * dy_stride + e] : 0.0f;
        sum_dy += g;
        sum_dy_xhat += g * (xv - m) * s;
    }
    // group_sum ends with a barrier: every x, dy and y of the channel has been read before any
    // dx is written, so dx may be dy.
    sum_dy = group_sum(sum_dy, scratch);
    sum_dy_xhat = group_sum(sum_dy_xhat, scratch);
    if (lid == 0) {
        grad_bias[grad_bias_off + c] += sum_dy;
        grad_weight[grad_weight_off + c] += sum_dy_xhat;
    }

    const float M = (float)count;
    for (int j = lid; j < count; j += lsize) {
        const int n = j / P;
        const int e = c * P + (j - n * P);
        const float xv = x[x_off + n * x_stride + e];
        const float xhat = (xv - m) * s;
        const float yv = masked == 1 ? y[y_off + n * y_stride + e] : 0.0f;
        const float g = relu_passes(masked, yv, xv, m, scale, b) ? dy[dy_off + n * dy_stride + e] : 0.0f;
        const float v = w * s / M * (M * g - sum_dy - xhat * sum_dy_xhat);
        ACCUMULATE(dx[dx_off + n * dx_stride + e], v, accumulate);
    }
}
