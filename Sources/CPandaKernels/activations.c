// Row kernels of the transformer blocks (LayerNorm, bias + exact GELU, softmax, LLaMA's SiLU gate). In C for the same
// run-time dispatch as kernels.c (every vector path runs their AVX2 versions); the erf and exp themselves are glibc's
// vector math library (libmvec).
#include "panda_kernels.h"

#include <math.h>

#include "internal.h"

static const float inverse_sqrt2 = 0.70710678118654752f;

static void bias_gelu_portable(float *values, const float *bias, size_t width) {
    for (size_t i = 0; i < width; i++) {
        float value = values[i] + bias[i];
        values[i] = 0.5f * value * (1 + erff(value * inverse_sqrt2));
    }
}

static void softmax_portable(float *row, size_t columns) {
    float largest = -INFINITY;
    for (size_t i = 0; i < columns; i++) largest = row[i] > largest ? row[i] : largest;
    float total = 0;
    for (size_t i = 0; i < columns; i++) {
        row[i] = expf(row[i] - largest);
        total += row[i];
    }
    float inverse = 1 / total;
    for (size_t i = 0; i < columns; i++) row[i] *= inverse;
}

static void silu_gate_portable(float *gate, const float *up, size_t width) {
    for (size_t i = 0; i < width; i++) gate[i] = gate[i] / (1 + expf(-gate[i])) * up[i];
}

static void layer_norm_portable(float *row, const float *weight, const float *bias, size_t width, float eps) {
    float mean = 0, variance = 0;
    for (size_t i = 0; i < width; i++) mean += row[i];
    mean /= (float)width;
    for (size_t i = 0; i < width; i++) variance += (row[i] - mean) * (row[i] - mean);
    float inverse = 1 / sqrtf(variance / (float)width + eps);
    for (size_t i = 0; i < width; i++) row[i] = (row[i] - mean) * inverse * weight[i] + bias[i];
}

#ifdef PANDA_X86
// libmvec's AVX2 variants of erff and expf (glibc ≥ 2.35 for erff), 8 lanes each.
AVX2 __m256 _ZGVdN8v_erff(__m256 x);
AVX2 __m256 _ZGVdN8v_expf(__m256 x);

AVX2 static void layer_norm_avx2(float *row, const float *weight, const float *bias, size_t width, float eps) {
    size_t vectors = width / 8 * 8;
    __m256 total8 = _mm256_setzero_ps();
    for (size_t i = 0; i < vectors; i += 8) total8 = _mm256_add_ps(total8, _mm256_loadu_ps(row + i));
    float mean = hsum(total8);
    for (size_t i = vectors; i < width; i++) mean += row[i];
    mean /= (float)width;
    __m256 mean8 = _mm256_set1_ps(mean), squares8 = _mm256_setzero_ps();
    for (size_t i = 0; i < vectors; i += 8) {
        __m256 centered = _mm256_sub_ps(_mm256_loadu_ps(row + i), mean8);
        squares8 = _mm256_fmadd_ps(centered, centered, squares8);
    }
    float variance = hsum(squares8);
    for (size_t i = vectors; i < width; i++) variance += (row[i] - mean) * (row[i] - mean);
    float inverse = 1 / sqrtf(variance / (float)width + eps);
    __m256 inverse8 = _mm256_set1_ps(inverse);
    for (size_t i = 0; i < vectors; i += 8) {
        __m256 normalized = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(row + i), mean8), inverse8);
        _mm256_storeu_ps(row + i, _mm256_fmadd_ps(normalized, _mm256_loadu_ps(weight + i), _mm256_loadu_ps(bias + i)));
    }
    for (size_t i = vectors; i < width; i++) row[i] = (row[i] - mean) * inverse * weight[i] + bias[i];
}

AVX2 static void bias_gelu_avx2(float *values, const float *bias, size_t width) {
    const __m256 half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1), scale = _mm256_set1_ps(inverse_sqrt2);
    size_t i = 0;
    for (; i + 8 <= width; i += 8) {
        __m256 value = _mm256_add_ps(_mm256_loadu_ps(values + i), _mm256_loadu_ps(bias + i));
        __m256 erf = _ZGVdN8v_erff(_mm256_mul_ps(value, scale));
        _mm256_storeu_ps(values + i, _mm256_mul_ps(_mm256_mul_ps(half, value), _mm256_add_ps(one, erf)));
    }
    bias_gelu_portable(values + i, bias + i, width - i);
}

AVX2 static void silu_gate_avx2(float *gate, const float *up, size_t width) {
    const __m256 one = _mm256_set1_ps(1), sign = _mm256_set1_ps(-0.0f);
    size_t i = 0;
    for (; i + 8 <= width; i += 8) {
        __m256 g = _mm256_loadu_ps(gate + i);
        __m256 silu = _mm256_div_ps(g, _mm256_add_ps(one, _ZGVdN8v_expf(_mm256_xor_ps(g, sign))));
        _mm256_storeu_ps(gate + i, _mm256_mul_ps(silu, _mm256_loadu_ps(up + i)));
    }
    silu_gate_portable(gate + i, up + i, width - i);
}

AVX2 static void softmax_avx2(float *row, size_t columns) {
    size_t vectors = columns / 8 * 8;
    __m256 largest8 = _mm256_set1_ps(-INFINITY);
    for (size_t i = 0; i < vectors; i += 8) largest8 = _mm256_max_ps(largest8, _mm256_loadu_ps(row + i));
    __m128 halves = _mm_max_ps(_mm256_castps256_ps128(largest8), _mm256_extractf128_ps(largest8, 1));
    halves = _mm_max_ps(halves, _mm_movehl_ps(halves, halves));
    halves = _mm_max_ss(halves, _mm_movehdup_ps(halves));
    float largest = _mm_cvtss_f32(halves);
    for (size_t i = vectors; i < columns; i++) largest = row[i] > largest ? row[i] : largest;

    __m256 shift = _mm256_set1_ps(largest), total8 = _mm256_setzero_ps();
    for (size_t i = 0; i < vectors; i += 8) {
        __m256 e = _ZGVdN8v_expf(_mm256_sub_ps(_mm256_loadu_ps(row + i), shift));
        _mm256_storeu_ps(row + i, e);
        total8 = _mm256_add_ps(total8, e);
    }
    float total = hsum(total8);
    for (size_t i = vectors; i < columns; i++) {
        row[i] = expf(row[i] - largest);
        total += row[i];
    }
    float inverse = 1 / total;
    __m256 inverse8 = _mm256_set1_ps(inverse);
    for (size_t i = 0; i < vectors; i += 8) _mm256_storeu_ps(row + i, _mm256_mul_ps(_mm256_loadu_ps(row + i), inverse8));
    for (size_t i = vectors; i < columns; i++) row[i] *= inverse;
}
#endif

void panda_bias_gelu(float *values, const float *bias, size_t width, size_t row_begin, size_t row_end) {
    for (size_t r = row_begin; r < row_end; r++) {
#ifdef PANDA_X86
        if (panda_kernel_path() != PANDA_PATH_PORTABLE) { bias_gelu_avx2(values + r * width, bias, width); continue; }
#endif
        bias_gelu_portable(values + r * width, bias, width);
    }
}

void panda_softmax(float *scores, size_t columns, size_t row_begin, size_t row_end) {
    for (size_t r = row_begin; r < row_end; r++) {
#ifdef PANDA_X86
        if (panda_kernel_path() != PANDA_PATH_PORTABLE) { softmax_avx2(scores + r * columns, columns); continue; }
#endif
        softmax_portable(scores + r * columns, columns);
    }
}

void panda_layer_norm(float *values, const float *weight, const float *bias, size_t width, float eps, size_t row_begin, size_t row_end) {
    for (size_t r = row_begin; r < row_end; r++) {
#ifdef PANDA_X86
        if (panda_kernel_path() != PANDA_PATH_PORTABLE) { layer_norm_avx2(values + r * width, weight, bias, width, eps); continue; }
#endif
        layer_norm_portable(values + r * width, weight, bias, width, eps);
    }
}

void panda_silu_gate(float *gate, const float *up, size_t width, size_t row_begin, size_t row_end) {
    for (size_t r = row_begin; r < row_end; r++) {
#ifdef PANDA_X86
        if (panda_kernel_path() != PANDA_PATH_PORTABLE) { silu_gate_avx2(gate + r * width, up + r * width, width); continue; }
#endif
        silu_gate_portable(gate + r * width, up + r * width, width);
    }
}
