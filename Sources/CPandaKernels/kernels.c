// Portable and AVX2 matrix kernels and the dispatch to every path's kernels (see panda_kernels.h for why this is C).
#include "panda_kernels.h"

#include <math.h>
#include <string.h>

#include "internal.h"

// ---- scalar conversions (IEEE half and bfloat16) ----

static inline float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exponent = (h >> 10) & 0x1F, mantissa = h & 0x3FF, bits;
    if (exponent == 0x1F) {
        bits = sign | 0x7F800000 | (mantissa << 13);
    } else if (exponent != 0) {
        bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
    } else if (mantissa == 0) {
        bits = sign;
    } else {  // subnormal: normalize
        exponent = 113;
        while (!(mantissa & 0x400)) { mantissa <<= 1; exponent--; }
        bits = sign | (exponent << 23) | ((mantissa & 0x3FF) << 13);
    }
    float value;
    memcpy(&value, &bits, 4);
    return value;
}

static inline uint16_t f32_to_f16(float value) {  // round to nearest even, as GGML_FP32_TO_FP16
    uint32_t bits;
    memcpy(&bits, &value, 4);
    uint32_t sign = (bits >> 16) & 0x8000;
    int32_t exponent = (int32_t)((bits >> 23) & 0xFF) - 127 + 15;
    uint32_t mantissa = bits & 0x7FFFFF;
    if (((bits >> 23) & 0xFF) == 0xFF) return (uint16_t)(sign | 0x7C00 | (mantissa ? 0x200 : 0));
    if (exponent >= 31) return (uint16_t)(sign | 0x7C00);
    if (exponent <= 0) {
        if (exponent < -10) return (uint16_t)sign;
        mantissa |= 0x800000;
        uint32_t shift = (uint32_t)(14 - exponent);
        uint32_t half = mantissa >> shift, rest = mantissa & ((1u << shift) - 1), midpoint = 1u << (shift - 1);
        if (rest > midpoint || (rest == midpoint && (half & 1))) half++;
        return (uint16_t)(sign | half);
    }
    uint32_t half = sign | ((uint32_t)exponent << 10) | (mantissa >> 13), rest = mantissa & 0x1FFF;
    if (rest > 0x1000 || (rest == 0x1000 && (half & 1))) half++;
    return (uint16_t)half;
}

static inline float bf16_to_f32(uint16_t b) {
    uint32_t bits = (uint32_t)b << 16;
    float value;
    memcpy(&value, &bits, 4);
    return value;
}

static inline float load_f16(const uint8_t *p) { uint16_t h; memcpy(&h, p, 2); return f16_to_f32(h); }

size_t panda_row_bytes(int dtype, size_t cols) {
    switch (dtype) {
    case PANDA_F32: return cols * 4;
    case PANDA_F16: case PANDA_BF16: return cols * 2;
    case PANDA_Q8_0: case PANDA_Q8_0X8: return cols / PANDA_QK * PANDA_Q8_0_BYTES;
    case PANDA_Q4_0: case PANDA_Q4_0X8: return cols / PANDA_QK * PANDA_Q4_0_BYTES;
    default: return 0;
    }
}

void panda_quantize_q8_0(const float *x, void *blocks, size_t n) {
    uint8_t *out = blocks;
    for (size_t b = 0; b < n / PANDA_QK; b++, x += PANDA_QK, out += PANDA_Q8_0_BYTES) {
        float amax = 0;
        for (int i = 0; i < PANDA_QK; i++) amax = fmaxf(amax, fabsf(x[i]));
        float d = amax / 127.0f, inverse = d != 0 ? 1.0f / d : 0.0f;
        uint16_t scale = f32_to_f16(d);
        memcpy(out, &scale, 2);
        for (int i = 0; i < PANDA_QK; i++) out[2 + i] = (uint8_t)(int8_t)roundf(x[i] * inverse);
    }
}

void panda_quantize_q4_0(const float *x, void *blocks, size_t n) {
    uint8_t *out = blocks;
    for (size_t b = 0; b < n / PANDA_QK; b++, x += PANDA_QK, out += PANDA_Q4_0_BYTES) {
        float amax = 0, signed_max = 0;
        for (int i = 0; i < PANDA_QK; i++) {
            if (amax < fabsf(x[i])) { amax = fabsf(x[i]); signed_max = x[i]; }
        }
        float d = signed_max / -8.0f, inverse = d != 0 ? 1.0f / d : 0.0f;
        uint16_t scale = f32_to_f16(d);
        memcpy(out, &scale, 2);
        for (int i = 0; i < PANDA_QK / 2; i++) {
            // Two statements each, so that no compiler fuses the product and the sum into one differently rounded FMA.
            float low_scaled = x[i] * inverse, high_scaled = x[i + PANDA_QK / 2] * inverse;
            int low = (int8_t)(low_scaled + 8.5f), high = (int8_t)(high_scaled + 8.5f);
            out[2 + i] = (uint8_t)((low < 15 ? low : 15) | (high < 15 ? high : 15) << 4);
        }
    }
}

void panda_q8_0_scales_and_sums(const uint8_t *block, size_t count, float *scales, int32_t *sums) {
    for (size_t b = 0; b < count; b++, block += PANDA_Q8_0_BYTES) {
        scales[b] = load_f16(block);
        int32_t sum = 0;
        for (int i = 0; i < PANDA_QK; i++) sum += (int8_t)block[2 + i];
        sums[b] = sum;
    }
}

void panda_quantize_q8_0_rows(const float *x, size_t rows, size_t cols, void *blocks, float *scales, int32_t *sums) {
    panda_quantize_q8_0(x, blocks, rows * cols);
    panda_q8_0_scales_and_sums(blocks, rows * (cols / PANDA_QK), scales, sums);
}

// ---- the interleaved layouts (q4_0x8, q8_0x8) ----

// The plain block dtype an interleaved dtype holds, or -1.
static inline int interleaved_blocks(int dtype) {
    return dtype == PANDA_Q4_0X8 ? PANDA_Q4_0 : dtype == PANDA_Q8_0X8 ? PANDA_Q8_0 : -1;
}

// Where byte j (0–1 the scale, then the quants) of block b of row r sits in an interleaved matrix of
// `block_bytes`-byte blocks (docs/format.md).
static inline size_t x8_offset(size_t r, size_t b, size_t j, size_t blocks, size_t block_bytes) {
    size_t group = r / PANDA_X8_ROWS, lane = r % PANDA_X8_ROWS;
    size_t base = (group * blocks + b) * PANDA_X8_ROWS * block_bytes;
    if (j < 2) return base + 2 * lane + j;
    size_t quant_byte = j - 2;
    return base + 16 + (quant_byte / 4) * 32 + lane * 4 + quant_byte % 4;
}

// Row r of an interleaved matrix as plain blocks, for the portable paths.
static void x8_row(int blocks_dtype, const uint8_t *w, size_t r, size_t cols, uint8_t *out) {
    size_t blocks = cols / PANDA_QK, block_bytes = panda_row_bytes(blocks_dtype, PANDA_QK);
    for (size_t b = 0; b < blocks; b++, out += block_bytes)
        for (size_t j = 0; j < block_bytes; j++) out[j] = w[x8_offset(r, b, j, blocks, block_bytes)];
}

void panda_interleave_x8(int dtype, const void *plain, void *interleaved, size_t rows, size_t cols) {
    int blocks_dtype = interleaved_blocks(dtype);
    size_t blocks = cols / PANDA_QK, block_bytes = panda_row_bytes(blocks_dtype, PANDA_QK);
    const uint8_t *in = plain;
    uint8_t *out = interleaved;
    for (size_t r = 0; r < rows; r++)
        for (size_t b = 0; b < blocks; b++)
            for (size_t j = 0; j < block_bytes; j++) out[x8_offset(r, b, j, blocks, block_bytes)] = *in++;
}

// ---- portable kernels ----

float panda_dot_row_portable(int dtype, const uint8_t *row, const void *x, size_t cols) {
    float sum = 0;
    switch (dtype) {
    case PANDA_F32: {
        const float *w = (const float *)row, *v = x;
        for (size_t i = 0; i < cols; i++) sum += w[i] * v[i];
        return sum;
    }
    case PANDA_F16: case PANDA_BF16: {
        const float *v = x;
        for (size_t i = 0; i < cols; i++) {
            uint16_t h;
            memcpy(&h, row + 2 * i, 2);
            sum += (dtype == PANDA_F16 ? f16_to_f32(h) : bf16_to_f32(h)) * v[i];
        }
        return sum;
    }
    case PANDA_Q8_0: case PANDA_Q4_0: {
        const uint8_t *xb = x;
        size_t stride = dtype == PANDA_Q8_0 ? PANDA_Q8_0_BYTES : PANDA_Q4_0_BYTES;
        for (size_t b = 0; b < cols / PANDA_QK; b++, row += stride, xb += PANDA_Q8_0_BYTES) {
            int32_t acc = 0;
            for (int i = 0; i < PANDA_QK; i++) {
                int w = dtype == PANDA_Q8_0 ? (int8_t)row[2 + i]
                                            : (i < 16 ? (row[2 + i] & 0x0F) : (row[2 + i - 16] >> 4)) - 8;
                acc += w * (int8_t)xb[2 + i];
            }
            sum += (float)acc * load_f16(row) * load_f16(xb);
        }
        return sum;
    }
    }
    return 0;
}

static void rows_to_f32_portable(int dtype, const uint8_t *row, float *out, size_t cols) {
    switch (dtype) {
    case PANDA_F32: memcpy(out, row, cols * 4); return;
    case PANDA_F16: case PANDA_BF16:
        for (size_t i = 0; i < cols; i++) {
            uint16_t h;
            memcpy(&h, row + 2 * i, 2);
            out[i] = dtype == PANDA_F16 ? f16_to_f32(h) : bf16_to_f32(h);
        }
        return;
    case PANDA_Q8_0:
        for (size_t b = 0; b < cols / PANDA_QK; b++, row += PANDA_Q8_0_BYTES) {
            float d = load_f16(row);
            for (int i = 0; i < PANDA_QK; i++) *out++ = d * (int8_t)row[2 + i];
        }
        return;
    case PANDA_Q4_0:
        for (size_t b = 0; b < cols / PANDA_QK; b++, row += PANDA_Q4_0_BYTES, out += PANDA_QK) {
            float d = load_f16(row);
            for (int i = 0; i < 16; i++) {
                out[i] = d * ((row[2 + i] & 0x0F) - 8);
                out[i + 16] = d * ((row[2 + i] >> 4) - 8);
            }
        }
        return;
    }
}

// ---- AVX2 kernels ----

#ifdef PANDA_X86

AVX2 static inline __m256 load8(int dtype, const uint8_t *p) {
    switch (dtype) {
    case PANDA_F16: return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
    case PANDA_BF16: return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p)), 16));
    default: return _mm256_loadu_ps((const float *)p);
    }
}

// Sum of products of 32 signed bytes, as 8 floats: |w| · (x · sign(w)) lets maddubs (unsigned × signed) do it.
AVX2 static inline __m256 dot_i8x32(__m256i w, __m256i x) {
    __m256i products = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(products, _mm256_set1_epi16(1)));
}

AVX2 static inline __m256i unpack_q4(const uint8_t *nibbles) {
    __m128i bytes = _mm_loadu_si128((const __m128i *)nibbles), mask = _mm_set1_epi8(0x0F);
    __m256i values = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(bytes, 4), mask), _mm_and_si128(bytes, mask));
    return _mm256_sub_epi8(values, _mm256_set1_epi8(8));
}

// Plain q8_0 and q4_0 rows one at a time (the rows left over by matvec_quantized_avx2's passes of four).
AVX2 static float dot_row_quantized_avx2(int dtype, const uint8_t *row, const uint8_t *xb, size_t cols) {
    size_t stride = dtype == PANDA_Q8_0 ? PANDA_Q8_0_BYTES : PANDA_Q4_0_BYTES;
    __m256 acc = _mm256_setzero_ps();
    for (size_t b = 0; b < cols / PANDA_QK; b++, row += stride, xb += PANDA_Q8_0_BYTES) {
        __m256i w = dtype == PANDA_Q8_0 ? _mm256_loadu_si256((const __m256i *)(row + 2)) : unpack_q4(row + 2);
        __m256i v = _mm256_loadu_si256((const __m256i *)(xb + 2));
        uint16_t dw, dx;
        memcpy(&dw, row, 2);
        memcpy(&dx, xb, 2);
        float scale = _cvtsh_ss(dw) * _cvtsh_ss(dx);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(scale), dot_i8x32(w, v), acc);
    }
    return hsum(acc);
}

#define FLOAT_MATVEC float_matvec_avx2
#define TARGET AVX2
#define VEC __m256
#define LANES 8
#define VZERO() _mm256_setzero_ps()
#define VLOADF(p) _mm256_loadu_ps(p)
#define VFMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define VADD(a, b) _mm256_add_ps(a, b)
#define VHSUM(v) hsum(v)
#define VWIDEN(dtype, p) load8(dtype, p)
#include "float_rows.h"

// Four rows at a time: each activation block is loaded once for four weight rows, and the four independent
// accumulators keep the FMA pipeline busy (the quantized product is compute-bound, not memory-bound).
AVX2 static void matvec_quantized_avx2(int dtype, const uint8_t *w, const uint8_t *x, float *y, size_t cols, size_t row_begin, size_t row_end) {
    size_t blocks = cols / PANDA_QK, stride = dtype == PANDA_Q8_0 ? PANDA_Q8_0_BYTES : PANDA_Q4_0_BYTES, row_bytes = blocks * stride;
    float x_scales[blocks > 0 ? blocks : 1];
    int32_t x_sums[blocks > 0 ? blocks : 1];
    panda_q8_0_scales_and_sums(x, blocks, x_scales, x_sums);
    size_t r = row_begin;
    if (dtype == PANDA_Q4_0) {
        // q4_0: the nibbles n = q + 8 are unsigned, so maddubs takes them as they are, and Σ q·x = Σ n·x − 8 Σ x.
        // The 8 Σ x of each activation block is spread over the 8 lanes as Σ x per lane and subtracted there.
        const __m256i low_mask = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1), shifts = _mm256_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4);
        for (; r + 4 <= row_end; r += 4) {
            const uint8_t *rows[4] = {w + r * row_bytes, w + (r + 1) * row_bytes, w + (r + 2) * row_bytes, w + (r + 3) * row_bytes};
            __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
            for (size_t b = 0; b < blocks; b++) {
                __m256i v = _mm256_loadu_si256((const __m256i *)(x + b * PANDA_Q8_0_BYTES + 2));
                __m256i x_sum = _mm256_set1_epi32(x_sums[b]);
                __m256 dx = _mm256_set1_ps(x_scales[b]);
                for (int k = 0; k < 4; k++) {
                    const uint8_t *block = rows[k] + b * PANDA_Q4_0_BYTES;
                    // Low nibbles to bytes 0–15, high nibbles to bytes 16–31: the 16 bytes in both halves, the upper
                    // half shifted right by 4.
                    __m256i packed = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(block + 2)));
                    __m256i nibbles = _mm256_and_si256(_mm256_srlv_epi32(packed, shifts), low_mask);
                    __m256i dot = _mm256_sub_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(nibbles, v), ones), x_sum);
                    uint16_t dw;
                    memcpy(&dw, block, 2);
                    acc[k] = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_set1_ps(_cvtsh_ss(dw)), dx), _mm256_cvtepi32_ps(dot), acc[k]);
                }
            }
            for (int k = 0; k < 4; k++) y[r + k] = hsum(acc[k]);
        }
    }
    for (; r + 4 <= row_end; r += 4) {
        const uint8_t *rows[4] = {w + r * row_bytes, w + (r + 1) * row_bytes, w + (r + 2) * row_bytes, w + (r + 3) * row_bytes};
        __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
        for (size_t b = 0; b < blocks; b++) {
            __m256i v = _mm256_loadu_si256((const __m256i *)(x + b * PANDA_Q8_0_BYTES + 2));
            __m256 dx = _mm256_set1_ps(x_scales[b]);
            for (int k = 0; k < 4; k++) {
                const uint8_t *block = rows[k] + b * stride;
                __m256i q = dtype == PANDA_Q8_0 ? _mm256_loadu_si256((const __m256i *)(block + 2)) : unpack_q4(block + 2);
                uint16_t dw;
                memcpy(&dw, block, 2);
                acc[k] = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_set1_ps(_cvtsh_ss(dw)), dx), dot_i8x32(q, v), acc[k]);
            }
        }
        for (int k = 0; k < 4; k++) y[r + k] = hsum(acc[k]);
    }
    for (; r < row_end; r++) y[r] = dot_row_quantized_avx2(dtype, w + r * row_bytes, x, cols);
}

// Eight rows of a q4_0x8 weight (one group) times `count` ≤ 4 activation rows: the lanes of every vector are the
// 8 rows, so each block ends in one multiply-add per activation row. Nibble products are summed as int16 over the
// whole block before widening: each maddubs pair is at most 2·15·127 and eight of them stay below 32767.
AVX2 static inline __attribute__((always_inline)) void q4_0x8_group_avx2(
    const uint8_t *group, size_t blocks, const uint8_t *x, const float *dx, const int32_t *sx, size_t x_blocks_stride,
    int count, float *y, size_t y_stride) {
    const size_t record = PANDA_X8_ROWS * PANDA_Q4_0_BYTES;
    const __m256i low_mask = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1);
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    for (size_t b = 0; b < blocks; b++, group += record) {
        // Eight records ahead: the hardware prefetcher alone leaves a quarter of the bandwidth unused.
        for (size_t line = 0; line < record; line += 64) _mm_prefetch((const char *)group + 8 * record + line, _MM_HINT_T0);
        __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)group));
        __m256i w[8];
        for (int i = 0; i < 4; i++) {
            __m256i run = _mm256_loadu_si256((const __m256i *)(group + 16 + 32 * i));
            w[i] = _mm256_and_si256(run, low_mask);
            w[i + 4] = _mm256_and_si256(_mm256_srli_epi16(run, 4), low_mask);
        }
        for (int t = 0; t < count; t++) {
            size_t index = t * x_blocks_stride + b;
            const uint8_t *q = x + index * PANDA_Q8_0_BYTES + 2;
            __m256i sum = _mm256_setzero_si256();
            for (int i = 0; i < 4; i++) {
                int32_t low, high;
                memcpy(&low, q + 4 * i, 4);
                memcpy(&high, q + 16 + 4 * i, 4);
                sum = _mm256_add_epi16(sum, _mm256_maddubs_epi16(w[i], _mm256_set1_epi32(low)));
                sum = _mm256_add_epi16(sum, _mm256_maddubs_epi16(w[i + 4], _mm256_set1_epi32(high)));
            }
            __m256i dot = _mm256_sub_epi32(_mm256_madd_epi16(sum, ones), _mm256_set1_epi32(8 * sx[index]));
            acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(dx[index])), _mm256_cvtepi32_ps(dot), acc[t]);
        }
    }
    for (int t = 0; t < count; t++) _mm256_storeu_ps(y + t * y_stride, acc[t]);
}

// The same for q8_0x8. Signed weights take maddubs through |w| · (x · sign(w)); a pair sum can reach 2·127·127,
// so each run's products are widened to int32 before the next is added.
AVX2 static inline __attribute__((always_inline)) void q8_0x8_group_avx2(
    const uint8_t *group, size_t blocks, const uint8_t *x, const float *dx, size_t x_blocks_stride, int count,
    float *y, size_t y_stride) {
    const size_t record = PANDA_X8_ROWS * PANDA_Q8_0_BYTES;
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    for (size_t b = 0; b < blocks; b++, group += record) {
        for (size_t line = 0; line < record; line += 64) _mm_prefetch((const char *)group + 4 * record + line, _MM_HINT_T0);
        __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)group));
        __m256i magnitude[8];
        for (int i = 0; i < 8; i++) {
            __m256i w = _mm256_loadu_si256((const __m256i *)(group + 16 + 32 * i));
            magnitude[i] = _mm256_sign_epi8(w, w);
        }
        for (int t = 0; t < count; t++) {
            size_t index = t * x_blocks_stride + b;
            const uint8_t *q = x + index * PANDA_Q8_0_BYTES + 2;
            __m256i sum = _mm256_setzero_si256();
            for (int i = 0; i < 8; i++) {
                __m256i w = _mm256_loadu_si256((const __m256i *)(group + 16 + 32 * i));
                int32_t four;
                memcpy(&four, q + 4 * i, 4);
                __m256i products = _mm256_maddubs_epi16(magnitude[i], _mm256_sign_epi8(_mm256_set1_epi32(four), w));
                sum = _mm256_add_epi32(sum, _mm256_madd_epi16(products, ones));
            }
            acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(dx[index])), _mm256_cvtepi32_ps(sum), acc[t]);
        }
    }
    for (int t = 0; t < count; t++) _mm256_storeu_ps(y + t * y_stride, acc[t]);
}

// One group of an interleaved weight times `count` activation rows (a constant at each call site, so the loops
// over activation rows unroll).
AVX2 static inline __attribute__((always_inline)) void x8_group_avx2(
    int dtype, const uint8_t *group, size_t blocks, const uint8_t *x, const float *dx, const int32_t *sx,
    size_t x_blocks_stride, int count, float *y, size_t y_stride) {
    if (dtype == PANDA_Q4_0X8) q4_0x8_group_avx2(group, blocks, x, dx, sx, x_blocks_stride, count, y, y_stride);
    else q8_0x8_group_avx2(group, blocks, x, dx, x_blocks_stride, count, y, y_stride);
}

AVX2 static void matvec_x8_avx2(int dtype, const uint8_t *w, const uint8_t *x, float *y, size_t cols, size_t row_begin, size_t row_end) {
    size_t blocks = cols / PANDA_QK, row_bytes = panda_row_bytes(dtype, cols);
    float x_scales[blocks > 0 ? blocks : 1];
    int32_t x_sums[blocks > 0 ? blocks : 1];
    panda_q8_0_scales_and_sums(x, blocks, x_scales, x_sums);
    for (size_t r = row_begin; r < row_end; r += PANDA_X8_ROWS)
        x8_group_avx2(dtype, w + r * row_bytes, blocks, x, x_scales, x_sums, 0, 1, y + r, 0);
}

// Rows in slabs of four groups, so a slab's weights (32 rows, at most a few hundred KB) stay in L2 while every
// tile of four activation rows passes over them.
AVX2 static void matmul_x8_avx2(int dtype, const uint8_t *w, const uint8_t *x, const float *dx, const int32_t *sx, float *y,
                                size_t count, size_t cols, size_t y_stride, size_t row_begin, size_t row_end) {
    size_t blocks = cols / PANDA_QK, row_bytes = panda_row_bytes(dtype, cols), slab = 4 * PANDA_X8_ROWS;
    for (size_t slab_begin = row_begin; slab_begin < row_end; slab_begin += slab) {
        size_t slab_end = slab_begin + slab < row_end ? slab_begin + slab : row_end;
        for (size_t t = 0; t < count; t += 4) {
            int tile = count - t < 4 ? (int)(count - t) : 4;
            const uint8_t *xt = x + t * blocks * PANDA_Q8_0_BYTES;
            const float *dxt = dx + t * blocks;
            const int32_t *sxt = sx + t * blocks;
            for (size_t r = slab_begin; r < slab_end; r += PANDA_X8_ROWS) {
                const uint8_t *group = w + r * row_bytes;
                float *yt = y + t * y_stride + r;
                switch (tile) {
                case 4: x8_group_avx2(dtype, group, blocks, xt, dxt, sxt, blocks, 4, yt, y_stride); break;
                case 3: x8_group_avx2(dtype, group, blocks, xt, dxt, sxt, blocks, 3, yt, y_stride); break;
                case 2: x8_group_avx2(dtype, group, blocks, xt, dxt, sxt, blocks, 2, yt, y_stride); break;
                default: x8_group_avx2(dtype, group, blocks, xt, dxt, sxt, blocks, 1, yt, y_stride); break;
                }
            }
        }
    }
}

AVX2 static void rows_to_f32_avx2(int dtype, const uint8_t *row, float *out, size_t cols) {
    if (dtype == PANDA_F16 || dtype == PANDA_BF16) {
        size_t i = 0;
        for (; i + 8 <= cols; i += 8) _mm256_storeu_ps(out + i, load8(dtype, row + 2 * i));
        if (i < cols) rows_to_f32_portable(dtype, row + 2 * i, out + i, cols - i);
        return;
    }
    rows_to_f32_portable(dtype, row, out, cols);
}

#endif

void panda_matvec_many(int dtype, const void *w, const float *x, size_t count, float *y, size_t y_stride, size_t cols,
                       size_t row_begin, size_t row_end) {
    // Tiles of rows small enough to stay in L2 (256 KB) while every vector passes over them; panda_matvec's result
    // for a row does not depend on the range it is computed in, so each vector gets exactly its own product.
    size_t row_bytes = panda_row_bytes(dtype, cols);
    size_t tile = row_bytes > 0 ? (256 * 1024) / row_bytes / 4 * 4 : row_end - row_begin;
    if (tile < 4) tile = 4;
    for (size_t r = row_begin; r < row_end; r += tile) {
        size_t end = r + tile < row_end ? r + tile : row_end;
        for (size_t j = 0; j < count; j++) panda_matvec(dtype, w, x + j * cols, y + j * y_stride, cols, r, end);
    }
}

void panda_matvec(int dtype, const void *w, const void *x, float *y, size_t cols, size_t row_begin, size_t row_end) {
    size_t row_bytes = panda_row_bytes(dtype, cols);
    const uint8_t *row = (const uint8_t *)w + row_begin * row_bytes;
#ifdef PANDA_X86
    int path = panda_kernel_path();
    if (path != PANDA_PATH_PORTABLE) {
        if (interleaved_blocks(dtype) >= 0) {
            if (path == PANDA_PATH_AVX512VNNI || path == PANDA_PATH_AVXVNNI)
                panda_matvec_x8_vnni(path == PANDA_PATH_AVX512VNNI, dtype, w, x, y, cols, row_begin, row_end);
            else
                matvec_x8_avx2(dtype, w, x, y, cols, row_begin, row_end);
        } else if (dtype == PANDA_Q8_0 || dtype == PANDA_Q4_0) {
            matvec_quantized_avx2(dtype, w, x, y, cols, row_begin, row_end);
        } else if (path >= PANDA_PATH_AVX512) {
            panda_matvec_float_avx512(dtype, w, x, y, cols, row_begin, row_end);
        } else {
            float_matvec_avx2(dtype, w, x, y, cols, row_begin, row_end);
        }
        return;
    }
#endif
    int blocks_dtype = interleaved_blocks(dtype);
    if (blocks_dtype >= 0) {
        uint8_t plain[row_bytes > 0 ? row_bytes : 1];
        for (size_t r = row_begin; r < row_end; r++) {
            x8_row(blocks_dtype, w, r, cols, plain);
            y[r] = panda_dot_row_portable(blocks_dtype, plain, x, cols);
        }
        return;
    }
    for (size_t r = row_begin; r < row_end; r++, row += row_bytes) y[r] = panda_dot_row_portable(dtype, row, x, cols);
}

void panda_matmul_x8(int dtype, const void *w, const void *x_blocks, const float *x_scales, const int32_t *x_sums,
                     float *y, size_t count, size_t cols, size_t y_stride, size_t row_begin, size_t row_end) {
#ifdef PANDA_X86
    int path = panda_kernel_path();
    if (path == PANDA_PATH_AVX512VNNI || path == PANDA_PATH_AVXVNNI) {
        panda_matmul_x8_vnni(path == PANDA_PATH_AVX512VNNI, dtype, w, x_blocks, x_scales, x_sums, y, count, cols, y_stride, row_begin, row_end);
        return;
    }
    if (path != PANDA_PATH_PORTABLE) {
        matmul_x8_avx2(dtype, w, x_blocks, x_scales, x_sums, y, count, cols, y_stride, row_begin, row_end);
        return;
    }
#endif
    int blocks_dtype = interleaved_blocks(dtype);
    size_t row_bytes = panda_row_bytes(dtype, cols), x_row_bytes = cols / PANDA_QK * PANDA_Q8_0_BYTES;
    uint8_t plain[row_bytes > 0 ? row_bytes : 1];
    for (size_t r = row_begin; r < row_end; r++) {
        x8_row(blocks_dtype, w, r, cols, plain);
        for (size_t t = 0; t < count; t++)
            y[t * y_stride + r] = panda_dot_row_portable(blocks_dtype, plain, (const uint8_t *)x_blocks + t * x_row_bytes, cols);
    }
}

// Rows of an interleaved matrix widened to f32 straight from the group records (x8_row's per-byte offset
// arithmetic made quantized ImageBind matrices slow to widen for its GEMMs).
static void x8_rows_to_f32(int blocks_dtype, const uint8_t *w, float *out, size_t cols, size_t row_begin, size_t row_end) {
    size_t blocks = cols / PANDA_QK, block_bytes = panda_row_bytes(blocks_dtype, PANDA_QK), quant_bytes = block_bytes - 2;
    size_t record_bytes = PANDA_X8_ROWS * block_bytes;
    for (size_t r = row_begin; r < row_end; r++, out += cols) {
        size_t lane = r % PANDA_X8_ROWS;
        const uint8_t *record = w + r / PANDA_X8_ROWS * blocks * record_bytes;
        for (size_t b = 0; b < blocks; b++, record += record_bytes) {
            float d = load_f16(record + 2 * lane);
            float *block = out + b * PANDA_QK;
            for (size_t run = 0; run < quant_bytes / 4; run++) {
                const uint8_t *q = record + 16 + 32 * run + 4 * lane;
                for (size_t k = 0; k < 4; k++) {
                    size_t j = 4 * run + k;
                    if (blocks_dtype == PANDA_Q8_0) {
                        block[j] = d * (int8_t)q[k];
                    } else {
                        block[j] = d * ((q[k] & 0x0F) - 8);
                        block[j + 16] = d * ((q[k] >> 4) - 8);
                    }
                }
            }
        }
    }
}

void panda_rows_to_f32(int dtype, const void *w, float *out, size_t cols, size_t row_begin, size_t row_end) {
    size_t row_bytes = panda_row_bytes(dtype, cols);
    int blocks_dtype = interleaved_blocks(dtype);
    if (blocks_dtype >= 0) {
        x8_rows_to_f32(blocks_dtype, w, out, cols, row_begin, row_end);
        return;
    }
    const uint8_t *row = (const uint8_t *)w + row_begin * row_bytes;
    for (size_t r = row_begin; r < row_end; r++, row += row_bytes, out += cols) {
#ifdef PANDA_X86
        if (panda_kernel_path() != PANDA_PATH_PORTABLE) { rows_to_f32_avx2(dtype, row, out, cols); continue; }
#endif
        rows_to_f32_portable(dtype, row, out, cols);
    }
}
