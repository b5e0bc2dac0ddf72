// The three paths of the batch-norm, direct-convolution, Winograd and region-plan loops and the
// choice between them (see the header).

#include "cltrain_cpu_kernels.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

// Every batch-norm loop rounds each product and sum as the scalar code reads: no fused
// multiply-adds (the convolution loops turn contraction back on for themselves).
#pragma clang fp contract(off)

/// max(v, 0), a NaN kept, -0 written as +0: the vector paths' ReLU, one lane.
static inline float scalar_relu(float v) { return v <= 0 ? 0.0f : v; }
/// dy where r > 0, else 0.
static inline float scalar_masked(float dy, float r) { return r > 0 ? dy : 0.0f; }

#if defined(__x86_64__) || defined(__i386__)
#define CLTRAIN_X86 1
#endif

#ifdef CLTRAIN_X86
// 16 lanes, one register per accumulator: with 32 (two registers), drn-c-tiny's one-step PyTorch
// parity (PyTorchParityTests) fails on this path although every loop stays within float rounding
// of a Double reference; 32 lanes on the AVX2 path fails the same way, so it is the order of
// the additions, not the instructions (see the commit that chose 16).
// The convolution loops take CL lanes (one register) and blocks of CB output channels: 2 * CB
// accumulators, two input registers and a broadcast fit 32 registers (AVX-512) or 16.
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma"))), apply_to = function)
#define W 16
#define NAME(x) avx512_##x
#define CL 16
#define CB 12
#include "vectors_body.inc"
#include "conv_body.inc"
#include "winograd_body.inc"
#include "region_body.inc"
#include "kernels_body.inc"
#undef CB
#undef CL
#undef NAME
#undef W
#pragma clang attribute pop

#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#define W 16
#define NAME(x) avx2_##x
#define CL 8
#define CB 6
#include "vectors_body.inc"
#include "conv_body.inc"
#include "winograd_body.inc"
#include "region_body.inc"
#include "kernels_body.inc"
#undef CB
#undef CL
#undef NAME
#undef W
#pragma clang attribute pop
#endif

#define W 8
#define NAME(x) baseline_##x
#define CL 4
#define CB 6
#include "vectors_body.inc"
#include "conv_body.inc"
#include "winograd_body.inc"
#include "region_body.inc"
#include "kernels_body.inc"
#undef CB
#undef CL
#undef NAME
#undef W

/// The best path this CPU (and its OS) runs.
static cltrain_cpu_kernels_path_t supported_path(void) {
#ifdef CLTRAIN_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("fma"))
        return CLTRAIN_CPU_KERNELS_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return CLTRAIN_CPU_KERNELS_AVX2;
#endif
    return CLTRAIN_CPU_KERNELS_BASELINE;
}

/// The supported path, lowered to CLTRAIN_CPU_KERNELS where that names a lower one.
static cltrain_cpu_kernels_path_t chosen_path(void) {
    cltrain_cpu_kernels_path_t path = supported_path();
    const char *asked = getenv("CLTRAIN_CPU_KERNELS");
    if (asked) {
        cltrain_cpu_kernels_path_t wanted = path;
        if (strcmp(asked, "baseline") == 0) wanted = CLTRAIN_CPU_KERNELS_BASELINE;
        else if (strcmp(asked, "avx2") == 0) wanted = CLTRAIN_CPU_KERNELS_AVX2;
        else if (strcmp(asked, "avx512") == 0) wanted = CLTRAIN_CPU_KERNELS_AVX512;
        if (wanted < path) path = wanted;
    }
    return path;
}

/// The chosen path plus one, 0 before the first call. Every thread computes the same value, so
/// a race only repeats the work.
static _Atomic int active = 0;

cltrain_cpu_kernels_path_t cltrain_cpu_kernels_active_path(void) {
    int value = atomic_load_explicit(&active, memory_order_relaxed);
    if (value == 0) {
        value = (int)chosen_path() + 1;
        atomic_store_explicit(&active, value, memory_order_relaxed);
    }
    return (cltrain_cpu_kernels_path_t)(value - 1);
}

const char *cltrain_cpu_kernels_path(void) {
    switch (cltrain_cpu_kernels_active_path()) {
    case CLTRAIN_CPU_KERNELS_AVX512: return "avx512";
    case CLTRAIN_CPU_KERNELS_AVX2: return "avx2";
    default: return "baseline";
    }
}

const cltrain_cpu_kernels_t *cltrain_cpu_kernels_for_path(cltrain_cpu_kernels_path_t path) {
    if (path > supported_path()) return NULL;
    switch (path) {
#ifdef CLTRAIN_X86
    case CLTRAIN_CPU_KERNELS_AVX512: return &avx512_kernels;
    case CLTRAIN_CPU_KERNELS_AVX2: return &avx2_kernels;
#endif
    case CLTRAIN_CPU_KERNELS_BASELINE: return &baseline_kernels;
    default: return NULL;
    }
}

const cltrain_cpu_kernels_t *cltrain_cpu_kernels(void) {
    return cltrain_cpu_kernels_for_path(cltrain_cpu_kernels_active_path());
}
