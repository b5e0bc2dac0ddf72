// Concatenation support: copy (or add) a sample-contiguous tensor into another with the same
// shape and its own sample stride. Writing each input into a channel slice of the block's
// output is the concatenation; reading each slice back out is its backward (split).

// dst[n, j] (+)= src[n, j] for n < N, j < S (S = elements per sample).
__kernel void channel_copy(__global const float* src, int src_off, int src_stride,
                           __global float* dst, int dst_off, int dst_stride,
                           int N, int S, int accumulate)
{
    const int gid = get_global_id(0);
    if (gid >= N * S) return;
    const int n = gid / S;
    const int j = gid - n * S;
    ACCUMULATE(dst[dst_off + n * dst_stride + j], src[src_off + n * src_stride + j], accumulate);
}
