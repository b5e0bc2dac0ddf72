#ifndef CLTRAIN_CTURBOJPEG_SHIM_H
#define CLTRAIN_CTURBOJPEG_SHIM_H
#include <turbojpeg.h>
#endif
