/* Max pooling's forward and argmax in one pass per tap (pool.py's NumPy version makes ~6 per tap), and its
   backward's scatter-add.

   Loaded through ctypes (native.py compiles it); compiled once per dtype with -DREAL=float or -DREAL=double.
   A window is PyTorch's CPU kernel's: only its taps inside the image are read, in row-major order, from
   -inf at the first of them; a tap wins if it is greater or NaN. So ties keep the first tap, a NaN window
   reports its last NaN, and an all -inf window its first tap inside the image. */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>

#include "vector.h"

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

/* Stride 1 along rows: VL outputs at a time in registers, over each row copied between -inf columns (which
   never win, so the windows are the same). Returns 0, or -1 if memory ran out. */
static int forward_stride1(const struct pool *g, const real *x, real *y, long long *indices, long p0, long p1)
{
    const int width = (g->wo + VL - 1) / VL * VL, wpad = width + (g->kw - 1) * g->dw;
    real *rows = malloc(sizeof(real) * ((size_t)g->h * wpad + VL));
    lane *first = malloc(sizeof(lane) * width);
    if (!rows || !first) {
        free(rows);
        free(first);
        return -1;
    }
    mask lanes;
    for (int l = 0; l < VL; l++)
        lanes[l] = l;
    for (int ow = 0; ow < width; ow++) {  /* the column of each window's first tap inside the image */
        int j0, j1;
        taps(ow - g->pw, g->dw, g->kw, g->w, &j0, &j1);
        first[ow] = ow < g->wo ? ow - g->pw + j0 * g->dw : 0;
    }
    for (long p = p0; p < p1; p++) {
        const real *xp = x + (size_t)p * g->h * g->w;
        for (size_t k = 0; k < (size_t)g->h * wpad; k++)
            rows[k] = -INFINITY;
        for (int r = 0; r < g->h; r++)
            memcpy(rows + (size_t)r * wpad + g->pw, xp + (size_t)r * g->w, sizeof(real) * g->w);
        for (int oh = 0; oh < g->ho; oh++) {
            const int r0 = oh * g->sh - g->ph;
            int i0, i1;
            taps(r0, g->dh, g->kh, g->h, &i0, &i1);
            for (int ow0 = 0; ow0 < g->wo; ow0 += VL) {
                vec best = (vec){0} - INFINITY;
                mask at;
                memcpy(&at, first + ow0, sizeof at);
                at += (mask){0} + (lane)(r0 + i0 * g->dh) * g->w;
                for (int i = i0; i < i1; i++) {
                    const int r = r0 + i * g->dh;
                    for (int j = 0; j < g->kw; j++) {
                        const vec v = load(rows + (size_t)r * wpad + ow0 + j * g->dw);
                        const mask wins = (v > best) | (v != v);
                        best = select_vec(wins, v, best);
                        at = ((lanes + (lane)r * g->w + ow0 - g->pw + j * g->dw) & wins) | (at & ~wins);
                    }
                }
                const size_t out = ((size_t)p * g->ho + oh) * g->wo + ow0;
                for (int l = 0; l < VL && ow0 + l < g->wo; l++) {
                    y[out + l] = best[l];
                    indices[out + l] = at[l];
                }
            }
        }
    }
    free(rows);
    free(first);
    return 0;
}

/* Planes [p0, p1) of x (planes, h, w) -> y and indices (planes, ho, wo), indices h_in * w + w_in.
   Returns 0, or -1 if memory ran out. */
int lumen_max_pool_forward(const struct pool *g, const real *x, real *y, long long *indices, long p0, long p1)
{
    if (g->sw == 1 && (size_t)g->h * g->w < ((size_t)1 << (8 * sizeof(lane) - 1)))
        return forward_stride1(g, x, y, indices, p0, p1);
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
    return 0;
}

/* gx[p, indices[p, q]] += gy[p, q] for planes [p0, p1), in q's order (numpy.add.at's), gx's planes zeroed first.
   Returns 0, or -1 if an index lies outside its plane of `size` elements. */
int lumen_max_pool_backward(const real *gy, const long long *indices, real *gx, long outputs, long size, long p0,
                            long p1)
{
    for (long p = p0; p < p1; p++) {
        real *plane = gx + (size_t)p * size;
        const real *g = gy + (size_t)p * outputs;
        const long long *at = indices + (size_t)p * outputs;
        memset(plane, 0, sizeof(real) * size);
        for (long q = 0; q < outputs; q++) {
            if (at[q] < 0 || at[q] >= size)
                return -1;
            plane[at[q]] += g[q];
        }
    }
    return 0;
}
