// Shared helpers for Lumen's CUDA kernels. Compiled by NVRTC through
// cupy.RawModule at run time and by nvcc in tests/backends/test_cuda_compile.py,
// so only builtin device headers may be included here.
#pragma once
#include <cuda_fp16.h>

namespace lumen {

// Accumulation type: __half inputs accumulate in float so that long sums
// (GEMM reductions, pooling windows) keep float precision.
template <typename T> struct Acc { typedef T type; };
template <> struct Acc<__half> { typedef float type; };

template <typename T>
__device__ __forceinline__ typename Acc<T>::type to_acc(T v) { return v; }
template <>
__device__ __forceinline__ float to_acc<__half>(__half v) { return __half2float(v); }

template <typename T>
__device__ __forceinline__ T from_acc(typename Acc<T>::type v) { return v; }
template <>
__device__ __forceinline__ __half from_acc<__half>(float v) { return __float2half(v); }

// -inf without math_constants.h, which NVRTC does not ship.
template <typename A> __device__ __forceinline__ A neg_inf();
template <> __device__ __forceinline__ float neg_inf<float>() { return __int_as_float(0xff800000); }
template <> __device__ __forceinline__ double neg_inf<double>() {
    return __longlong_as_double(0xfff0000000000000ULL);
}

__device__ __forceinline__ float exp_(float v) { return expf(v); }
__device__ __forceinline__ double exp_(double v) { return exp(v); }
__device__ __forceinline__ float log_(float v) { return logf(v); }
__device__ __forceinline__ double log_(double v) { return log(v); }
__device__ __forceinline__ float pow_(float b, float e) { return powf(b, e); }
__device__ __forceinline__ double pow_(double b, double e) { return pow(b, e); }

}  // namespace lumen

// Grid-stride loop over [0, n) with a 64-bit counter: element counts of large
// activations (N*C*H*W) can exceed what a single launch covers.
#define LUMEN_KERNEL_LOOP(i, n)                                                   \
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (n); \
         i += (long long)blockDim.x * gridDim.x)
