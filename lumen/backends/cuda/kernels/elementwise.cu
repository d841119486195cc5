// Small fused element-wise kernels on NCHW (or (N, C, S)) arrays.
#include "common.cuh"

// y[n, c, s] = max(y[n, c, s] + b[c], 0) in place (convolution epilogue).
template <typename T>
__global__ void bias_relu_inplace(T* __restrict__ y, const T* __restrict__ b, long long total,
                                  int C, long long S) {
    typedef typename lumen::Acc<T>::type A;
    LUMEN_KERNEL_LOOP(e, total) {
        const A v = lumen::to_acc<T>(y[e]) + lumen::to_acc<T>(b[(e / S) % C]);
        y[e] = lumen::from_acc<T>(v > A(0) ? v : A(0));
    }
}

// y[n, c, s] = x[n, c, s] + b[c]
template <typename T>
__global__ void bias_add(const T* __restrict__ x, const T* __restrict__ b, T* __restrict__ y,
                         long long total, int C, long long S) {
    LUMEN_KERNEL_LOOP(e, total) {
        y[e] = lumen::from_acc<T>(lumen::to_acc<T>(x[e]) + lumen::to_acc<T>(b[(e / S) % C]));
    }
}

// max(x, 0), NaN kept (as torch.relu).
template <typename T>
__global__ void relu(const T* __restrict__ x, T* __restrict__ y, long long total) {
    typedef typename lumen::Acc<T>::type A;
    LUMEN_KERNEL_LOOP(e, total) {
        const A v = lumen::to_acc<T>(x[e]);
        y[e] = lumen::from_acc<T>(v < A(0) ? A(0) : v);
    }
}

// Inverted-dropout mask from uniforms u in [0, 1): 1/(1-p) where u >= p, else 0.
template <typename T>
__global__ void dropout_mask(const float* __restrict__ u, T* __restrict__ mask, long long total,
                             double p, double scale) {
    typedef typename lumen::Acc<T>::type A;
    const A keep = (A)scale;
    LUMEN_KERNEL_LOOP(e, total) { mask[e] = lumen::from_acc<T>((double)u[e] >= p ? keep : A(0)); }
}

// y[n, c, i, j] = x[n, c, oh + i, ow + j] (FCN's crop layer); the host checks
// that the window lies inside x.
template <typename T>
__global__ void crop(const T* __restrict__ x, T* __restrict__ y, long long total, int H, int W,
                     int h, int w, int oh, int ow) {
    LUMEN_KERNEL_LOOP(e, total) {
        const int j = (int)(e % w);
        const int i = (int)((e / w) % h);
        const long long plane = e / ((long long)w * h);
        y[e] = x[plane * H * W + (long long)(oh + i) * W + (ow + j)];
    }
}
