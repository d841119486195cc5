// Stand-in for CUDA's cuda_fp16.h when the kernels are compiled as host C++ by the emulator:
// __half is GCC's _Float16 (IEEE binary16, the layout of numpy.float16), so host arrays pass through
// unchanged. Only what Lumen's kernels call is here; a kernel using more fails to compile.
#pragma once

typedef _Float16 __half;

inline float __half2float(__half v) { return (float)v; }
inline __half __float2half(float v) { return (__half)v; }  // round to nearest even, as __float2half
