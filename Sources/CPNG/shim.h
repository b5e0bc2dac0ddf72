#ifndef CLTRAIN_CPNG_SHIM_H
#define CLTRAIN_CPNG_SHIM_H
#include <png.h>
#endif
