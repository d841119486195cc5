/* The transforms of Winograd's F(m x m, 3 x 3) (winograd.py), one pass per tile instead of NumPy's pass per
   coefficient: ~40 % of the F(2x2) forward's time was those passes (benchmarks/NOTES.md rows 19 and 24).

   Loaded through ctypes (native.py compiles it); compiled once per dtype with -DREAL=float or -DREAL=double.
   The matrices are those of winograd.py (Lavin and Gray, 2016); a zero coefficient is skipped, as winograd.py
   skips it, so a NaN or inf reaches exactly the outputs it reaches there. */
#include <stdlib.h>
#include <string.h>

#ifndef REAL
#error "compile with -DREAL=float or -DREAL=double"
#endif
typedef REAL real;

static const real BT2[4][4] = {{1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, 1, 0, -1}};
static const real AT2[2][4] = {{1, 1, 1, 0}, {0, 1, -1, -1}};
static const real BT4[6][6] = {{4, 0, -5, 0, 1, 0}, {0, -4, -4, 1, 1, 0}, {0, 4, -4, -1, 1, 0},
                               {0, -2, -1, 2, 1, 0}, {0, 2, -1, -2, 1, 0}, {0, 4, 0, -5, 0, 1}};
static const real AT4[4][6] = {{1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 0}, {0, 1, 1, 4, 4, 0}, {0, 1, -1, 8, -8, 1}};

struct tiles {
    int n, c, h, w;     /* the transformed image: x (n, c, h, w), or the output y (n, c, h, w) */
    int ph, pw;         /* the input's zero padding (input transform) */
    int t0, tb;         /* the band: tile rows [t0, t0 + tb) */
    int tiles_w;        /* tiles per row */
};

/* v[xi, nu, ci, img, t, tw] = (B^T d B)[xi, nu] for the tile d at tile row t0 + t, column tw, of channels
   [c0, c1): v is (a, a, c, n, tb, tiles_w). Returns 0, or -1 if memory ran out. */
#define INPUT_TRANSFORM(NAME, M, BT)                                                                          \
int NAME(const struct tiles *g, const real *x, real *v, int c0, int c1)                                     \
{                                                                                                           \
    enum { A = M + 2 };                                                                                     \
    const int wp = M * g->tiles_w + 2;                                                                      \
    const size_t point = (size_t)g->c * g->n * g->tb * g->tiles_w;                                           \
    real *rows = malloc(sizeof(real) * 2 * A * (size_t)wp), *combined = rows + A * (size_t)wp;              \
    if (!rows)                                                                                              \
        return -1;                                                                                          \
    for (int ci = c0; ci < c1; ci++)                                                                        \
        for (int img = 0; img < g->n; img++)                                                                \
            for (int t = 0; t < g->tb; t++) {                                                               \
                const int r0 = M * (g->t0 + t) - g->ph;                                                     \
                for (int k = 0; k < A; k++) {                                                               \
                    const int r = r0 + k;                                                                   \
                    real *row = rows + (size_t)k * wp;                                                      \
                    memset(row, 0, sizeof(real) * wp);                                                      \
                    if (r >= 0 && r < g->h) {                                                               \
                        const int width = g->w < wp - g->pw ? g->w : wp - g->pw;                            \
                        memcpy(row + g->pw, x + (((size_t)img * g->c + ci) * g->h + r) * g->w,              \
                               sizeof(real) * width);                                                       \
                    }                                                                                       \
                }                                                                                           \
                for (int xi = 0; xi < A; xi++)                                                              \
                    for (int col = 0; col < wp; col++) {                                                    \
                        real s = 0;                                                                         \
                        for (int k = 0; k < A; k++)                                                         \
                            if (BT[xi][k] != 0)                                                             \
                                s += BT[xi][k] * rows[(size_t)k * wp + col];                                \
                        combined[(size_t)xi * wp + col] = s;                                                \
                    }                                                                                       \
                real *out = v + (((size_t)ci * g->n + img) * g->tb + t) * g->tiles_w;                       \
                for (int xi = 0; xi < A; xi++)                                                              \
                    for (int nu = 0; nu < A; nu++) {                                                        \
                        real *dst = out + (size_t)(xi * A + nu) * point;                                    \
                        const real *src = combined + (size_t)xi * wp;                                       \
                        for (int tw = 0; tw < g->tiles_w; tw++) {                                           \
                            real s = 0;                                                                     \
                            for (int k = 0; k < A; k++)                                                     \
                                if (BT[nu][k] != 0)                                                         \
                                    s += BT[nu][k] * src[M * tw + k];                                       \
                            dst[tw] = s;                                                                    \
                        }                                                                                   \
                    }                                                                                       \
            }                                                                                               \
    free(rows);                                                                                             \
    return 0;                                                                                               \
}

/* y[img, oc, M*(t0+t) + i, M*tw + j] = (A^T m A)[i, j] (+ bias[oc]) for output channels [o0, o1), cropped to
   y's (h, w): mm is (a, a, c, n, tb, tiles_w) with c the output channels. Returns 0, or -1 if memory ran out. */
#define OUTPUT_TRANSFORM(NAME, M, AT)                                                                         \
int NAME(const struct tiles *g, const real *mm, const real *bias, real *y, int o0, int o1)                  \
{                                                                                                           \
    enum { A = M + 2 };                                                                                     \
    const size_t point = (size_t)g->c * g->n * g->tb * g->tiles_w, tw_n = g->tiles_w;                        \
    real *combined = malloc(sizeof(real) * (M * A + M * M) * tw_n), *rows = combined + M * A * tw_n;         \
    if (!combined)                                                                                          \
        return -1;                                                                                          \
    for (int oc = o0; oc < o1; oc++)                                                                        \
        for (int img = 0; img < g->n; img++)                                                                \
            for (int t = 0; t < g->tb; t++) {                                                               \
                const real *in = mm + (((size_t)oc * g->n + img) * g->tb + t) * g->tiles_w;                 \
                for (int i = 0; i < M; i++)                                                                 \
                    for (int nu = 0; nu < A; nu++)                                                          \
                        for (size_t tw = 0; tw < tw_n; tw++) {                                              \
                            real s = 0;                                                                     \
                            for (int k = 0; k < A; k++)                                                     \
                                if (AT[i][k] != 0)                                                          \
                                    s += AT[i][k] * in[(size_t)(k * A + nu) * point + tw];                  \
                            combined[(i * A + nu) * tw_n + tw] = s;                                         \
                        }                                                                                   \
                const real b = bias ? bias[oc] : 0;                                                         \
                for (int i = 0; i < M; i++)                                                                 \
                    for (size_t tw = 0; tw < tw_n; tw++)                                                    \
                        for (int j = 0; j < M; j++) {                                                       \
                            real s = 0;                                                                     \
                            for (int k = 0; k < A; k++)                                                     \
                                if (AT[j][k] != 0)                                                          \
                                    s += AT[j][k] * combined[(i * A + k) * tw_n + tw];                      \
                            rows[i * M * tw_n + M * tw + j] = bias ? s + b : s;                             \
                        }                                                                                   \
                for (int i = 0; i < M; i++) {                                                               \
                    const int r = M * (g->t0 + t) + i;                                                      \
                    if (r < g->h)                                                                           \
                        memcpy(y + (((size_t)img * g->c + oc) * g->h + r) * g->w, rows + i * M * tw_n,       \
                               sizeof(real) * g->w);                                                        \
                }                                                                                           \
            }                                                                                               \
    free(combined);                                                                                         \
    return 0;                                                                                               \
}

INPUT_TRANSFORM(lumen_winograd2_input, 2, BT2)
INPUT_TRANSFORM(lumen_winograd4_input, 4, BT4)
OUTPUT_TRANSFORM(lumen_winograd2_output, 2, AT2)
OUTPUT_TRANSFORM(lumen_winograd4_output, 4, AT4)
