/* Max pooling's forward and argmax in one pass per tap (pool.py's NumPy version makes ~6 per tap).

   Loaded through ctypes (native.py compiles it); compiled once per dtype with -DREAL=float or -DREAL=double.
   A window is PyTorch's CPU kernel's: only its taps inside the image are read, in row-major order, from
   -inf at the first of them; a tap wins if it is greater or NaN. So ties keep the first tap, a NaN window
   reports its last NaN, and an all -inf window its first tap inside the image. */
#include <math.h>
#include <stddef.h>

#ifndef REAL
#error "compile with -DREAL=float or -DREAL=double"
#endif
typedef REAL real;

struct pool {
    int h, w, ho, wo;
    int kh, kw, sh, sw, ph, pw, dh, dw;
};

/* First tap index k >= 0 with start + k*step >= 0, and the taps' count with start + k*step < size. */
static void taps(int start, int step, int kernel, int size, int *first, int *end)
{
    int k = start < 0 ? (-start + step - 1) / step : 0;
    int e = kernel;
    while (e > k && start + (e - 1) * step >= size)
        e--;
    *first = k;
    *end = e;
}

/* Planes [p0, p1) of x (planes, h, w) -> y and indices (planes, ho, wo), indices h_in * w + w_in. */
void lumen_max_pool_forward(const struct pool *g, const real *x, real *y, long long *indices, long p0, long p1)
{
    for (long p = p0; p < p1; p++) {
        const real *xp = x + (size_t)p * g->h * g->w;
        for (int oh = 0; oh < g->ho; oh++) {
            real *yr = y + ((size_t)p * g->ho + oh) * g->wo;
            long long *ir = indices + ((size_t)p * g->ho + oh) * g->wo;
            const int r0 = oh * g->sh - g->ph;
            int i0, i1;
            taps(r0, g->dh, g->kh, g->h, &i0, &i1);
            for (int ow = 0; ow < g->wo; ow++) {
                int j0, j1;
                taps(ow * g->sw - g->pw, g->dw, g->kw, g->w, &j0, &j1);
                yr[ow] = -INFINITY;
                ir[ow] = (long long)(r0 + i0 * g->dh) * g->w + ow * g->sw - g->pw + j0 * g->dw;
            }
            for (int i = i0; i < i1; i++) {
                const int r = r0 + i * g->dh;
                const real *xr = xp + (size_t)r * g->w;
                for (int j = 0; j < g->kw; j++) {
                    const int shift = j * g->dw - g->pw;
                    /* the outputs whose tap j lands inside the row: 0 <= ow*sw + shift < w */
                    int lo = shift < 0 ? (-shift + g->sw - 1) / g->sw : 0;
                    int hi = g->w - 1 - shift < 0 ? 0 : (g->w - 1 - shift) / g->sw + 1;
                    if (hi > g->wo)
                        hi = g->wo;
                    for (int ow = lo; ow < hi; ow++) {
                        const int col = ow * g->sw + shift;
                        const real v = xr[col];
                        const int wins = v > yr[ow] || v != v;
                        yr[ow] = wins ? v : yr[ow];
                        ir[ow] = wins ? (long long)r * g->w + col : ir[ow];
                    }
                }
            }
        }
    }
}
