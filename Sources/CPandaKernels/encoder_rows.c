// Rows converted for oneDNN's low-precision matrix products (ImageBind's bf16 and int8 precisions) and int8
// products turned back into floats. Each pass is O(rows × cols) against the product's O(rows × cols × inner), but
// in plain C (libm's nearbyintf per value) quantizing took 15 % of an int8 ImageBind pass, hence the AVX2 versions.
#include "panda_kernels.h"

#include <math.h>
#include <string.h>

#include "internal.h"

static uint16_t bf16_nearest_even(float value) {
    uint32_t bits;
    memcpy(&bits, &value, 4);
    // A NaN stays a NaN (its high bits kept, quieted); others round to nearest even, as torch's conversion does.
    return (bits & 0x7fffffffu) > 0x7f800000u ? (uint16_t)((bits >> 16) | 0x40) : (uint16_t)((bits + 0x7fffu + ((bits >> 16) & 1)) >> 16);
}

void panda_f32_to_bf16_rows(const float *x, size_t cols, uint16_t *out, size_t row_begin, size_t row_end) {
    for (size_t i = row_begin * cols; i < row_end * cols; i++) out[i] = bf16_nearest_even(x[i]);
}

// The scale and zero point of a row whose values lie in [lo, hi] (lo ≤ 0 ≤ hi), over `levels` levels.
static void affine(float lo, float hi, int levels, float *scale, float *zero) {
    float s = (hi - lo) / (float)(levels - 1);
    if (!(s > 0) || !isfinite(s)) s = 1;
    float z = nearbyintf(-lo / s);
    *scale = s;
    *zero = z < 0 ? 0 : z > (float)(levels - 1) ? (float)(levels - 1) : z;
}

static void quantize_row_portable(const float *row, size_t cols, uint8_t *out, float *scale, int32_t *zero_point, int levels) {
    float lo = 0, hi = 0;  // zero stays exactly representable (padding, zeros after GELU), as in PyTorch
    for (size_t k = 0; k < cols; k++) {
        lo = row[k] < lo ? row[k] : lo;
        hi = row[k] > hi ? row[k] : hi;
    }
    float s, zero;
    affine(lo, hi, levels, &s, &zero);
    float inverse = 1 / s, top = (float)(levels - 1);
    for (size_t k = 0; k < cols; k++) {
        float v = nearbyintf(row[k] * inverse) + zero;
        out[k] = (uint8_t)(v > 0 ? (v > top ? top : v) : 0);  // a NaN becomes 0
    }
    *scale = s;
    *zero_point = (int32_t)zero;
}

#ifdef PANDA_X86
AVX2 static void quantize_row_avx2(const float *row, size_t cols, uint8_t *out, float *scale, int32_t *zero_point, int levels) {
    __m256 lo8 = _mm256_setzero_ps(), hi8 = _mm256_setzero_ps();
    size_t vectors = cols / 16 * 16;
    for (size_t k = 0; k < vectors; k += 8) {
        __m256 v = _mm256_loadu_ps(row + k);
        lo8 = _mm256_min_ps(lo8, v);
        hi8 = _mm256_max_ps(hi8, v);
    }
    float los[8], his[8], lo = 0, hi = 0;
    _mm256_storeu_ps(los, lo8);
    _mm256_storeu_ps(his, hi8);
    for (int i = 0; i < 8; i++) {
        lo = los[i] < lo ? los[i] : lo;
        hi = his[i] > hi ? his[i] : hi;
    }
    for (size_t k = vectors; k < cols; k++) {
        lo = row[k] < lo ? row[k] : lo;
        hi = row[k] > hi ? row[k] : hi;
    }
    float s, zero;
    affine(lo, hi, levels, &s, &zero);
    const __m256 inverse = _mm256_set1_ps(1 / s);
    const __m256i zero8 = _mm256_set1_epi32((int32_t)zero), top8 = _mm256_set1_epi32(levels - 1), bottom8 = _mm256_setzero_si256();
    for (size_t k = 0; k < vectors; k += 16) {
        // cvtps rounds to nearest even (the default rounding mode), as nearbyintf does.
        __m256i a = _mm256_add_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(row + k), inverse)), zero8);
        __m256i b = _mm256_add_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(row + k + 8), inverse)), zero8);
        a = _mm256_min_epi32(_mm256_max_epi32(a, bottom8), top8);
        b = _mm256_min_epi32(_mm256_max_epi32(b, bottom8), top8);
        // Packing works within 128-bit lanes: [a0-3 b0-3 a4-7 b4-7] as 16-bit values, put back in order.
        __m256i words = _mm256_permute4x64_epi64(_mm256_packus_epi32(a, b), 0xd8);
        __m128i bytes = _mm_packus_epi16(_mm256_castsi256_si128(words), _mm256_extracti128_si256(words, 1));
        _mm_storeu_si128((__m128i *)(out + k), bytes);
    }
    float inverse1 = 1 / s, top = (float)(levels - 1);
    for (size_t k = vectors; k < cols; k++) {
        float v = nearbyintf(row[k] * inverse1) + zero;
        out[k] = (uint8_t)(v > 0 ? (v > top ? top : v) : 0);
    }
    *scale = s;
    *zero_point = (int32_t)zero;
}
#endif

void panda_quantize_u8_rows(const float *x, size_t cols, uint8_t *q, float *scales, int32_t *zero_points, int levels,
                            size_t row_begin, size_t row_end) {
    for (size_t r = row_begin; r < row_end; r++) {
#ifdef PANDA_X86
        if (panda_kernel_path() != PANDA_PATH_PORTABLE) {
            quantize_row_avx2(x + r * cols, cols, q + r * cols, &scales[r], &zero_points[r], levels);
            continue;
        }
#endif
        quantize_row_portable(x + r * cols, cols, q + r * cols, &scales[r], &zero_points[r], levels);
    }
}

// One weight row: its scale, its int8 values from column `from` on (the vector version does the ones before), and
// their sum.
static int32_t quantize_s8_tail(const float *row, size_t from, size_t cols, float inverse, int8_t *out) {
    int32_t sum = 0;
    for (size_t k = from; k < cols; k++) {
        float v = nearbyintf(row[k] * inverse);
        int8_t value = (int8_t)(v > -127 ? (v > 127 ? 127 : v) : -127);  // a NaN becomes -127
        out[k] = value;
        sum += value;
    }
    return sum;
}

static float symmetric_scale(float largest) { return largest > 0 && isfinite(largest) ? largest / 127 : 1; }

#ifdef PANDA_X86
AVX2 static void quantize_s8_row_avx2(const float *row, size_t cols, int8_t *out, float *scale, int32_t *sum) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 largest8 = _mm256_setzero_ps();
    size_t vectors = cols / 16 * 16;
    for (size_t k = 0; k < vectors; k += 8) largest8 = _mm256_max_ps(largest8, _mm256_andnot_ps(sign, _mm256_loadu_ps(row + k)));
    float lanes[8], largest = 0;
    _mm256_storeu_ps(lanes, largest8);
    for (int i = 0; i < 8; i++) largest = lanes[i] > largest ? lanes[i] : largest;
    for (size_t k = vectors; k < cols; k++) largest = fabsf(row[k]) > largest ? fabsf(row[k]) : largest;
    float s = symmetric_scale(largest);
    const __m256 inverse = _mm256_set1_ps(1 / s);
    const __m256i top = _mm256_set1_epi32(127), bottom = _mm256_set1_epi32(-127);
    __m256i sums = _mm256_setzero_si256();
    for (size_t k = 0; k < vectors; k += 16) {
        __m256i a = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(row + k), inverse));
        __m256i b = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(row + k + 8), inverse));
        a = _mm256_min_epi32(_mm256_max_epi32(a, bottom), top);
        b = _mm256_min_epi32(_mm256_max_epi32(b, bottom), top);
        sums = _mm256_add_epi32(sums, _mm256_add_epi32(a, b));
        __m256i words = _mm256_permute4x64_epi64(_mm256_packs_epi32(a, b), 0xd8);
        _mm_storeu_si128((__m128i *)(out + k), _mm_packs_epi16(_mm256_castsi256_si128(words), _mm256_extracti128_si256(words, 1)));
    }
    int32_t partial[8], total = 0;
    _mm256_storeu_si256((__m256i *)partial, sums);
    for (int i = 0; i < 8; i++) total += partial[i];
    *scale = s;
    *sum = total + quantize_s8_tail(row, vectors, cols, 1 / s, out);
}
#endif

void panda_quantize_s8_rows(const float *x, size_t cols, int8_t *q, float *scales, int32_t *sums, size_t row_begin, size_t row_end) {
    for (size_t r = row_begin; r < row_end; r++) {
        const float *row = x + r * cols;
#ifdef PANDA_X86
        if (panda_kernel_path() != PANDA_PATH_PORTABLE) {
            quantize_s8_row_avx2(row, cols, q + r * cols, &scales[r], &sums[r]);
            continue;
        }
#endif
        float largest = 0;
        for (size_t k = 0; k < cols; k++) largest = fabsf(row[k]) > largest ? fabsf(row[k]) : largest;
        scales[r] = symmetric_scale(largest);
        sums[r] = quantize_s8_tail(row, 0, cols, 1 / scales[r], q + r * cols);
    }
}

#ifdef PANDA_X86
AVX2 static void dequantize_row_avx2(const int32_t *a, size_t cols, float s, int32_t z, const float *col_scales, const int32_t *col_sums,
                                     float *out, float beta) {
    const __m256 s8 = _mm256_set1_ps(s), beta8 = _mm256_set1_ps(beta);
    const __m256i z8 = _mm256_set1_epi32(z);
    size_t n = 0;
    for (; n + 8 <= cols; n += 8) {
        __m256i corrected = _mm256_sub_epi32(_mm256_loadu_si256((const __m256i *)(a + n)),
                                             _mm256_mullo_epi32(z8, _mm256_loadu_si256((const __m256i *)(col_sums + n))));
        __m256 value = _mm256_mul_ps(_mm256_mul_ps(s8, _mm256_loadu_ps(col_scales + n)), _mm256_cvtepi32_ps(corrected));
        if (beta != 0) value = _mm256_fmadd_ps(beta8, _mm256_loadu_ps(out + n), value);
        _mm256_storeu_ps(out + n, value);
    }
    for (; n < cols; n++) {
        float value = s * col_scales[n] * (float)(a[n] - z * col_sums[n]);
        out[n] = beta == 0 ? value : beta * out[n] + value;
    }
}
#endif

void panda_dequantize_s32_rows(const int32_t *acc, size_t cols, const float *row_scales, const int32_t *row_zero_points,
                               const float *col_scales, const int32_t *col_sums, float *y, size_t y_stride, float beta,
                               size_t row_begin, size_t row_end) {
    for (size_t r = row_begin; r < row_end; r++) {
        const int32_t *a = acc + r * cols;
        float *out = y + r * y_stride;
        float s = row_scales[r];
        int32_t z = row_zero_points[r];
#ifdef PANDA_X86
        if (panda_kernel_path() != PANDA_PATH_PORTABLE) {
            dequantize_row_avx2(a, cols, s, z, col_scales, col_sums, out, beta);
            continue;
        }
#endif
        for (size_t n = 0; n < cols; n++) {
            float value = s * col_scales[n] * (float)(a[n] - z * col_sums[n]);
            out[n] = beta == 0 ? value : beta * out[n] + value;
        }
    }
}
