#ifndef CLTRAIN_CPU_KERNELS_MODULE_H
#define CLTRAIN_CPU_KERNELS_MODULE_H

// The module's umbrella header: every header a Swift target sees through `import
// CLTrainCPUKernels` is listed here (a new header changes this file, so an existing build's
// module cache is rebuilt instead of missing the new declarations).

#include "cltrain_cpu_kernels.h"
#include "cltrain_cpu_pool.h"

#endif
