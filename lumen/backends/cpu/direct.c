/* Direct convolution for the CPU backend: stride 1, dilation 1, computed in registers (one group per call).

   Loaded through ctypes (native.py compiles it, direct.py drives it). Compiled once per dtype with
   -DREAL=float or -DREAL=double.

   Each image is first copied into zero-padded channel planes whose rows are wp = w + 2*pw long, so
   output position q = r*wp + col reads plane position q + i*wp + j for tap (i, j) with no bounds test;
   the positions with col >= wo are computed and dropped. A block of OB output channels by QB vectors
   of positions stays in registers through all C*kh*kw taps, each tap costing QB loads and OB
   broadcasts for OB*QB fused multiply-adds. im2col instead streams a column matrix kh*kw times the
   image through memory, which is what bounds its GEMMs on 8-64 channels. */
#include <stdlib.h>

#include "vector.h"

/* Register blocks: OB output channels x QB vectors of positions (forward), FB outputs x up to JB taps
   (filter gradient). With 16 registers, 6 x 2 accumulators leave room for the 2 input vectors and a
   broadcast weight, 8 loads per 12 FMAs; 4 x 3 left none, so each FMA reloaded its input (16 loads). */
#if VBYTES == 64
enum { OB = 8, QB = 3, FB = 4, JB = 4 };
#else
enum { OB = 6, QB = 2, FB = 2, JB = 4 };
#endif
enum { BLOCK = VL * QB };

struct geometry {
    int c, h, w;    /* input channels and size */
    int o, kh, kw;  /* output channels and kernel size */
    int ph, pw;     /* zero padding */
    int ho, wo;     /* output size */
    int wp;         /* a padded row: w + 2*pw */
    int plane;      /* one padded channel, with slack so that every block reads inside it */
    int span;       /* positions computed per output channel: (ho - 1)*wp + wo rounded up to BLOCK */
    int chunk;      /* images per chunk of the filter gradient */
    int tile;       /* output rows per tile of a chunk in the filter gradient */
    long long x_image, y_image;  /* elements from one image of x (of y or gy) to the next: a group's slice */
};

int lumen_direct_vector_bytes(void) { return VBYTES; }
int lumen_direct_block(void) { return BLOCK; }
int lumen_direct_channel_block(void) { return OB; }
int lumen_direct_filter_block(void) { return FB; }

/* Positions [lo, hi) of image x's zero-padded channel planes, channel ci at plane + ci * stride (the
   whole planes for lo = 0, hi = g->plane). */
static void pad_image(const struct geometry *g, const real *x, real *plane, size_t stride, size_t lo, size_t hi)
{
    for (int ci = 0; ci < g->c; ci++) {
        real *p = plane + ci * stride;
        memset(p + lo, 0, sizeof(real) * (hi - lo));
        for (int r = 0; r < g->h; r++) {
            const size_t row = (size_t)(r + g->ph) * g->wp + g->pw;
            const size_t begin = row > lo ? row : lo, end = row + g->w < hi ? row + g->w : hi;
            if (begin < end)
                memcpy(p + begin, x + ((size_t)ci * g->h + r) * g->w + (begin - row), sizeof(real) * (end - begin));
        }
    }
}

/* The valid positions of a block of computed ones [q0, q0 + BLOCK), q0 at padded row r0 and column col0,
   go to their output rows. (Divisions here, once per block and channel, cost as much as the taps of
   an 8-channel layer.) */
static void store_valid(const struct geometry *g, const real *block, real *y_channel, int r0, int col0)
{
    for (int done = 0, r = r0, col = col0; done < BLOCK && r < g->ho; r++, col = 0) {
        const int run = g->wp - col < BLOCK - done ? g->wp - col : BLOCK - done;
        if (col < g->wo)
            memcpy(y_channel + (size_t)r * g->wo + col, block + done,
                   sizeof(real) * ((col + run < g->wo ? col + run : g->wo) - col));
        done += run;
    }
}

/* Output channels [ob, ob + nb) of the positions [q0, q0 + BLOCK) of one image (its padded planes), q0 at
   row r0 and column col0: nb <= OB is a constant at every call, so the accumulators stay in registers
   and a last block of fewer channels computes only those. wk: the block's packed weights. */
static inline __attribute__((always_inline)) void forward_block(
    const struct geometry *g, const real *plane, const real *wk, const real *bias, real *y, int q0, int r0,
    int col0, int ob, int nb)
{
    vec acc[OB][QB];
    for (int k = 0; k < nb; k++)
        for (int v = 0; v < QB; v++)
            acc[k][v] = (vec){0} + (bias ? bias[ob + k] : 0);
    for (int ci = 0; ci < g->c; ci++) {
        const real *xc = plane + (size_t)ci * g->plane + q0;
        for (int i = 0; i < g->kh; i++)
            for (int j = 0; j < g->kw; j++, wk += OB) {
                vec xv[QB];
                for (int v = 0; v < QB; v++)
                    xv[v] = load(xc + i * g->wp + j + v * VL);
                for (int k = 0; k < nb; k++)
                    for (int v = 0; v < QB; v++)
                        acc[k][v] += wk[k] * xv[v];
            }
    }
    for (int k = 0; k < nb; k++) {
        real block[BLOCK];
        for (int v = 0; v < QB; v++)
            store(block + v * VL, acc[k][v]);
        store_valid(g, block, y + (size_t)(ob + k) * g->ho * g->wo, r0, col0);
    }
}

/* y[n, o] = bias[o] + sum over c, i, j of weight[o, c, i, j] * x[n, c, r + i - ph, col + j - pw] for images
   [n0, n1), every output channel and the computed positions [q1, q2) (multiples of BLOCK; q2 may pass
   span), of which only the planes' rows they read are padded. packed: the weight as (ceil(o / OB), c,
   kh*kw, OB), zero past o; bias: ceil(o / OB) * OB values, or NULL. Returns 0, or -1 if memory ran out. */
int lumen_direct_forward(const struct geometry *g, const real *x, const real *packed, const real *bias,
                         real *y, int n0, int n1, int q1, int q2)
{
    real *plane = malloc(sizeof(real) * (size_t)g->c * g->plane);
    if (!plane)
        return -1;
    const int taps = g->kh * g->kw;
    q2 = q2 < g->span ? q2 : g->span;
    const size_t reach = (size_t)q2 + (size_t)(g->kh - 1) * g->wp + g->kw - 1;
    for (int n = n0; n < n1; n++) {
        pad_image(g, x + n * g->x_image, plane, g->plane, q1, reach < (size_t)g->plane ? reach : (size_t)g->plane);
        real *yn = y + n * g->y_image;
        for (int q0 = q1, r0 = q1 / g->wp, col0 = q1 % g->wp; q0 < q2; q0 += BLOCK, r0 += (col0 + BLOCK) / g->wp,
             col0 = (col0 + BLOCK) % g->wp)
            for (int ob = 0; ob < g->o; ob += OB) {
                const real *wk = packed + (size_t)ob * g->c * taps;
                switch (g->o - ob < OB ? g->o - ob : OB) {
#define FORWARD_BLOCK(nb) case nb: forward_block(g, plane, wk, bias, yn, q0, r0, col0, ob, nb); break;
                FORWARD_BLOCK(1) FORWARD_BLOCK(2) FORWARD_BLOCK(3) FORWARD_BLOCK(4) FORWARD_BLOCK(5) FORWARD_BLOCK(6)
#if VBYTES == 64  /* OB = 8 */
                FORWARD_BLOCK(7) FORWARD_BLOCK(8)
#endif
#undef FORWARD_BLOCK
                }
            }
    }
    free(plane);
    return 0;
}

/* Taps (i, j0) ... (i, j0 + jn - 1) of one input channel for FB output channels, summed over the valid
   positions of the chunk's output rows [f0, f1) (row f is row f % ho of image f / ho; a row's last vector
   masked, so that an inf or NaN outside a tap's reach adds nothing): jn is a constant at every call, so
   the accumulators stay in registers. */
static inline __attribute__((always_inline)) void filter_taps(
    const struct geometry *g, const real *grads, const real *xc, size_t length, size_t f0, size_t f1, real *gw,
    int i, int j0, int jn, mask tail)
{
    vec acc[FB][JB];
    for (int k = 0; k < FB; k++)
        for (int t = 0; t < jn; t++)
            acc[k][t] = (vec){0};
    const real *xr = xc + i * g->wp + j0;
    const int full = g->wo / VL * VL;
    for (size_t f = f0; f < f1; f++) {
        const size_t row = f / g->ho * g->plane + f % g->ho * g->wp;
        for (int col = 0; col <= full; col += VL) {
            if (col == full && col == g->wo)
                break;
            const size_t q = row + col;
            vec gv[FB];
            for (int k = 0; k < FB; k++)
                gv[k] = load(grads + k * length + q);
            for (int t = 0; t < jn; t++) {
                vec xv = load(xr + q + t);
                if (col == full)
                    xv = (vec)((mask)xv & tail);
                for (int k = 0; k < FB; k++)
                    acc[k][t] += gv[k] * xv;
            }
        }
    }
    const size_t per_output = (size_t)g->c * g->kh * g->kw;
    for (int k = 0; k < FB; k++)
        for (int t = 0; t < jn; t++) {
            real sum = 0;
            for (int l = 0; l < VL; l++)
                sum += acc[k][t][l];
            gw[k * per_output + i * g->kw + j0 + t] += sum;
        }
}

/* gw[o, c, i, j] = sum over images [n0, n1) and positions of gy[n, o, r, col] * x[n, c, r + i - ph, col + j - pw],
   for output channels [o0, o1) (multiples of FB; o1 may pass o): gw is (o1 - o0, c, kh, kw), overwritten.
   Images go in chunks of g->chunk (about a megabyte), each channel's planes and each output channel's
   gradients side by side, and each chunk in tiles of g->tile rows, whose gradients and inputs stay in
   cache through all the taps of a tile (one pass per tap over a whole 224x224 image ran at the speed of
   L3). Both are set from the geometry alone, so the sums round alike for every split of the outputs over
   threads. Returns 0, or -1 if memory ran out. */
int lumen_direct_filter_gradient(const struct geometry *g, const real *x, const real *gy, real *gw,
                                 int n0, int n1, int o0, int o1)
{
    const int outputs = o1 - o0;
    const size_t chunk = (size_t)g->chunk;
    /* One plane of slack after the last channel and one vector after the last gradient row: the last
       (masked) vector of a row reads up to a vector past the row's valid positions. */
    real *planes = malloc(sizeof(real) * ((size_t)g->c * chunk + 1) * g->plane);
    real *grads = malloc(sizeof(real) * ((size_t)outputs * chunk * g->plane + VL));
    if (!planes || !grads) {
        free(planes);
        free(grads);
        return -1;
    }
    mask lanes, tail;
    for (int l = 0; l < VL; l++)
        lanes[l] = l;
    tail = lanes < (mask){0} + (g->wo % VL);
    const size_t per_output = (size_t)g->c * g->kh * g->kw;
    memset(gw, 0, sizeof(real) * outputs * per_output);
    for (int n = n0; n < n1; n += chunk) {
        const size_t images = (size_t)(n1 - n) < chunk ? (size_t)(n1 - n) : chunk;
        const size_t length = images * g->plane;
        for (size_t m = 0; m < images; m++)
            pad_image(g, x + (n + m) * g->x_image, planes + m * g->plane, length, 0, g->plane);
        memset(planes + g->c * length, 0, sizeof(real) * g->plane);
        memset(grads, 0, sizeof(real) * (outputs * length + VL));
        for (int oc = o0; oc < o1 && oc < g->o; oc++)
            for (size_t m = 0; m < images; m++)
                for (int r = 0; r < g->ho; r++)
                    memcpy(grads + (oc - o0) * length + m * g->plane + (size_t)r * g->wp,
                           gy + (n + m) * g->y_image + ((size_t)oc * g->ho + r) * g->wo, sizeof(real) * g->wo);
        const size_t rows = images * g->ho;
        for (size_t f0 = 0; f0 < rows; f0 += g->tile) {
            const size_t f1 = f0 + g->tile < rows ? f0 + g->tile : rows;
            for (int ob = o0; ob < o1; ob += FB)
                for (int ci = 0; ci < g->c; ci++)
                    for (int i = 0; i < g->kh; i++)
                        for (int j0 = 0; j0 < g->kw; j0 += JB) {
                            const real *gk = grads + (ob - o0) * length;
                            const real *xc = planes + ci * length;
                            real *gwk = gw + (ob - o0) * per_output + (size_t)ci * g->kh * g->kw;
                            switch (g->kw - j0 < JB ? g->kw - j0 : JB) {
                            case 1: filter_taps(g, gk, xc, length, f0, f1, gwk, i, j0, 1, tail); break;
                            case 2: filter_taps(g, gk, xc, length, f0, f1, gwk, i, j0, 2, tail); break;
                            case 3: filter_taps(g, gk, xc, length, f0, f1, gwk, i, j0, 3, tail); break;
                            default: filter_taps(g, gk, xc, length, f0, f1, gwk, i, j0, JB, tail); break;
                            }
                        }
        }
    }
    free(planes);
    free(grads);
    return 0;
}
