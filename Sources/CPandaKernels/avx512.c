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

// The product is blocked as a BLAS GEMM is: a slab of 32 weight rows and 256 columns is repacked into the order
// vdpbf16ps takes (lane = row, each 32-bit lane a pair of adjacent columns) and stays in L1 while tiles of up to 12
// activation rows pass over it, each tile's 2 × 12 accumulators in registers, every activation pair broadcast to all
// lanes. Each output is its row's and token's own sum in column order (partial sums rest in y between column blocks),
// so a token's result does not depend on the tile or batch it is in.
enum { BF16_SLAB_ROWS = 32, BF16_BLOCK_PAIRS = 128, BF16_TILE_TOKENS = 12 };

// Columns [k0, k0 + columns) of `rows` (≤ 32) weight rows as packed[pair][lane]: lane r holds row r's columns
// k0 + 2·pair and k0 + 2·pair + 1. Lanes past `rows` and the column past an odd end are zero.
AVX512BF16 static void bf16_pack(const uint8_t *w, size_t row_bytes, int rows, size_t k0, size_t columns, uint32_t *packed) {
    size_t pairs = (columns + 1) / 2;
    for (int lane = 0; lane < BF16_SLAB_ROWS; lane++) {
        if (lane >= rows) {
            for (size_t p = 0; p < pairs; p++) packed[p * BF16_SLAB_ROWS + lane] = 0;
            continue;
        }
        const uint16_t *row = (const uint16_t *)(w + (size_t)lane * row_bytes) + k0;
        for (size_t p = 0; p < columns / 2; p++) {
            uint32_t pair;
            memcpy(&pair, row + 2 * p, 4);
            packed[p * BF16_SLAB_ROWS + lane] = pair;
        }
        if (columns % 2) packed[(pairs - 1) * BF16_SLAB_ROWS + lane] = row[columns - 1];
    }
}

// y[t][0..32) (masked to the slab's rows) += the packed block times tokens t < T's columns [k0, k0 + columns); the
// first column block starts from beta · y instead of y.
AVX512BF16 static inline __attribute__((always_inline)) void bf16_tile(
    int T, const uint32_t *packed, size_t columns, const uint16_t *x, size_t cols, float *y, size_t y_stride,
    __mmask16 low, __mmask16 high, int first, float beta) {
    __m512 acc[BF16_TILE_TOKENS][2];
    for (int t = 0; t < T; t++) {
        float *out = y + (size_t)t * y_stride;
        if (first && beta == 0) {
            acc[t][0] = acc[t][1] = _mm512_setzero_ps();
        } else {
            __m512 scale = _mm512_set1_ps(first ? beta : 1.0f);
            acc[t][0] = _mm512_mul_ps(scale, _mm512_maskz_loadu_ps(low, out));
            acc[t][1] = _mm512_mul_ps(scale, _mm512_maskz_loadu_ps(high, out + 16));
        }
    }
    size_t full = columns / 2;
    for (size_t p = 0; p < full; p++) {
        __m512bh w0 = (__m512bh)_mm512_loadu_si512(packed + p * BF16_SLAB_ROWS);
        __m512bh w1 = (__m512bh)_mm512_loadu_si512(packed + p * BF16_SLAB_ROWS + 16);
        for (int t = 0; t < T; t++) {
            uint32_t pair;
            memcpy(&pair, x + (size_t)t * cols + 2 * p, 4);
            __m512bh xv = (__m512bh)_mm512_set1_epi32((int)pair);
            acc[t][0] = _mm512_dpbf16_ps(acc[t][0], w0, xv);
            acc[t][1] = _mm512_dpbf16_ps(acc[t][1], w1, xv);
        }
    }
    if (columns % 2) {  // the last column alone: its partner is zero in both operands, and nothing past the row is read
        __m512bh w0 = (__m512bh)_mm512_loadu_si512(packed + full * BF16_SLAB_ROWS);
        __m512bh w1 = (__m512bh)_mm512_loadu_si512(packed + full * BF16_SLAB_ROWS + 16);
        for (int t = 0; t < T; t++) {
            __m512bh xv = (__m512bh)_mm512_set1_epi32((int)x[(size_t)t * cols + columns - 1]);
            acc[t][0] = _mm512_dpbf16_ps(acc[t][0], w0, xv);
            acc[t][1] = _mm512_dpbf16_ps(acc[t][1], w1, xv);
        }
    }
    for (int t = 0; t < T; t++) {
        float *out = y + (size_t)t * y_stride;
        _mm512_mask_storeu_ps(out, low, acc[t][0]);
        _mm512_mask_storeu_ps(out + 16, high, acc[t][1]);
    }
}

AVX512BF16 void panda_matmul_bf16_avx512(const uint8_t *w, const uint16_t *x, float *y, size_t count, size_t cols, size_t y_stride, float beta,
                              size_t row_begin, size_t row_end) {
    size_t row_bytes = cols * 2;
    uint32_t packed[BF16_BLOCK_PAIRS * BF16_SLAB_ROWS] __attribute__((aligned(64)));
    for (size_t r0 = row_begin; r0 < row_end; r0 += BF16_SLAB_ROWS) {
        int rows = row_end - r0 < BF16_SLAB_ROWS ? (int)(row_end - r0) : BF16_SLAB_ROWS;
        __mmask16 low = rows >= 16 ? 0xFFFF : (__mmask16)((1u << rows) - 1);
        __mmask16 high = rows <= 16 ? 0 : (__mmask16)((1u << (rows - 16)) - 1);
        for (size_t k0 = 0; k0 < cols; k0 += 2 * BF16_BLOCK_PAIRS) {
            size_t columns = cols - k0 < 2 * BF16_BLOCK_PAIRS ? cols - k0 : 2 * BF16_BLOCK_PAIRS;
            bf16_pack(w + r0 * row_bytes, row_bytes, rows, k0, columns, packed);
            for (size_t t0 = 0; t0 < count; t0 += BF16_TILE_TOKENS) {
                const uint16_t *xt = x + t0 * cols + k0;
                float *yt = y + t0 * y_stride + r0;
                int first = k0 == 0;
                // A constant token count per call, so that the accumulators stay in registers.
                switch (count - t0 < BF16_TILE_TOKENS ? (int)(count - t0) : BF16_TILE_TOKENS) {
#define BF16_TILE_CASE(T) case T: bf16_tile(T, packed, columns, xt, cols, yt, y_stride, low, high, first, beta); break;
                BF16_TILE_CASE(12) BF16_TILE_CASE(11) BF16_TILE_CASE(10) BF16_TILE_CASE(9) BF16_TILE_CASE(8) BF16_TILE_CASE(7)
                BF16_TILE_CASE(6) BF16_TILE_CASE(5) BF16_TILE_CASE(4) BF16_TILE_CASE(3) BF16_TILE_CASE(2) BF16_TILE_CASE(1)
#undef BF16_TILE_CASE
                }
            }
        }
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
