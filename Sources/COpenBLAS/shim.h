#ifndef CLTRAIN_COPENBLAS_SHIM_H
#define CLTRAIN_COPENBLAS_SHIM_H
#include <cblas.h>
#endif
