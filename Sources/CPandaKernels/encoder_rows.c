// Activation rows converted for oneDNN's low-precision matrix products (ImageBind's bf16 and int8 precisions),
// and int8 products turned back into floats. Plain loops the compiler vectorizes: each pass is O(rows × cols),
// against the product's O(rows × cols × inner).
#include "panda_kernels.h"

#include <math.h>
#include <string.h>

void panda_f32_to_bf16_rows(const float *x, size_t cols, uint16_t *out, size_t row_begin, size_t row_end) {
    for (size_t i = row_begin * cols; i < row_end * cols; i++) {
        uint32_t bits;
        memcpy(&bits, &x[i], 4);
        // Round to nearest even, as torch's float → bfloat16 does (a NaN stays a NaN: its high bits are kept).
        out[i] = (bits & 0x7fffffffu) > 0x7f800000u ? (uint16_t)((bits >> 16) | 0x40) : (uint16_t)((bits + 0x7fffu + ((bits >> 16) & 1)) >> 16);
    }
}

void panda_quantize_u8_rows(const float *x, size_t cols, uint8_t *q, float *scales, int32_t *zero_points, int levels,
                            size_t row_begin, size_t row_end) {
    for (size_t r = row_begin; r < row_end; r++) {
        const float *row = x + r * cols;
        float lo = 0, hi = 0;  // zero stays exactly representable (padding, ReLU-like zeros), as in PyTorch
        for (size_t k = 0; k < cols; k++) {
            lo = row[k] < lo ? row[k] : lo;
            hi = row[k] > hi ? row[k] : hi;
        }
        float scale = (hi - lo) / (float)(levels - 1);
        if (!(scale > 0) || !isfinite(scale)) scale = 1;
        float zero = nearbyintf(-lo / scale);
        zero = zero < 0 ? 0 : zero > levels - 1 ? (float)(levels - 1) : zero;
        float inverse = 1 / scale, top = (float)(levels - 1);
        uint8_t *out = q + r * cols;
        for (size_t k = 0; k < cols; k++) {
            float v = nearbyintf(row[k] * inverse) + zero;
            out[k] = (uint8_t)(v < 0 ? 0 : v > top ? top : v);
        }
        scales[r] = scale;
        zero_points[r] = (int32_t)zero;
    }
}

void panda_dequantize_s32_rows(const int32_t *acc, size_t cols, const float *row_scales, const int32_t *row_zero_points,
                               const float *col_scales, const int32_t *col_sums, float *y, size_t y_stride, float beta,
                               size_t row_begin, size_t row_end) {
    for (size_t r = row_begin; r < row_end; r++) {
        const int32_t *a = acc + r * cols;
        float *out = y + r * y_stride;
        float s = row_scales[r];
        int32_t z = row_zero_points[r];
        if (beta == 0) {
            for (size_t n = 0; n < cols; n++) out[n] = s * col_scales[n] * (float)(a[n] - z * col_sums[n]);
        } else {
            for (size_t n = 0; n < cols; n++) out[n] = beta * out[n] + s * col_scales[n] * (float)(a[n] - z * col_sums[n]);
        }
    }
}
