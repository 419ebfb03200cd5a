// The f32/f16/bf16 matrix–vector kernel, written once for any vector width: kernels.c includes this for AVX2 (8 lanes)
// and avx512.c for AVX-512 (16 lanes), each after defining
//   FLOAT_MATVEC  the function's name              TARGET  its target attribute
//   VEC, LANES    the f32 vector type and lanes     VZERO(), VLOADF(p), VFMA(a, b, c), VADD(a, b), VHSUM(v)
//   VWIDEN(dtype, p)  LANES stored values of a dtype at p, as f32
// Up to four rows per pass, so every LANES activations are loaded once for four rows: one row at a time reads the
// activations once per row, from L2 when they outgrow L1 (down_proj's 11008 f32 activations are 44 KB).

TARGET static inline __attribute__((always_inline)) void FLOAT_ROWS_(int dtype, const uint8_t *row, size_t row_bytes, const float *v,
                                                                     size_t cols, float *y, int count) {
    const size_t width = dtype == PANDA_F32 ? 4 : 2, step = 4 * LANES;
    size_t i = 0;
    VEC a[4], b[4];
    for (int k = 0; k < count; k++) a[k] = b[k] = VZERO();
    for (; i + step <= cols; i += step) {
        VEC x0 = VLOADF(v + i), x1 = VLOADF(v + i + LANES), x2 = VLOADF(v + i + 2 * LANES), x3 = VLOADF(v + i + 3 * LANES);
        for (int k = 0; k < count; k++) {
            const uint8_t *p = row + k * row_bytes + i * width;
            // 1 KB ahead: the hardware prefetcher alone left bandwidth unused (docs/benchmarks.md, "Figures behind
            // choices in the code").
            for (size_t line = 0; line < step * width; line += 64) _mm_prefetch((const char *)p + 1024 + line, _MM_HINT_T0);
            a[k] = VFMA(VWIDEN(dtype, p), x0, a[k]);
            b[k] = VFMA(VWIDEN(dtype, p + LANES * width), x1, b[k]);
            a[k] = VFMA(VWIDEN(dtype, p + 2 * LANES * width), x2, a[k]);
            b[k] = VFMA(VWIDEN(dtype, p + 3 * LANES * width), x3, b[k]);
        }
    }
    for (; i + LANES <= cols; i += LANES) {
        VEC x0 = VLOADF(v + i);
        for (int k = 0; k < count; k++) a[k] = VFMA(VWIDEN(dtype, row + k * row_bytes + i * width), x0, a[k]);
    }
    for (int k = 0; k < count; k++) {
        y[k] = VHSUM(VADD(a[k], b[k]));
        if (i < cols) y[k] += panda_dot_row_portable(dtype, row + k * row_bytes + i * width, v + i, cols - i);
    }
}

// The dtype a constant in each call, so the widening is chosen outside the loops.
TARGET static inline __attribute__((always_inline)) void FLOAT_ROWS_TYPED_(int dtype, const uint8_t *w, const float *x, float *y, size_t cols,
                                                                           size_t row_begin, size_t row_end) {
    size_t row_bytes = panda_row_bytes(dtype, cols), r = row_begin;
    for (; r + 4 <= row_end; r += 4) FLOAT_ROWS_(dtype, w + r * row_bytes, row_bytes, x, cols, y + r, 4);
    for (; r < row_end; r++) FLOAT_ROWS_(dtype, w + r * row_bytes, row_bytes, x, cols, y + r, 1);
}

TARGET static void FLOAT_MATVEC(int dtype, const uint8_t *w, const float *x, float *y, size_t cols, size_t row_begin, size_t row_end) {
    switch (dtype) {
    case PANDA_F32: FLOAT_ROWS_TYPED_(PANDA_F32, w, x, y, cols, row_begin, row_end); break;
    case PANDA_F16: FLOAT_ROWS_TYPED_(PANDA_F16, w, x, y, cols, row_begin, row_end); break;
    default: FLOAT_ROWS_TYPED_(PANDA_BF16, w, x, y, cols, row_begin, row_end); break;
    }
}

// The parameters are consumed, so the next instance can define its own.
#undef FLOAT_MATVEC
#undef TARGET
#undef VEC
#undef LANES
#undef VZERO
#undef VLOADF
#undef VFMA
#undef VADD
#undef VHSUM
#undef VWIDEN
