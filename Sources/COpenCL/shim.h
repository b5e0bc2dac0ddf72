#ifndef CLTRAIN_COPENCL_SHIM_H
#define CLTRAIN_COPENCL_SHIM_H
// OpenCL 1.2 is the common ground: NVIDIA exposes OpenCL C 1.2 only.
#define CL_TARGET_OPENCL_VERSION 120
#define CL_USE_DEPRECATED_OPENCL_1_2_APIS
#include <CL/cl.h>
#include <clblast_c.h>
#endif
