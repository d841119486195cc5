/* The vector types of the CPU backend's C kernels (GCC and Clang vector extensions), for -DREAL=float or
   -DREAL=double: vec, one register of reals (512 bits where AVX-512 gives 32 of them); mask, integer lanes as
   wide as vec's (a comparison's -1 or 0), also used as lane indices. */
#include <string.h>

#ifndef REAL
#error "compile with -DREAL=float or -DREAL=double"
#endif
typedef REAL real;

#if defined(__AVX512F__)
#define VBYTES 64
#elif defined(__AVX__)
#define VBYTES 32
#else
#define VBYTES 16
#endif
#define float_LANE int
#define double_LANE long long
#define LANE_OF(r) LANE_OF_(r)
#define LANE_OF_(r) r##_LANE
typedef LANE_OF(REAL) lane;
typedef real vec __attribute__((vector_size(VBYTES), aligned(sizeof(real))));
typedef lane mask __attribute__((vector_size(VBYTES)));
enum { VL = VBYTES / sizeof(real) };

/* Unaligned and free to alias reals. A memcpy instead compiled (GCC 12, znver3) to two 16-byte stores
   into a stack copy and a 32-byte load from it, a failed store forward on every load: 5 GFLOP/s a core. */
typedef real unaligned_vec __attribute__((vector_size(VBYTES), aligned(sizeof(real)), may_alias));
static inline vec load(const real *p) { return *(const unaligned_vec *)p; }
static inline void store(real *p, vec v) { *(unaligned_vec *)p = v; }
/* where m's lanes are -1, a's; elsewhere b's */
static inline vec select_vec(mask m, vec a, vec b) { return (vec)(((mask)a & m) | ((mask)b & ~m)); }
