// Implicit-GEMM convolution (Chetlur et al., "cuDNN: Efficient Primitives for
// Deep Learning", 2014, section 3): the GEMM operands are gathered tile by tile
// straight from the image and the filter into shared memory, so the column
// buffer of im2col is never materialised.
//
// Every kernel computes, per group g = blockIdx.z (or a slice of it), a
// C[M][Ncol] = sum_r A[M][r] * B[r][Ncol] product, tiled BM x BN per block with
// BK-deep reduction slices; 256 threads as a 16x16 grid each own a TM x TN
// micro-tile of rows ty + 16*a and columns tx + 16*b (strided so that shared
// memory reads are broadcasts / consecutive banks).
//
// Index arithmetic is 32-bit: the host routes any tensor with >= 2**31
// elements to the im2col algorithm, whose kernels use 64-bit offsets.
#include "common.cuh"

namespace lumen {

constexpr int BM = 64, BN = 64, BK = 16, TM = 4, TN = 4, NTHREADS = 256;
// The loader and micro-tile mappings below are written for exactly this shape:
// 16x16 threads x 4x4 micro-tiles = 64x64; A loads 16 rows x BK per pass,
// B loads 4 rows x BN per pass.
static_assert(NTHREADS == 256 && BM == 16 * TM && BN == 16 * TN && BK == 16 &&
                  NTHREADS % BK == 0 && NTHREADS % BN == 0,
              "tile mappings assume 256 threads, 64x64 tiles and 16-deep slices");

// Main loop shared by the three problems. P supplies
//   P::Row row(m)         per-row state (m in the block's rows), with .ok
//   P::Col col(n)         per-column state, with .ok
//   A a(const Row&, r)    operand A at (row, r) for r in [r_begin, r_end)
//   A b(int r, const Col&) operand B at (r, col)
// and the result is accumulated into acc (not reset here).
template <typename A, class P>
__device__ __forceinline__ void igemm_mainloop(const P& p, int m0, int n0, int r_begin,
                                               int r_end, A (&acc)[TM][TN]) {
    // +1 padding: the A-tile stores put 16 consecutive threads on 16 different
    // k rows; without it they would all hit one bank.
    __shared__ A As[BK][BM + 1];
    __shared__ A Bs[BK][BN + 1];
    const int tid = threadIdx.x;
    const int tx = tid % 16, ty = tid / 16;
    // Loader mapping for A (BM x BK): consecutive threads walk r, the
    // contiguous dimension of the weight rows and of gy planes.
    const int a_r = tid % BK, a_m = tid / BK;  // a_m in [0, 16)
    // Loader mapping for B (BK x BN): consecutive threads walk the column.
    const int b_n = tid % BN, b_r = tid / BN;  // b_r in [0, 4)

    typename P::Row rows[BM / 16];
#pragma unroll
    for (int q = 0; q < BM / 16; ++q) rows[q] = p.row(m0 + a_m + 16 * q);
    const typename P::Col colst = p.col(n0 + b_n);

    for (int r0 = r_begin; r0 < r_end; r0 += BK) {
        const int ra = r0 + a_r;
#pragma unroll
        for (int q = 0; q < BM / 16; ++q)
            As[a_r][a_m + 16 * q] = (rows[q].ok && ra < r_end) ? p.a(rows[q], ra) : A(0);
#pragma unroll
        for (int q = 0; q < BK / 4; ++q) {
            const int rb = r0 + b_r + 4 * q;
            Bs[b_r + 4 * q][b_n] = (colst.ok && rb < r_end) ? p.b(rb, colst) : A(0);
        }
        __syncthreads();
#pragma unroll
        for (int k = 0; k < BK; ++k) {
            A av[TM], bv[TN];
#pragma unroll
            for (int i = 0; i < TM; ++i) av[i] = As[k][ty + 16 * i];
#pragma unroll
            for (int j = 0; j < TN; ++j) bv[j] = Bs[k][tx + 16 * j];
#pragma unroll
            for (int i = 0; i < TM; ++i)
#pragma unroll
                for (int j = 0; j < TN; ++j) acc[i][j] += av[i] * bv[j];
        }
        // The next iteration overwrites the tiles other threads may still read.
        __syncthreads();
    }
}

struct Geom {
    int N, C, H, W, O, Ho, Wo, kh, kw, sh, sw, ph, pw, dh, dw, G, Cg, Og;
};

// Forward: C[o][(n,oh,ow)] = sum_{(c,i,j)} w[o][(c,i,j)] * x[n][c][oh*sh-ph+i*dh][ow*sw-pw+j*dw]
template <typename T>
struct FwdProblem {
    typedef typename Acc<T>::type A;
    const T* x;
    const T* w;
    Geom s;
    int g;
    struct Row { bool ok; const T* wrow; };
    struct Col { bool ok; int ih0, iw0; const T* xbase; };
    __device__ Row row(int m) const {
        Row rw;
        rw.ok = m < s.Og;
        rw.wrow = w + (g * s.Og + (rw.ok ? m : 0)) * (s.Cg * s.kh * s.kw);
        return rw;
    }
    __device__ Col col(int n) const {
        Col c;
        const int L = s.Ho * s.Wo;
        c.ok = n < s.N * L;
        const int nn = c.ok ? n : 0;
        const int img = nn / L, l = nn % L;
        c.ih0 = (l / s.Wo) * s.sh - s.ph;
        c.iw0 = (l % s.Wo) * s.sw - s.pw;
        c.xbase = x + (img * s.C + g * s.Cg) * s.H * s.W;
        return c;
    }
    __device__ A a(const Row& rw, int r) const { return to_acc<T>(rw.wrow[r]); }
    __device__ A b(int r, const Col& c) const {
        const int khw = s.kh * s.kw;
        const int ci = r / khw, t = r % khw;
        const int ih = c.ih0 + (t / s.kw) * s.dh;
        const int iw = c.iw0 + (t % s.kw) * s.dw;
        if (ih < 0 || ih >= s.H || iw < 0 || iw >= s.W) return A(0);
        return to_acc<T>(c.xbase[(ci * s.H + ih) * s.W + iw]);
    }
};

// Backward-data, the transposed problem:
// C[c][(n,h,w)] = sum_{(o,i,j)} w[o][c][i][j] * gy[n][o][oh][ow]
// over the taps with h + ph - i*dh = oh*sh (same for w) inside the output.
template <typename T>
struct BwdDataProblem {
    typedef typename Acc<T>::type A;
    const T* gy;
    const T* w;
    Geom s;
    int g;
    struct Row { bool ok; const T* wcol; };
    struct Col { bool ok; int hp, wp; const T* gybase; };
    __device__ Row row(int m) const {
        Row rw;
        rw.ok = m < s.Cg;
        rw.wcol = w + ((g * s.Og) * s.Cg + (rw.ok ? m : 0)) * (s.kh * s.kw);
        return rw;
    }
    __device__ Col col(int n) const {
        Col c;
        const int HW = s.H * s.W;
        c.ok = n < s.N * HW;
        const int nn = c.ok ? n : 0;
        const int img = nn / HW, hw = nn % HW;
        c.hp = hw / s.W + s.ph;
        c.wp = hw % s.W + s.pw;
        c.gybase = gy + (img * s.O + g * s.Og) * s.Ho * s.Wo;
        return c;
    }
    __device__ A a(const Row& rw, int r) const {
        const int khw = s.kh * s.kw;
        const int o = r / khw, t = r % khw;
        return to_acc<T>(rw.wcol[o * s.Cg * khw + t]);
    }
    __device__ A b(int r, const Col& c) const {
        const int khw = s.kh * s.kw;
        const int o = r / khw, t = r % khw;
        const int th = c.hp - (t / s.kw) * s.dh;
        const int tw = c.wp - (t % s.kw) * s.dw;
        if (th < 0 || tw < 0 || th % s.sh != 0 || tw % s.sw != 0) return A(0);
        const int oh = th / s.sh, ow = tw / s.sw;
        if (oh >= s.Ho || ow >= s.Wo) return A(0);
        return to_acc<T>(c.gybase[(o * s.Ho + oh) * s.Wo + ow]);
    }
};

// Backward-filter: C[o][(c,i,j)] = sum_{(n,oh,ow)} gy[n][o][oh][ow] * x[n][c][oh*sh-ph+i*dh][ow*sw-pw+j*dw]
template <typename T>
struct BwdFilterProblem {
    typedef typename Acc<T>::type A;
    const T* x;
    const T* gy;
    Geom s;
    int g;
    struct Row { bool ok; const T* gyrow; };
    struct Col { bool ok; int ioff, joff; const T* xch; };
    __device__ Row row(int m) const {
        Row rw;
        rw.ok = m < s.Og;
        rw.gyrow = gy + (g * s.Og + (rw.ok ? m : 0)) * s.Ho * s.Wo;
        return rw;
    }
    __device__ Col col(int n) const {
        Col c;
        const int khw = s.kh * s.kw;
        c.ok = n < s.Cg * khw;
        const int nn = c.ok ? n : 0;
        const int ci = nn / khw, t = nn % khw;
        c.ioff = (t / s.kw) * s.dh - s.ph;
        c.joff = (t % s.kw) * s.dw - s.pw;
        c.xch = x + (g * s.Cg + ci) * s.H * s.W;
        return c;
    }
    __device__ A a(const Row& rw, int r) const {
        const int L = s.Ho * s.Wo;
        const int img = r / L, l = r % L;
        return to_acc<T>(rw.gyrow[img * s.O * L + l]);
    }
    __device__ A b(int r, const Col& c) const {
        const int L = s.Ho * s.Wo;
        const int img = r / L, l = r % L;
        const int ih = (l / s.Wo) * s.sh + c.ioff;
        const int iw = (l % s.Wo) * s.sw + c.joff;
        if (ih < 0 || ih >= s.H || iw < 0 || iw >= s.W) return A(0);
        return to_acc<T>(c.xch[img * s.C * s.H * s.W + ih * s.W + iw]);
    }
};

// The geometry travels as 16 plain int arguments so the host needs no
// struct marshalling: N, C, H, W, O, Ho, Wo, kh, kw, sh, sw, ph, pw, dh, dw, G.
#define LUMEN_CONV_DIMS_PARAMS                                                           \
    int N, int C, int H, int W, int O, int Ho, int Wo, int kh, int kw, int sh, int sw, \
        int ph, int pw, int dh, int dw, int G
#define LUMEN_CONV_DIMS_GEOM                                                         \
    Geom { N, C, H, W, O, Ho, Wo, kh, kw, sh, sw, ph, pw, dh, dw, G, C / G, O / G }

}  // namespace lumen

// grid = (ceil(N*Ho*Wo / BN), ceil(Og / BM), G); block = 256. bias is only
// read when has_bias is set (any valid pointer may be passed otherwise).
template <typename T>
__global__ void __launch_bounds__(lumen::NTHREADS) igemm_fwd(const T* __restrict__ x, const T* __restrict__ w,
                                                 const T* __restrict__ bias, int has_bias,
                                                 T* __restrict__ y, LUMEN_CONV_DIMS_PARAMS) {
    using namespace lumen;
    typedef typename Acc<T>::type A;
    FwdProblem<T> p;
    p.x = x; p.w = w; p.s = LUMEN_CONV_DIMS_GEOM; p.g = blockIdx.z;
    const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
    A acc[TM][TN];
#pragma unroll
    for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] = A(0);
    igemm_mainloop<A>(p, m0, n0, 0, p.s.Cg * p.s.kh * p.s.kw, acc);

    const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
    const int L = p.s.Ho * p.s.Wo;
#pragma unroll
    for (int j = 0; j < TN; ++j) {
        const int n = n0 + tx + 16 * j;
        if (n >= p.s.N * L) continue;
        const int img = n / L, l = n % L;
#pragma unroll
        for (int i = 0; i < TM; ++i) {
            const int m = m0 + ty + 16 * i;
            if (m >= p.s.Og) continue;
            const int o = p.g * p.s.Og + m;
            A v = acc[i][j];
            if (has_bias) v += to_acc<T>(bias[o]);
            y[(img * p.s.O + o) * L + l] = from_acc<T>(v);
        }
    }
}

// grid = (ceil(N*H*W / BN), ceil(Cg / BM), G); overwrites gx.
template <typename T>
__global__ void __launch_bounds__(lumen::NTHREADS) igemm_bwd_data(const T* __restrict__ gy,
                                                      const T* __restrict__ w,
                                                      T* __restrict__ gx, LUMEN_CONV_DIMS_PARAMS) {
    using namespace lumen;
    typedef typename Acc<T>::type A;
    BwdDataProblem<T> p;
    p.gy = gy; p.w = w; p.s = LUMEN_CONV_DIMS_GEOM; p.g = blockIdx.z;
    const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
    A acc[TM][TN];
#pragma unroll
    for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] = A(0);
    igemm_mainloop<A>(p, m0, n0, 0, p.s.Og * p.s.kh * p.s.kw, acc);

    const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
    const int HW = p.s.H * p.s.W;
#pragma unroll
    for (int j = 0; j < TN; ++j) {
        const int n = n0 + tx + 16 * j;
        if (n >= p.s.N * HW) continue;
        const int img = n / HW, hw = n % HW;
#pragma unroll
        for (int i = 0; i < TM; ++i) {
            const int m = m0 + ty + 16 * i;
            if (m >= p.s.Cg) continue;
            gx[(img * p.s.C + p.g * p.s.Cg + m) * HW + hw] = from_acc<T>(acc[i][j]);
        }
    }
}

// Split-K over the N*Ho*Wo reduction: grid = (ceil(Cg*kh*kw / BN),
// ceil(Og / BM), G * splits), z = g * splits + split; split s reduces
// [s*chunk, min((s+1)*chunk, N*Ho*Wo)) and writes its partial product to
// ws[s][g][o][(c,i,j)] in the accumulation type. The host sums the splits in
// a fixed order, so the result is deterministic (no atomics).
template <typename T>
__global__ void __launch_bounds__(lumen::NTHREADS) igemm_bwd_filter(const T* __restrict__ x,
                                                        const T* __restrict__ gy,
                                                        typename lumen::Acc<T>::type* __restrict__ ws,
                                                        LUMEN_CONV_DIMS_PARAMS, int splits, int chunk) {
    using namespace lumen;
    typedef typename Acc<T>::type A;
    BwdFilterProblem<T> p;
    p.x = x; p.gy = gy; p.s = LUMEN_CONV_DIMS_GEOM;
    p.g = blockIdx.z / splits;
    const int split = blockIdx.z % splits;
    const int R = p.s.N * p.s.Ho * p.s.Wo;
    // split * chunk < R by construction on the host; r_begin + chunk may not fit an int.
    const int r_begin = split * chunk;
    const int r_end = (int)min((long long)R, (long long)r_begin + chunk);
    const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
    A acc[TM][TN];
#pragma unroll
    for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] = A(0);
    igemm_mainloop<A>(p, m0, n0, r_begin, r_end, acc);

    const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
    const int Kf = p.s.Cg * p.s.kh * p.s.kw;
    A* out = ws + ((long long)split * p.s.G + p.g) * p.s.Og * Kf;
#pragma unroll
    for (int j = 0; j < TN; ++j) {
        const int n = n0 + tx + 16 * j;
        if (n >= Kf) continue;
#pragma unroll
        for (int i = 0; i < TM; ++i) {
            const int m = m0 + ty + 16 * i;
            if (m >= p.s.Og) continue;
            out[m * Kf + n] = acc[i][j];
        }
    }
}
