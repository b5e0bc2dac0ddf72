// Optimizer steps, one work-item per parameter element. The tensors of one parameter share
// its shape; each is addressed as (pointer, element offset, sample stride) with N samples of
// S elements.

#define AT(off, stride) ((off) + (gid / S) * (stride) + (gid % S))

// SGD with momentum (PyTorch semantics, dampening 0):
// d = g + wd * w; buf = momentum * buf + d; d = nesterov ? d + momentum * buf : buf; w -= lr * d.
__kernel void sgd_update(__global float* w, int w_off, int w_stride,
                         __global const float* g, int g_off, int g_stride,
                         __global float* buf, int buf_off, int buf_stride,
                         int N, int S, float lr, float momentum, float weight_decay, int nesterov)
{
    const int gid = get_global_id(0);
    if (gid >= N * S) return;
    const int wi = AT(w_off, w_stride);
    const int bi = AT(buf_off, buf_stride);
    const float param = w[wi];
    float d = g[AT(g_off, g_stride)] + weight_decay * param;
    const float b = momentum * buf[bi] + d;
    buf[bi] = b;
    d = nesterov ? d + momentum * b : b;
    w[wi] = param - lr * d;
}

// Adam with L2 weight decay; bias1 = 1 - beta1^t and bias2 = 1 - beta2^t come from the host.
// g = grad + wd * w; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
// w -= lr * (m / bias1) / (sqrt(v / bias2) + eps).
__kernel void adam_update(__global float* w, int w_off, int w_stride,
                          __global const float* grad, int grad_off, int grad_stride,
                          __global float* m1, int m1_off, int m1_stride,
                          __global float* m2, int m2_off, int m2_stride,
                          int N, int S, float lr, float beta1, float beta2, float epsilon,
                          float weight_decay, float bias1, float bias2)
{
    const int gid = get_global_id(0);
    if (gid >= N * S) return;
    const int wi = AT(w_off, w_stride);
    const int mi = AT(m1_off, m1_stride);
    const int vi = AT(m2_off, m2_stride);
    const float param = w[wi];
    const float g = grad[AT(grad_off, grad_stride)] + weight_decay * param;
    const float m = beta1 * m1[mi] + (1.0f - beta1) * g;
    const float v = beta2 * m2[vi] + (1.0f - beta2) * g * g;
    m1[mi] = m;
    m2[vi] = v;
    w[wi] = param - lr * (m / bias1) / (sqrt(v / bias2) + epsilon);
}
