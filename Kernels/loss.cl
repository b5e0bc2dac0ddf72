// Softmax cross-entropy over logits [N, C] (sample strides honoured). Labels are floats
// holding class indices.

// One work-item per sample: p = softmax(z) computed stably (z - max), loss = -Σ_j q_j log p_j
// against the smoothed target q = (1 - eps) onehot(label) + eps / C
// = log Σ exp(z - max) - (1 - eps)(z[label] - max) - eps / C Σ_j (z_j - max).
__kernel void softmax_cross_entropy_forward(__global const float* z, int z_off, int z_stride,
                                            __global const float* labels, int labels_off, int labels_stride,
                                            __global float* p, int p_off, int p_stride,
                                            __global float* loss, int loss_off, int loss_stride,
                                            int N, int C, float eps)
{
    const int n = get_global_id(0);
    if (n >= N) return;
    __global const float* row = z + z_off + n * z_stride;
    __global float* prob = p + p_off + n * p_stride;

    float m = -INFINITY;
    for (int j = 0; j < C; ++j) m = fmax(m, row[j]);
    float sum = 0.0f, shifted = 0.0f;
    for (int j = 0; j < C; ++j) {
        shifted += row[j] - m;
        const float e = exp(row[j] - m);
        prob[j] = e;
        sum += e;
    }
    const float inv = 1.0f / sum;
    for (int j = 0; j < C; ++j) prob[j] *= inv;
    const int label = (int)labels[labels_off + n * labels_stride];
    const float target = (label >= 0 && label < C) ? row[label] - m : -INFINITY;
    const float smoothed = eps > 0.0f ? (1.0f - eps) * target + eps / C * shifted : target;
    loss[loss_off + n * loss_stride] = log(sum) - smoothed;
}

// dz[n, j] = scale * (p[n, j] - q[n, j]), q the smoothed target; one work-item per element.
__kernel void softmax_cross_entropy_backward(__global const float* p, int p_off, int p_stride,
                                             __global const float* labels, int labels_off, int labels_stride,
                                             __global float* dz, int dz_off, int dz_stride,
                                             int N, int C, float scale, float eps)
{
    const int gid = get_global_id(0);
    if (gid >= N * C) return;
    const int n = gid / C;
    const int j = gid - n * C;
    const int label = (int)labels[labels_off + n * labels_stride];
    const float off = eps / C;
    const float target = j == label ? 1.0f - eps + off : off;
    dz[dz_off + n * dz_stride + j] = scale * (p[p_off + n * p_stride + j] - target);
}
