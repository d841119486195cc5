// Local response normalisation across channels, PyTorch's definition:
//   scale[c] = k + alpha / size * sum_{c' = c - size/2}^{c + (size-1)/2} x[c']^2
//   y[c]     = x[c] * scale[c]^-beta
// (channels outside [0, C) count as zero). One thread per element; the
// window is summed directly rather than as Caffe's running sum, which drifts
// in float over hundreds of channels.
#include "common.cuh"

template <typename T>
__global__ void lrn_fwd(const T* __restrict__ x, T* __restrict__ y, T* __restrict__ scale,
                        long long total, int C, long long HW, int size, double alpha_,
                        double beta_, double k_) {
    typedef typename lumen::Acc<T>::type A;
    const A alpha = (A)alpha_, beta = (A)beta_, k = (A)k_;
    LUMEN_KERNEL_LOOP(e, total) {
        const long long p = e % HW;
        const int c = (int)((e / HW) % C);
        const long long n = e / (HW * C);
        const T* xn = x + n * C * HW + p;
        const int c0 = max(c - size / 2, 0), c1 = min(c + (size - 1) / 2, C - 1);
        A s = 0;
        for (int cc = c0; cc <= c1; ++cc) {
            const A v = lumen::to_acc<T>(xn[cc * HW]);
            s += v * v;
        }
        const A sc = k + alpha / (A)size * s;
        scale[e] = lumen::from_acc<T>(sc);
        y[e] = lumen::from_acc<T>(lumen::to_acc<T>(x[e]) * lumen::pow_(sc, -beta));
    }
}

// dL/dx[c] = gy[c] * scale[c]^-beta
//          - 2*alpha*beta/size * x[c] * sum_{c' : c in window(c')} gy[c'] * y[c'] / scale[c']
// and c lies in window(c') exactly when c - (size-1)/2 <= c' <= c + size/2
// (the window reflected, which matters for even sizes).
template <typename T>
__global__ void lrn_bwd(const T* __restrict__ x, const T* __restrict__ y,
                        const T* __restrict__ scale, const T* __restrict__ gy, T* __restrict__ gx,
                        long long total, int C, long long HW, int size, double alpha_,
                        double beta_) {
    typedef typename lumen::Acc<T>::type A;
    const A alpha = (A)alpha_, beta = (A)beta_;
    LUMEN_KERNEL_LOOP(e, total) {
        const long long p = e % HW;
        const int c = (int)((e / HW) % C);
        const long long off = (e / (HW * C)) * C * HW + p;
        const int c0 = max(c - (size - 1) / 2, 0), c1 = min(c + size / 2, C - 1);
        A s = 0;
        for (int cc = c0; cc <= c1; ++cc) {
            const long long j = off + cc * HW;
            s += lumen::to_acc<T>(gy[j]) * lumen::to_acc<T>(y[j]) / lumen::to_acc<T>(scale[j]);
        }
        const A sc = lumen::to_acc<T>(scale[e]);
        const A g = lumen::to_acc<T>(gy[e]) * lumen::pow_(sc, -beta) -
                    (A)2 * alpha * beta / (A)size * lumen::to_acc<T>(x[e]) * s;
        gx[e] = lumen::from_acc<T>(g);
    }
}
