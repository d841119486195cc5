// Fused log-softmax + negative log-likelihood over axis 1 of x viewed as
// (N, C, S), S the product of the spatial sizes (1 for classification).
// Forward reads each logit twice (statistics, then log_prob) in one kernel;
// the statistics use the online max/sum-exp recurrence so one read suffices
// for both. A target outside [0, C) that is not ignore_index sets *bad and
// gets loss 0; the host raises.
#include "common.cuh"

namespace lumen {

// Running (max, sum exp(v - max)) pair. -inf entries contribute nothing;
// NaN entries make the sum NaN, so the row's log-softmax is NaN as in PyTorch.
template <typename A>
struct MaxSum {
    A m, d;
    __device__ void init() { m = neg_inf<A>(); d = A(0); }
    __device__ void push(A v) {
        if (v > m) {
            d = d * exp_(m - v) + A(1);
            m = v;
        } else if (v != neg_inf<A>()) {
            d += exp_(v - m);
        }
    }
    __device__ void merge(const MaxSum& o) {
        const A mm = m > o.m ? m : o.m;
        const A a = d == A(0) ? A(0) : d * exp_(m - mm);
        const A b = o.d == A(0) ? A(0) : o.d * exp_(o.m - mm);
        m = mm;
        d = a + b;
    }
    __device__ A lse() const { return m + log_(d); }
};

template <typename T>
__device__ __forceinline__ void sce_write_loss(const T* xr, long long S, int C, long long t,
                                               long long ignore_index,
                                               typename Acc<T>::type lse, T* loss_at,
                                               int* bad) {
    typedef typename Acc<T>::type A;
    if (t == ignore_index) {
        *loss_at = from_acc<T>(A(0));
    } else if (t < 0 || t >= C) {
        *bad = 1;
        *loss_at = from_acc<T>(A(0));
    } else {
        *loss_at = from_acc<T>(lse - to_acc<T>(xr[t * S]));
    }
}

}  // namespace lumen

// One thread per (n, s): neighbouring threads read neighbouring s, so this
// coalesces when S is large (segmentation maps).
template <typename T>
__global__ void sce_fwd_spatial(const T* __restrict__ x, const long long* __restrict__ target,
                                T* __restrict__ loss, T* __restrict__ logp, int* __restrict__ bad,
                                long long rows, int C, long long S, long long ignore_index) {
    using namespace lumen;
    typedef typename Acc<T>::type A;
    LUMEN_KERNEL_LOOP(r, rows) {
        const long long n = r / S, s = r % S;
        const T* xr = x + n * C * S + s;
        T* lr = logp + n * C * S + s;
        MaxSum<A> st;
        st.init();
        for (int c = 0; c < C; ++c) st.push(to_acc<T>(xr[c * S]));
        const A lse = st.lse();
        for (int c = 0; c < C; ++c) lr[c * S] = from_acc<T>(to_acc<T>(xr[c * S]) - lse);
        sce_write_loss<T>(xr, S, C, target[r], ignore_index, lse, loss + r, bad);
    }
}

// One block of SCE_THREADS threads per (n, s) row: used when S == 1, where a
// thread per row would read C-strided addresses. Grid-strides over rows.
#define SCE_THREADS 256
template <typename T>
__global__ void __launch_bounds__(SCE_THREADS)
sce_fwd_rows(const T* __restrict__ x, const long long* __restrict__ target, T* __restrict__ loss,
             T* __restrict__ logp, int* __restrict__ bad, long long rows, int C, long long S,
             long long ignore_index) {
    using namespace lumen;
    typedef typename Acc<T>::type A;
    __shared__ A sm[SCE_THREADS], sd[SCE_THREADS];
    for (long long r = blockIdx.x; r < rows; r += gridDim.x) {
        const long long n = r / S, s = r % S;
        const T* xr = x + n * C * S + s;
        T* lr = logp + n * C * S + s;
        MaxSum<A> st;
        st.init();
        for (int c = threadIdx.x; c < C; c += SCE_THREADS) st.push(to_acc<T>(xr[c * S]));
        sm[threadIdx.x] = st.m;
        sd[threadIdx.x] = st.d;
        __syncthreads();
        for (int half = SCE_THREADS / 2; half > 0; half /= 2) {
            if ((int)threadIdx.x < half) {
                MaxSum<A> a, b;
                a.m = sm[threadIdx.x]; a.d = sd[threadIdx.x];
                b.m = sm[threadIdx.x + half]; b.d = sd[threadIdx.x + half];
                a.merge(b);
                sm[threadIdx.x] = a.m;
                sd[threadIdx.x] = a.d;
            }
            __syncthreads();
        }
        MaxSum<A> tot;
        tot.m = sm[0];
        tot.d = sd[0];
        const A lse = tot.lse();
        for (int c = threadIdx.x; c < C; c += SCE_THREADS)
            lr[c * S] = from_acc<T>(to_acc<T>(xr[c * S]) - lse);
        if (threadIdx.x == 0)
            sce_write_loss<T>(xr, S, C, target[r], ignore_index, lse, loss + r, bad);
        // sm[0] / sd[0] are overwritten by the next row's first store.
        __syncthreads();
    }
}

// gx = (exp(log_prob) - onehot(target)) * gloss, 0 where target == ignore_index.
template <typename T>
__global__ void sce_bwd(const T* __restrict__ logp, const long long* __restrict__ target,
                        const T* __restrict__ gloss, T* __restrict__ gx, long long total, int C,
                        long long S, long long ignore_index) {
    using namespace lumen;
    typedef typename Acc<T>::type A;
    LUMEN_KERNEL_LOOP(e, total) {
        const long long s = e % S;
        const long long t_at = (e / (S * C)) * S + s;
        const int c = (int)((e / S) % C);
        const long long t = target[t_at];
        A g = 0;
        if (t != ignore_index) {
            const A p = exp_(to_acc<T>(logp[e]));
            g = (p - (t == c ? A(1) : A(0))) * to_acc<T>(gloss[t_at]);
        }
        gx[e] = from_acc<T>(g);
    }
}
