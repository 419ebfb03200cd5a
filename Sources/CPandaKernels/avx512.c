// C with per-function target attributes, not Highway: the AVX2 kernels already are, Highway 1.0.3 is C++ (a second language and library in the target for three kernels), and two-width include templates give the width-generic form.
// The AVX-512 and AVX-VNNI kernels: 512-bit f32/f16/bf16 products (float_rows.h) and q4_0x8/q8_0x8 products through
// vpdpbusd at 512 and 256 bits (x8_vnni.h). Called by panda_matvec and panda_matmul_x8 only on the paths whose CPU
// features they need (paths.c).
#include "panda_kernels.h"

#include <string.h>

#include "internal.h"

#ifdef PANDA_X86

#define AVX512 "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq"

// ---- f32/f16/bf16, 16 lanes ----

__attribute__((target(AVX512))) static inline __m512 widen16(int dtype, const uint8_t *p) {
    switch (dtype) {
    case PANDA_F16: return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
    case PANDA_BF16: return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)p)), 16));
    default: return _mm512_loadu_ps((const float *)p);
    }
}

#define FLOAT_MATVEC float_matvec_avx512
#define TARGET __attribute__((target(AVX512)))
#define VEC __m512
#define LANES 16
#define VZERO() _mm512_setzero_ps()
#define VLOADF(p) _mm512_loadu_ps(p)
#define VFMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define VADD(a, b) _mm512_add_ps(a, b)
#define VHSUM(v) _mm512_reduce_add_ps(v)
#define VWIDEN(dtype, p) widen16(dtype, p)
#include "float_rows.h"

void panda_matvec_float_avx512(int dtype, const uint8_t *w, const float *x, float *y, size_t cols, size_t row_begin, size_t row_end) {
    float_matvec_avx512(dtype, w, x, y, cols, row_begin, row_end);
}

// ---- q4_0x8/q8_0x8 through 512-bit vpdpbusd: two groups (16 rows) per vector, 8 activation rows per pass ----

#define X8_SUFFIX avx512vnni
#define TARGET __attribute__((target(AVX512 ",avx512vnni")))
#define VI __m512i
#define VF __m512
#define GROUPS 2
#define TILE 8
#define LOAD_RUN(g0, g1, offset) \
    _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)((g0) + (offset)))), \
                       _mm256_loadu_si256((const __m256i *)((g1) + (offset))), 1)
#define LOAD_SCALES(g0, g1) \
    _mm512_cvtph_ps(_mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(g0))), \
                                            _mm_loadu_si128((const __m128i *)(g1)), 1))
#define STORE(y, v, both) _mm512_mask_storeu_ps(y, (both) ? 0xFFFF : 0x00FF, v)
#define DPBUSD(acc, u, s) _mm512_dpbusd_epi32(acc, u, s)
#define SET1_I8(v) _mm512_set1_epi8(v)
#define SET1_I32(v) _mm512_set1_epi32(v)
#define SET1_F(v) _mm512_set1_ps(v)
#define AND(a, b) _mm512_and_si512(a, b)
#define XOR(a, b) _mm512_xor_si512(a, b)
#define SRLI16(v, n) _mm512_srli_epi16(v, n)
#define CVT(v) _mm512_cvtepi32_ps(v)
#define MUL(a, b) _mm512_mul_ps(a, b)
#define FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define FZERO() _mm512_setzero_ps()
#include "x8_vnni.h"

// ---- the same through 256-bit AVX-VNNI (VEX-encoded, on AVX2 CPUs): one group per vector, 16 registers ----

#define X8_SUFFIX avxvnni
#define TARGET __attribute__((target("avx2,fma,f16c,avxvnni")))
#define VI __m256i
#define VF __m256
#define GROUPS 1
#define TILE 4
#define LOAD_RUN(g0, g1, offset) _mm256_loadu_si256((const __m256i *)((g0) + (offset)))
#define LOAD_SCALES(g0, g1) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(g0)))
#define STORE(y, v, both) _mm256_storeu_ps(y, v)
#define DPBUSD(acc, u, s) _mm256_dpbusd_avx_epi32(acc, u, s)
#define SET1_I8(v) _mm256_set1_epi8(v)
#define SET1_I32(v) _mm256_set1_epi32(v)
#define SET1_F(v) _mm256_set1_ps(v)
#define AND(a, b) _mm256_and_si256(a, b)
#define XOR(a, b) _mm256_xor_si256(a, b)
#define SRLI16(v, n) _mm256_srli_epi16(v, n)
#define CVT(v) _mm256_cvtepi32_ps(v)
#define MUL(a, b) _mm256_mul_ps(a, b)
#define FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define FZERO() _mm256_setzero_ps()
#include "x8_vnni.h"

void panda_matvec_x8_vnni(int wide, int dtype, const uint8_t *w, const uint8_t *x, float *y, size_t cols, size_t row_begin, size_t row_end) {
    if (wide) matvec_x8_avx512vnni(dtype, w, x, y, cols, row_begin, row_end);
    else matvec_x8_avxvnni(dtype, w, x, y, cols, row_begin, row_end);
}

void panda_matmul_x8_vnni(int wide, int dtype, const uint8_t *w, const uint8_t *x, const float *dx, const int32_t *sx, float *y,
                          size_t count, size_t cols, size_t y_stride, size_t row_begin, size_t row_end) {
    if (wide) matmul_x8_avx512vnni(dtype, w, x, dx, sx, y, count, cols, y_stride, row_begin, row_end);
    else matmul_x8_avxvnni(dtype, w, x, dx, sx, y, count, cols, y_stride, row_begin, row_end);
}

#endif
