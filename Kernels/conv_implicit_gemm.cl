// Convolutions as tiled GEMMs that read their operands in place (implicit GEMM): no column
// matrix in global memory, the input's batch norm + ReLU applied as a tile loads, the bias added
// as the tile stores.
//
// Each op is C[M][N] (+)= A[M][K] * B[K][N]:
//   forward          M = Cout, N = n*Ho*Wo (positions across the batch), K = Cin*kh*kw;
//                    A = the weights, B = the input gathered at each tap (im2col, never written).
//   input gradient   M = Cin,  N = n*H*W, K = Cout*kh*kw;
//                    A = the weights transposed, B = gradOutput where a tap read the position.
//   weight gradient  M = Cout, N = Cin*kh*kw, K = n*Ho*Wo, split in slices across work-groups;
//                    A = gradOutput, B = the input gathered at each tap.
// Taking positions across the batch keeps the tiles full when channels are few (DenseNet's
// growth convolutions have 12 output channels).
//
// Built once per tile configuration with these defines:
//   TM, TN   the work-group's tile of C (rows x columns); TK the reduction step;
//   WM, WN   results per work-item, held in registers: rows ROW(i), columns COL(j): runs of VEC
//            neighbours, the runs RM*VEC (RN*VEC) apart, so neighbouring work-items store
//            neighbouring columns (coalesced) and read neighbouring local-memory words;
//   VEC      1, 2 or 4 (default 1): the width of those runs, and of each local-memory read of
//            the staged tiles (vload2/vload4: one wide read instead of VEC, what GPUs with
//            128-bit local loads want); WM and WN are multiples of it;
//   LDS      1: stage both operand tiles in local memory (GPUs: each value is read from global
//            memory once per work-group); 0: each work-item reads its operands straight from
//            global memory with no barrier, walking the taps in nested loops with no division
//            (CPUs such as PoCL, which keep the accumulators in registers only without barriers).
// The launch code guarantees THREADS % TN == 0 and THREADS % TK == 0, so each work-item loads
// the same GEMM column (forward, input gradient) or reduction row (weight gradient) of every
// tile, and works out where that lives once.
//
// Local tiles are stored k-major, one float of padding per row against bank conflicts.

#ifndef VEC
#define VEC 1
#endif
#define RM (TM / WM)
#define RN (TN / WN)
#define THREADS (RM * RN)
#define AS(k, m) as[(k) * (TM + 1) + (m)]
#define BS(k, n) bs[(k) * (TN + 1) + (n)]
// The tile row of this work-item's result i and column of its result j (tm, tn: its place).
#define ROW(i) (((i) / VEC) * (RM * VEC) + tm * VEC + (i) % VEC)
#define COL(j) (((j) / VEC) * (RN * VEC) + tn * VEC + (j) % VEC)

// dst[i .. i+VEC) = the VEC floats at p: one vector read (scalar alignment is all vloadn needs).
#if VEC == 4
#define LOAD_RUN(dst, i, p) { const float4 v_ = vload4(0, p); dst[i] = v_.s0; dst[(i) + 1] = v_.s1; dst[(i) + 2] = v_.s2; dst[(i) + 3] = v_.s3; }
#elif VEC == 2
#define LOAD_RUN(dst, i, p) { const float2 v_ = vload2(0, p); dst[i] = v_.s0; dst[(i) + 1] = v_.s1; }
#else
#define LOAD_RUN(dst, i, p) { dst[i] = *(p); }
#endif

// acc += the product of the staged tiles.
#define TILE_PRODUCT()                                                   \
    for (int kk = 0; kk < TK; ++kk) {                                    \
        float a[WM], b[WN];                                              \
        for (int i = 0; i < WM; i += VEC) LOAD_RUN(a, i, &AS(kk, ROW(i))) \
        for (int j = 0; j < WN; j += VEC) LOAD_RUN(b, j, &BS(kk, COL(j))) \
        for (int i = 0; i < WM; ++i)                                     \
            for (int j = 0; j < WN; ++j) acc[i][j] = mad(a[i], b[j], acc[i][j]); \
    }

#define CLEAR_ACC()                                                      \
    float acc[WM][WN];                                                   \
    for (int i = 0; i < WM; ++i)                                         \
        for (int j = 0; j < WN; ++j) acc[i][j] = 0.0f;

__kernel __attribute__((reqd_work_group_size(THREADS, 1, 1)))
void conv2d_forward_implicit_gemm(__global const float* x, int x_off, int x_stride,
                                  __global const float* w, int w_off,
                                  __global float* y, int y_off, int y_stride,
                                  __global const float* bias, int bias_off, int has_bias,
                                  CONV2D_INPUT_NORM_PARAMETERS,
                                  int nb, int C, int H, int W, int Ho, int Wo,
                                  int kh, int kw, int sh, int sw, int ph, int pw, int dh, int dw,
                                  int Co)
{
    __local float as[TK * (TM + 1)];
    __local float bs[TK * (TN + 1)];
    const int P = Ho * Wo;
    const int KK = kh * kw;
    const int K = C * KK;
    const int columns = nb * P;
    const int t = get_local_id(0);
    const int tm = t / RN, tn = t % RN;
    const int n0 = get_group_id(0) * TN;
    const int m0 = get_group_id(1) * TM;

    // This work-item's column of every B tile: sample i, output position (oy, ox).
    const int b_n = t % TN;
    const int b_k = t / TN;
    const int col = n0 + b_n;
    const bool col_ok = col < columns;
    const int ci = col_ok ? col / P : 0;
    const int cp = col - ci * P;
    const int oy = cp / Wo;
    const int ox = cp - oy * Wo;
    const int iy0 = oy * sh - ph, ix0 = ox * sw - pw;
    __global const float* xs = x + x_off + ci * x_stride;

    // This work-item's reduction step of every A tile (the weights are contiguous along K).
    const int a_k = t % TK;
    const int a_m = t / TK;

    CLEAR_ACC()
#if LDS
    for (int k0 = 0; k0 < K; k0 += TK) {
        for (int mm = a_m; mm < TM; mm += THREADS / TK) {
            const int m = m0 + mm, k = k0 + a_k;
            AS(a_k, mm) = (m < Co && k < K) ? w[w_off + m * K + k] : 0.0f;
        }
        for (int kk = b_k; kk < TK; kk += THREADS / TN) {
            const int k = k0 + kk;
            float v = 0.0f;
            if (col_ok && k < K) {
                const int c = k / KK;
                const int r = k - c * KK;
                const int ky = r / kw;
                const int iy = iy0 + ky * dh;
                const int ix = ix0 + (r - ky * kw) * dw;
                if (iy >= 0 && iy < H && ix >= 0 && ix < W) {
                    v = CONV2D_INPUT_NORM(xs[(c * H + iy) * W + ix], c);
                }
            }
            BS(kk, b_n) = v;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        TILE_PRODUCT()
        barrier(CLK_LOCAL_MEM_FENCE);
    }
#else
    // Columns COL(j) of the tile: where each reads the input.
    int base[WN], ry0[WN], rx0[WN];
    for (int j = 0; j < WN; ++j) {
        const int n = n0 + COL(j);
        const int i = n < columns ? n / P : 0;
        const int p = n - i * P;
        const int qy = p / Wo;
        base[j] = x_off + i * x_stride;
        // A column past the end reads nothing: its window starts out of range.
        ry0[j] = n < columns ? qy * sh - ph : -(1 << 28);
        rx0[j] = (p - qy * Wo) * sw - pw;
    }
    int row[WM];
    for (int i = 0; i < WM; ++i) row[i] = min(m0 + ROW(i), Co - 1) * K;
    // Taps outside, channels inside: a tap that reads only padding for every column of this
    // work-item is skipped whole (on DRN's dilated 4x4 maps most taps read only padding).
    const int HW = H * W;
    for (int ky = 0; ky < kh; ++ky) {
        for (int kx = 0; kx < kw; ++kx) {
            int at[WN];
            bool any = false;
            for (int j = 0; j < WN; ++j) {
                const int iy = ry0[j] + ky * dh, ix = rx0[j] + kx * dw;
                const bool inside = iy >= 0 && iy < H && ix >= 0 && ix < W;
                at[j] = inside ? base[j] + iy * W + ix : -1;
                any |= inside;
            }
            if (!any) continue;
            const int tap = ky * kw + kx;
            for (int c = 0; c < C; ++c) {
                // The input normalisation folded into one multiply-add per value.
                float scale = 1.0f, shift = 0.0f;
                if (has_norm) {
                    scale = norm_inv[norm_inv_off + c] * norm_w[norm_w_off + c];
                    shift = norm_b[norm_b_off + c] - norm_mean[norm_mean_off + c] * scale;
                }
                float a[WM], b[WN];
                for (int i = 0; i < WM; ++i) a[i] = w[w_off + row[i] + c * KK + tap];
                for (int j = 0; j < WN; ++j) {
                    float v = 0.0f;
                    if (at[j] >= 0) {
                        v = x[at[j] + c * HW];
                        if (has_norm) v = fmax(v * scale + shift, 0.0f);
                    }
                    b[j] = v;
                }
                for (int i = 0; i < WM; ++i)
                    for (int j = 0; j < WN; ++j) acc[i][j] = mad(a[i], b[j], acc[i][j]);
            }
        }
    }
#endif

    for (int j = 0; j < WN; ++j) {
        const int n = n0 + COL(j);
        if (n >= columns) continue;
        const int i = n / P;
        const int p = n - i * P;
        for (int r = 0; r < WM; ++r) {
            const int m = m0 + ROW(r);
            if (m >= Co) continue;
            y[y_off + i * y_stride + m * P + p] = acc[r][j] + (has_bias ? bias[bias_off + m] : 0.0f);
        }
    }
}

__kernel __attribute__((reqd_work_group_size(THREADS, 1, 1)))
void conv2d_backward_data_implicit_gemm(__global const float* dy, int dy_off, int dy_stride,
                                        __global const float* w, int w_off,
                                        __global float* dx, int dx_off, int dx_stride,
                                        int nb, int C, int H, int W, int Ho, int Wo,
                                        int kh, int kw, int sh, int sw, int ph, int pw, int dh, int dw,
                                        int Co, int accumulate)
{
    __local float as[TK * (TM + 1)];
    __local float bs[TK * (TN + 1)];
    const int P = Ho * Wo;
    const int HW = H * W;
    const int KK = kh * kw;
    const int K = Co * KK;
    const int columns = nb * HW;
    const int t = get_local_id(0);
    const int tm = t / RN, tn = t % RN;
    const int n0 = get_group_id(0) * TN;
    const int m0 = get_group_id(1) * TM;

    // This work-item's column of every B tile: sample i, input position (y, x).
    const int b_n = t % TN;
    const int b_k = t / TN;
    const int col = n0 + b_n;
    const bool col_ok = col < columns;
    const int ci = col_ok ? col / HW : 0;
    const int q = col - ci * HW;
    const int yy = q / W;
    const int xx = q - yy * W;
    __global const float* dys = dy + dy_off + ci * dy_stride;

    const int a_k = t % TK;
    const int a_m = t / TK;

    CLEAR_ACC()
#if LDS
    for (int k0 = 0; k0 < K; k0 += TK) {
        // A[m = input channel][k = (output channel, tap)] = w[co][m][tap].
        for (int mm = a_m; mm < TM; mm += THREADS / TK) {
            const int m = m0 + mm, k = k0 + a_k;
            float v = 0.0f;
            if (m < C && k < K) {
                const int co = k / KK;
                v = w[w_off + (co * C + m) * KK + (k - co * KK)];
            }
            AS(a_k, mm) = v;
        }
        // B[k = (co, ky, kx)][(i, y, x)] = dy[i][co][oy][ox] where oy*sh = y + ph - ky*dh.
        for (int kk = b_k; kk < TK; kk += THREADS / TN) {
            const int k = k0 + kk;
            float v = 0.0f;
            if (col_ok && k < K) {
                const int co = k / KK;
                const int r = k - co * KK;
                const int ky = r / kw;
                const int ty = yy + ph - ky * dh;
                const int tx = xx + pw - (r - ky * kw) * dw;
                if (ty >= 0 && tx >= 0 && ty % sh == 0 && tx % sw == 0) {
                    const int oy = ty / sh, ox = tx / sw;
                    if (oy < Ho && ox < Wo) v = dys[co * P + oy * Wo + ox];
                }
            }
            BS(kk, b_n) = v;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        TILE_PRODUCT()
        barrier(CLK_LOCAL_MEM_FENCE);
    }
#else
    // Columns COL(j) of the tile: the input position each gathers gradOutput for.
    int base[WN], ty0[WN], tx0[WN];
    for (int j = 0; j < WN; ++j) {
        const int n = n0 + COL(j);
        const int i = n < columns ? n / HW : 0;
        const int p = n - i * HW;
        const int py = p / W;
        base[j] = dy_off + i * dy_stride;
        ty0[j] = n < columns ? py + ph : -(1 << 28);
        tx0[j] = p - py * W + pw;
    }
    int chan[WM];
    for (int i = 0; i < WM; ++i) chan[i] = min(m0 + ROW(i), C - 1);
    // Taps outside, output channels inside: a tap no column of this work-item receives from is
    // skipped whole (stride 2 leaves three of four positions without most taps).
    for (int ky = 0; ky < kh; ++ky) {
        for (int kx = 0; kx < kw; ++kx) {
            int at[WN];
            bool any = false;
            for (int j = 0; j < WN; ++j) {
                const int ty = ty0[j] - ky * dh, tx = tx0[j] - kx * dw;
                const bool reads = ty >= 0 && tx >= 0 && ty % sh == 0 && tx % sw == 0 && ty / sh < Ho && tx / sw < Wo;
                at[j] = reads ? base[j] + (ty / sh) * Wo + tx / sw : -1;
                any |= reads;
            }
            if (!any) continue;
            for (int co = 0; co < Co; ++co) {
                float a[WM], b[WN];
                for (int i = 0; i < WM; ++i) a[i] = w[w_off + ((co * C + chan[i]) * kh + ky) * kw + kx];
                for (int j = 0; j < WN; ++j) b[j] = at[j] >= 0 ? dy[at[j] + co * P] : 0.0f;
                for (int i = 0; i < WM; ++i)
                    for (int j = 0; j < WN; ++j) acc[i][j] = mad(a[i], b[j], acc[i][j]);
            }
        }
    }
#endif

    for (int j = 0; j < WN; ++j) {
        const int n = n0 + COL(j);
        if (n >= columns) continue;
        const int i = n / HW;
        const int p = n - i * HW;
        for (int r = 0; r < WM; ++r) {
            const int m = m0 + ROW(r);
            if (m >= C) continue;
            const int d = dx_off + i * dx_stride + m * HW + p;
            ACCUMULATE(dx[d], acc[r][j], accumulate);
        }
    }
}

// One slice of the reduction per get_group_id(2), `slice` positions long (a multiple of TK).
// `direct`: one slice only, added straight into the gradient; otherwise the slice's partial sums
// go to out[slice][Co][C*kh*kw] for conv2d_backward_weight_reduce.
__kernel __attribute__((reqd_work_group_size(THREADS, 1, 1)))
void conv2d_backward_weight_implicit_gemm(__global const float* x, int x_off, int x_stride,
                                          __global const float* dy, int dy_off, int dy_stride,
                                          __global float* out, int out_off, int direct,
                                          CONV2D_INPUT_NORM_PARAMETERS,
                                          int nb, int C, int H, int W, int Ho, int Wo,
                                          int kh, int kw, int sh, int sw, int ph, int pw, int dh, int dw,
                                          int Co, int slice)
{
    __local float as[TK * (TM + 1)];
    __local float bs[TK * (TN + 1)];
    const int P = Ho * Wo;
    const int KK = kh * kw;
    const int N = C * KK;
    const int K = nb * P;
    const int t = get_local_id(0);
    const int tm = t / RN, tn = t % RN;
    const int n0 = get_group_id(0) * TN;
    const int m0 = get_group_id(1) * TM;
    const int k_begin = get_group_id(2) * slice;
    const int k_end = min(K, k_begin + slice);

    // Each work-item loads reduction row k0 + t % TK of both tiles (consecutive work-items read
    // consecutive positions of gradOutput and of the input).
    const int l_k = t % TK;
    const int l_c = t / TK;

    CLEAR_ACC()
#if LDS
    for (int k0 = k_begin; k0 < k_end; k0 += TK) {
        const int k = k0 + l_k;
        const bool k_ok = k < k_end;
        const int i = k_ok ? k / P : 0;
        const int p = k - i * P;
        const int oy = p / Wo;
        const int ox = p - oy * Wo;
        // A[m = output channel][k = (i, p)] = dy[i][m][p].
        for (int mm = l_c; mm < TM; mm += THREADS / TK) {
            const int m = m0 + mm;
            AS(l_k, mm) = (k_ok && m < Co) ? dy[dy_off + i * dy_stride + m * P + p] : 0.0f;
        }
        // B[k = (i, oy, ox)][n = (c, ky, kx)] = the normalised input the tap reads.
        __global const float* xs = x + x_off + i * x_stride;
        const int iy0 = oy * sh - ph, ix0 = ox * sw - pw;
        for (int nn = l_c; nn < TN; nn += THREADS / TK) {
            const int n = n0 + nn;
            float v = 0.0f;
            if (k_ok && n < N) {
                const int c = n / KK;
                const int r = n - c * KK;
                const int ky = r / kw;
                const int iy = iy0 + ky * dh;
                const int ix = ix0 + (r - ky * kw) * dw;
                if (iy >= 0 && iy < H && ix >= 0 && ix < W) {
                    v = CONV2D_INPUT_NORM(xs[(c * H + iy) * W + ix], c);
                }
            }
            BS(l_k, nn) = v;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        TILE_PRODUCT()
        barrier(CLK_LOCAL_MEM_FENCE);
    }
#else
    // Columns COL(j) of the tile: each a tap (c, ky, kx), with its channel's normalisation
    // folded into one multiply-add.
    int tap[WN], toy[WN], tox[WN];
    float scale[WN], shift[WN];
    for (int j = 0; j < WN; ++j) {
        const int n = min(n0 + COL(j), N - 1);
        const int c = n / KK;
        const int r = n - c * KK;
        const int ky = r / kw;
        tap[j] = c * H * W;
        toy[j] = ky * dh - ph;
        tox[j] = (r - ky * kw) * dw - pw;
        scale[j] = has_norm ? norm_inv[norm_inv_off + c] * norm_w[norm_w_off + c] : 1.0f;
        shift[j] = has_norm ? norm_b[norm_b_off + c] - norm_mean[norm_mean_off + c] * scale[j] : 0.0f;
    }
    int chan[WM];
    for (int i = 0; i < WM; ++i) chan[i] = min(m0 + ROW(i), Co - 1) * P;
    // Walk the slice's positions (sample, oy, ox) without dividing.
    int si = k_begin / P;
    int sp = k_begin - si * P;
    int oy = sp / Wo;
    int ox = sp - oy * Wo;
    for (int k = k_begin; k < k_end; ++k) {
        const int xb = x_off + si * x_stride;
        const int db = dy_off + si * dy_stride + oy * Wo + ox;
        float a[WM], b[WN];
        for (int i = 0; i < WM; ++i) a[i] = dy[db + chan[i]];
        for (int j = 0; j < WN; ++j) {
            const int iy = oy * sh + toy[j], ix = ox * sw + tox[j];
            float v = 0.0f;
            if (iy >= 0 && iy < H && ix >= 0 && ix < W) {
                v = x[xb + tap[j] + iy * W + ix];
                if (has_norm) v = fmax(v * scale[j] + shift[j], 0.0f);
            }
            b[j] = v;
        }
        for (int i = 0; i < WM; ++i)
            for (int j = 0; j < WN; ++j) acc[i][j] = mad(a[i], b[j], acc[i][j]);
        if (++ox == Wo) {
            ox = 0;
            if (++oy == Ho) { oy = 0; ++si; }
        }
    }
#endif

    __global float* o = out + out_off + (direct ? 0 : get_group_id(2) * Co * N);
    for (int r = 0; r < WM; ++r) {
        const int m = m0 + ROW(r);
        if (m >= Co) continue;
        for (int j = 0; j < WN; ++j) {
            const int n = n0 + COL(j);
            if (n >= N) continue;
            if (direct) o[m * N + n] += acc[r][j];
            else o[m * N + n] = acc[r][j];
        }
    }
}

// grad[e] += sum over s of partial[s][e], for the `slices` partial sums of the weight gradient.
__kernel void conv2d_backward_weight_reduce(__global const float* partial, int partial_off,
                                            __global float* grad, int grad_off,
                                            int slices, int count)
{
    const int e = get_global_id(0);
    if (e >= count) return;
    float sum = 0.0f;
    for (int s = 0; s < slices; ++s) sum += partial[partial_off + s * count + e];
    grad[grad_off + e] += sum;
}
