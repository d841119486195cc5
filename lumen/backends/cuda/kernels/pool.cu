// Max and average pooling, forward and backward, with PyTorch's window rules
// (aten/src/ATen/native/cuda/DilatedMaxPool2d.cu and AveragePool2d.cu). The
// output size, ceil_mode included, is computed on the host.
#include "common.cuh"

// One thread per output element. Indices are int64 flat positions h * W + w
// in the input plane; NaN wins over any number, as in PyTorch.
template <typename T>
__global__ void max_pool_fwd(const T* __restrict__ x, T* __restrict__ y,
                             long long* __restrict__ idx, long long total, int H, int W,
                             int Ho, int Wo, int kh, int kw, int sh, int sw, int ph, int pw,
                             int dh, int dw) {
    typedef typename lumen::Acc<T>::type A;
    LUMEN_KERNEL_LOOP(e, total) {
        const int ow = (int)(e % Wo);
        const int oh = (int)((e / Wo) % Ho);
        const long long plane = e / ((long long)Wo * Ho);
        const T* xp = x + plane * H * W;
        int hstart = oh * sh - ph, wstart = ow * sw - pw;
        const int hend = min(hstart + (kh - 1) * dh + 1, H);
        const int wend = min(wstart + (kw - 1) * dw + 1, W);
        while (hstart < 0) hstart += dh;
        while (wstart < 0) wstart += dw;
        A best = lumen::neg_inf<A>();
        int best_i = hstart * W + wstart;
        for (int h = hstart; h < hend; h += dh) {
            for (int w = wstart; w < wend; w += dw) {
                const A v = lumen::to_acc<T>(xp[h * W + w]);
                if (v > best || v != v) {
                    best = v;
                    best_i = h * W + w;
                }
            }
        }
        y[e] = lumen::from_acc<T>(best);
        idx[e] = best_i;
    }
}

// Scatter-add of gy into the argmax positions of each plane. Windows may
// overlap, so two outputs can route to one input: atomics are required
// (the primitive gets no window geometry to gather with). gx must be zeroed.
// An index outside [0, H*W) is skipped rather than written out of bounds.
template <typename T>
__global__ void max_pool_bwd(const T* __restrict__ gy, const long long* __restrict__ idx,
                             T* __restrict__ gx, long long total, long long HW, long long HoWo) {
    LUMEN_KERNEL_LOOP(e, total) {
        const long long i = idx[e];
        if (i < 0 || i >= HW) continue;
        atomicAdd(gx + (e / HoWo) * HW + i, gy[e]);
    }
}

// Deterministic form of max_pool_bwd: one thread per plane adds that plane's gy into gx in output order, so
// every input receives its contributions in one fixed order (no atomics). Slower than max_pool_bwd when there
// are few planes; taken when lumen.backends.conv.deterministic is set. gx must be zeroed.
template <typename T>
__global__ void max_pool_bwd_planes(const T* __restrict__ gy, const long long* __restrict__ idx,
                                    T* __restrict__ gx, long long planes, long long HW, long long HoWo) {
    LUMEN_KERNEL_LOOP(p, planes) {
        const T* g = gy + p * HoWo;
        const long long* ix = idx + p * HoWo;
        T* out = gx + p * HW;
        for (long long e = 0; e < HoWo; ++e) {
            const long long i = ix[e];
            if (i < 0 || i >= HW) continue;
            out[i] = lumen::from_acc<T>(lumen::to_acc<T>(out[i]) + lumen::to_acc<T>(g[e]));
        }
    }
}

// PyTorch's divisor: the window clipped to the padded input (count_include_pad)
// or to the input itself, unless divisor_override (> 0) is given.
__device__ __forceinline__ int avg_divisor(int hstart, int wstart, int H, int W, int kh, int kw,
                                           int ph, int pw, int count_include_pad,
                                           int divisor_override, int* h0, int* w0, int* h1,
                                           int* w1) {
    int hend = min(hstart + kh, H + ph), wend = min(wstart + kw, W + pw);
    const int pool_size = (hend - hstart) * (wend - wstart);
    hstart = max(hstart, 0);
    wstart = max(wstart, 0);
    hend = min(hend, H);
    wend = min(wend, W);
    *h0 = hstart; *w0 = wstart; *h1 = hend; *w1 = wend;
    if (divisor_override > 0) return divisor_override;
    return count_include_pad ? pool_size : (hend - hstart) * (wend - wstart);
}

template <typename T>
__global__ void avg_pool_fwd(const T* __restrict__ x, T* __restrict__ y, long long total, int H,
                             int W, int Ho, int Wo, int kh, int kw, int sh, int sw, int ph,
                             int pw, int count_include_pad, int divisor_override) {
    typedef typename lumen::Acc<T>::type A;
    LUMEN_KERNEL_LOOP(e, total) {
        const int ow = (int)(e % Wo);
        const int oh = (int)((e / Wo) % Ho);
        const long long plane = e / ((long long)Wo * Ho);
        const T* xp = x + plane * H * W;
        int h0, w0, h1, w1;
        const int div = avg_divisor(oh * sh - ph, ow * sw - pw, H, W, kh, kw, ph, pw,
                                    count_include_pad, divisor_override, &h0, &w0, &h1, &w1);
        // A window entirely in the padding (possible with ceil_mode) yields 0.
        if (h0 >= h1 || w0 >= w1) {
            y[e] = lumen::from_acc<T>(0);
            continue;
        }
        A s = 0;
        for (int h = h0; h < h1; ++h)
            for (int w = w0; w < w1; ++w) s += lumen::to_acc<T>(xp[h * W + w]);
        y[e] = lumen::from_acc<T>(s / (A)div);
    }
}

// Gather form: one thread per input pixel sums gy / divisor over the windows
// that contain it (deterministic, no atomics). Overwrites gx.
template <typename T>
__global__ void avg_pool_bwd(const T* __restrict__ gy, T* __restrict__ gx, long long total, int H,
                             int W, int Ho, int Wo, int kh, int kw, int sh, int sw, int ph,
                             int pw, int count_include_pad, int divisor_override) {
    typedef typename lumen::Acc<T>::type A;
    LUMEN_KERNEL_LOOP(e, total) {
        const int w = (int)(e % W);
        const int h = (int)((e / W) % H);
        const long long plane = e / ((long long)W * H);
        const T* gp = gy + plane * Ho * Wo;
        // Outputs oh whose window [oh*sh - ph, oh*sh - ph + kh) contains h.
        const int hp = h + ph, wp = w + pw;
        const int oh0 = hp < kh ? 0 : (hp - kh) / sh + 1;
        const int oh1 = min(hp / sh + 1, Ho);
        const int ow0 = wp < kw ? 0 : (wp - kw) / sw + 1;
        const int ow1 = min(wp / sw + 1, Wo);
        A s = 0;
        for (int oh = oh0; oh < oh1; ++oh) {
            for (int ow = ow0; ow < ow1; ++ow) {
                int h0, w0, h1, w1;
                const int div = avg_divisor(oh * sh - ph, ow * sw - pw, H, W, kh, kw, ph, pw,
                                            count_include_pad, divisor_override, &h0, &w0, &h1,
                                            &w1);
                if (h0 >= h1 || w0 >= w1) continue;
                s += lumen::to_acc<T>(gp[oh * Wo + ow]) / (A)div;
            }
        }
        gx[e] = lumen::from_acc<T>(s);
    }
}
