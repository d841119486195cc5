// im2col / col2im for the GEMM convolution algorithm (Caffe's layout).
//
// The column buffer holds, for image n of a chunk and group g, a
// (Cg*kh*kw, Ho*Wo) matrix; element (n, g, kk, l) lives at
//   n*sn + g*sg + kk*sk + l
// so the caller picks the layout by its strides: (nb, G, K, L) for forward
// and backward-data (one batched GEMM per group), (G, K, nb, L) for
// backward-filter (the batch joins the GEMM reduction).
#include "common.cuh"

// One thread per (image, channel, output position) writes the kh*kw column
// entries of that position; neighbouring threads write neighbouring l, so the
// stores coalesce.
template <typename T>
__global__ void im2col(const T* __restrict__ x, T* __restrict__ col, long long total,
                       int C, int H, int W, int Cg, int kh, int kw, int sh, int sw,
                       int ph, int pw, int dh, int dw, int Ho, int Wo,
                       long long sn, long long sg, long long sk) {
    const long long L = (long long)Ho * Wo;
    LUMEN_KERNEL_LOOP(idx, total) {
        const int l = (int)(idx % L);
        const long long t = idx / L;
        const int c = (int)(t % C);
        const long long n = t / C;
        const int oh = l / Wo, ow = l % Wo;
        const int g = c / Cg, cg = c % Cg;
        const T* xp = x + (n * C + c) * (long long)H * W;
        T* cp = col + n * sn + g * sg + (long long)cg * kh * kw * sk + l;
        const int ih0 = oh * sh - ph, iw0 = ow * sw - pw;
        for (int i = 0; i < kh; ++i) {
            const int ih = ih0 + i * dh;
            const bool row_in = ih >= 0 && ih < H;
            for (int j = 0; j < kw; ++j) {
                const int iw = iw0 + j * dw;
                *cp = (row_in && iw >= 0 && iw < W) ? xp[ih * W + iw] : lumen::from_acc<T>(0);
                cp += sk;
            }
        }
    }
}

// Deterministic col2im: one thread per input pixel gathers every column entry
// that was read from it (no atomics, so results do not depend on scheduling).
// Overwrites gx.
template <typename T>
__global__ void col2im(const T* __restrict__ col, T* __restrict__ gx, long long total,
                       int C, int H, int W, int Cg, int kh, int kw, int sh, int sw,
                       int ph, int pw, int dh, int dw, int Ho, int Wo,
                       long long sn, long long sg, long long sk) {
    typedef typename lumen::Acc<T>::type A;
    const long long HW = (long long)H * W;
    LUMEN_KERNEL_LOOP(idx, total) {
        const int hw = (int)(idx % HW);
        const long long t = idx / HW;
        const int c = (int)(t % C);
        const long long n = t / C;
        const int h = hw / W, w = hw % W;
        const int g = c / Cg, cg = c % Cg;
        const T* cp = col + n * sn + g * sg + (long long)cg * kh * kw * sk;
        A acc = 0;
        for (int i = 0; i < kh; ++i) {
            // Position in output row space that tap i would have read pixel h from.
            const int th = h + ph - i * dh;
            if (th < 0) break;  // th only decreases with i
            if (th % sh != 0) continue;
            const int oh = th / sh;
            if (oh >= Ho) continue;
            for (int j = 0; j < kw; ++j) {
                const int tw = w + pw - j * dw;
                if (tw < 0) break;
                if (tw % sw != 0) continue;
                const int ow = tw / sw;
                if (ow >= Wo) continue;
                acc += lumen::to_acc<T>(cp[(long long)(i * kw + j) * sk + oh * Wo + ow]);
            }
        }
        gx[idx] = lumen::from_acc<T>(acc);
    }
}
