// C with per-function target attributes, not Highway: the AVX2 kernels already are, Highway 1.0.3 is C++ (a second language and library in the target for three kernels), and two-width include templates give the width-generic form.
// The AVX-512 and AVX-VNNI kernels: 512-bit f32/f16/bf16 products (float_rows.h), q4_0x8/q8_0x8 products through
// vpdpbusd at 512 and 256 bits (x8_vnni.h), and bf16 matrix–matrix products through vdpbf16ps. Called by panda_matvec and panda_matmul_x8 only on the paths whose CPU
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

// ---- bf16 × bf16 through vdpbf16ps ----

#define AVX512BF16 __attribute__((target(AVX512 ",avx512bf16")))

AVX512BF16 void panda_f32_to_bf16_avx512(const float *x, uint16_t *out, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) _mm256_storeu_si256((__m256i *)(out + i), (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(x + i)));
    if (i < n) {
        __mmask16 mask = (__mmask16)((1u << (n - i)) - 1);
        _mm256_mask_storeu_epi16(out + i, mask, (__m256i)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(mask, x + i)));
    }
}

// Four weight rows × four activation rows, over all columns: each vdpbf16ps adds 32 products into the 16 lanes of
// one of 16 accumulators, summed across lanes once at the end. At the edges the last row (or activation row) is
// repeated and its copies' sums are not stored.
AVX512BF16 static void bf16_tile(const uint8_t *w, size_t row_bytes, int rows, const uint16_t *x, int tokens, size_t cols,
                                 float *y, size_t y_stride, float beta) {
    const uint16_t *wr[4], *xt[4];
    for (int k = 0; k < 4; k++) {
        wr[k] = (const uint16_t *)(w + (size_t)(k < rows ? k : rows - 1) * row_bytes);
        xt[k] = x + (size_t)(k < tokens ? k : tokens - 1) * cols;
    }
    __m512 acc[4][4];
    for (int k = 0; k < 4; k++)
        for (int t = 0; t < 4; t++) acc[k][t] = _mm512_setzero_ps();
    for (size_t i = 0; i < cols; i += 32) {
        __mmask32 mask = i + 32 <= cols ? 0xFFFFFFFFu : (1u << (cols - i)) - 1;
        __m512bh xv[4];
        for (int t = 0; t < 4; t++) xv[t] = (__m512bh)_mm512_maskz_loadu_epi16(mask, xt[t] + i);
        for (int k = 0; k < 4; k++) {
            __m512bh wv = (__m512bh)_mm512_maskz_loadu_epi16(mask, wr[k] + i);
            for (int t = 0; t < 4; t++) acc[k][t] = _mm512_dpbf16_ps(acc[k][t], wv, xv[t]);
        }
    }
    for (int t = 0; t < tokens; t++)
        for (int k = 0; k < rows; k++) {
            float sum = _mm512_reduce_add_ps(acc[k][t]), *out = y + t * y_stride + k;
            *out = beta == 0 ? sum : sum + beta * *out;
        }
}

// Rows in slabs of 32 (256 KB of a 4096-wide weight, kept in L2) while every tile of four activation rows passes.
void panda_matmul_bf16_avx512(const uint8_t *w, const uint16_t *x, float *y, size_t count, size_t cols, size_t y_stride, float beta,
                              size_t row_begin, size_t row_end) {
    size_t row_bytes = cols * 2;
    for (size_t slab_begin = row_begin; slab_begin < row_end; slab_begin += 32) {
        size_t slab_end = slab_begin + 32 < row_end ? slab_begin + 32 : row_end;
        for (size_t t = 0; t < count; t += 4)
            for (size_t r = slab_begin; r < slab_end; r += 4)
                bf16_tile(w + r * row_bytes, row_bytes, slab_end - r < 4 ? (int)(slab_end - r) : 4, x + t * cols,
                          count - t < 4 ? (int)(count - t) : 4, cols, y + t * y_stride + r, y_stride, beta);
    }
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
