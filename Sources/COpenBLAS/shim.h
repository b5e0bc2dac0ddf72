#ifndef CLTRAIN_COPENBLAS_SHIM_H
#define CLTRAIN_COPENBLAS_SHIM_H
#include <cblas.h>
#include <stdlib.h>
#include <strings.h>

// A DYNAMIC_ARCH OpenBLAS (Debian's) picks its kernels by the CPU's family and model number when
// it loads. A CPU newer than the library falls back to a generic core: OpenBLAS 0.3.21 runs an
// Emerald Rapids Xeon (family 6, model 207, AVX-512) with its SSE3 "Prescott" kernels, at a sixth
// of the speed. These entry points re-run that choice; they are weak so that a build of OpenBLAS
// without them (one architecture only) still links, and nothing changes there.
extern void gotoblas_dynamic_init(void) __attribute__((weak));
extern void gotoblas_dynamic_quit(void) __attribute__((weak));

/// Whether OpenBLAS's core `name` is older than the kernels `better` names for this CPU.
static inline int cltrain_openblas_core_is_older(const char *name, const char *better) {
    static const char *const pre_avx2[] = {
        "Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Sandybridge", "Atom", "Nano", "Katmai", "Coppermine",
        "Northwood", "Banias", "Athlon", "Opteron", "Opteron_SSE3", "Barcelona", "Bobcat", "Bulldozer", "Piledriver", 0
    };
    for (int i = 0; pre_avx2[i]; i++) {
        if (strcasecmp(name, pre_avx2[i]) == 0) return 1;
    }
    // Below AVX-512: AVX2 cores (an AVX-512 CPU OpenBLAS did not recognise as one).
    return strcasecmp(better, "SkylakeX") == 0 &&
           (strcasecmp(name, "Haswell") == 0 || strcasecmp(name, "Zen") == 0 || strcasecmp(name, "Steamroller") == 0 ||
            strcasecmp(name, "Excavator") == 0);
}

/// When OpenBLAS chose a core older than what this CPU runs (an unknown model), switch it to the
/// kernels the CPU's features allow: SkylakeX with AVX-512 (F, BW, VL, DQ), Haswell with AVX2 and
/// FMA. Returns the core chosen, or NULL when nothing changed (the library's choice fits, the user
/// set OPENBLAS_CORETYPE, or this OpenBLAS cannot switch). Call before any BLAS call runs.
static inline const char *cltrain_openblas_select_core(void) {
    if (getenv("OPENBLAS_CORETYPE") != NULL || !gotoblas_dynamic_init || !gotoblas_dynamic_quit) return NULL;
    const char *better = NULL;
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512dq")) {
        better = "SkylakeX";
    } else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        better = "Haswell";
    }
    const char *current = openblas_get_corename();
    if (better == NULL || current == NULL || !cltrain_openblas_core_is_older(current, better)) return NULL;
    // OpenBLAS reads OPENBLAS_CORETYPE as it chooses; the variable is removed again afterwards.
    setenv("OPENBLAS_CORETYPE", better, 1);
    gotoblas_dynamic_quit();
    gotoblas_dynamic_init();
    unsetenv("OPENBLAS_CORETYPE");
    return better;
}
#endif
