#ifndef CLTRAIN_CZLIB_SHIM_H
#define CLTRAIN_CZLIB_SHIM_H
#include <zlib.h>
#endif
