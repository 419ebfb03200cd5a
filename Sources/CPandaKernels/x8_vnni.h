// The q4_0x8/q8_0x8 kernels through vpdpbusd, written once for any vector width: avx512.c includes this for
// 512-bit AVX-512 VNNI (GROUPS = 2: a vector's 16 lanes are the rows of two groups) and for 256-bit AVX-VNNI
// (GROUPS = 1), each after defining
//   X8_SUFFIX  the instance's name: its functions are matvec_x8_<suffix> and matmul_x8_<suffix>
//   TARGET     their target attribute
//   VI, VF, GROUPS, TILE  int and f32 vectors, groups per vector, activation rows per pass of the weights
//   LOAD_RUN(g0, g1, offset)  32 bytes at offset of group g0 and of group g1, one after the other
//   LOAD_SCALES(g0, g1)       the 8 f16 scales of each group, as f32
//   STORE(y, v, both)         the lanes of both groups, or of the first only
//   DPBUSD(acc, u, s), SET1_I8, SET1_I32, SET1_F, AND, XOR, SRLI16, CVT, MUL, FMA, FZERO
// vpdpbusd multiplies unsigned by signed bytes. q4_0 nibbles are already unsigned (q + 8); q8_0 bytes xor 0x80 are
// q + 128. Either way Σ w·x = Σ u·x − offset · Σx, and Σx per activation block is at hand (panda_quantize_q8_0_rows),
// so each block's int32 sum starts at −offset · Σx instead of correcting afterwards. In a record's run i (docs/format.md)
// the q8_0 bytes are elements 4i…4i+3 and the q4_0 high nibbles elements 16+4i…, i.e. 4(i+4)…: with the low nibbles
// as weights 0–3 and the high as 4–7, weight vector i pairs with activation bytes 4i…4i+3 for both dtypes.

#define X8_CAT2(a, b) a##_##b
#define X8_CAT(a, b) X8_CAT2(a, b)
#define X8_NAME(name) X8_CAT(name, X8_SUFFIX)

// `count` (≤ TILE, a constant at the call site) activation rows times one group pair (g1 == g0 for a lone last group,
// whose duplicate lanes are not stored) over all `blocks` block columns.
TARGET static inline __attribute__((always_inline)) void X8_NAME(groups)(int dtype, const uint8_t *g0, const uint8_t *g1, int both, size_t blocks,
                                                                    const uint8_t *x, const float *dx, const int32_t *sx, size_t x_stride,
                                                                    int count, float *y, size_t y_stride) {
    const int q4 = dtype == PANDA_Q4_0X8;
    const size_t record = PANDA_X8_ROWS * (q4 ? PANDA_Q4_0_BYTES : PANDA_Q8_0_BYTES);
    // Records ahead to prefetch: the AVX2 kernels' distances, without which q4_0x8 left bandwidth unused there.
    const size_t ahead = (q4 ? 8 : 4) * record;
    const int32_t offset = q4 ? 8 : 128;
    VF acc[TILE];
    for (int t = 0; t < count; t++) acc[t] = FZERO();
    for (size_t b = 0; b < blocks; b++, g0 += record, g1 += record) {
        for (size_t line = 0; line < record; line += 64) {
            _mm_prefetch((const char *)g0 + ahead + line, _MM_HINT_T0);
            if (GROUPS > 1) _mm_prefetch((const char *)g1 + ahead + line, _MM_HINT_T0);
        }
        VF dw = LOAD_SCALES(g0, g1);
        VI w[8];
        if (q4) {
            for (int i = 0; i < 4; i++) {
                VI run = LOAD_RUN(g0, g1, 16 + 32 * i);
                w[i] = AND(run, SET1_I8(0x0F));
                w[i + 4] = AND(SRLI16(run, 4), SET1_I8(0x0F));
            }
        } else {
            for (int i = 0; i < 8; i++) w[i] = XOR(LOAD_RUN(g0, g1, 16 + 32 * i), SET1_I8((char)0x80));
        }
        for (int t = 0; t < count; t++) {
            size_t index = t * x_stride + b;
            const uint8_t *q = x + index * PANDA_Q8_0_BYTES + 2;
            VI dot = SET1_I32(-offset * sx[index]);
            for (int i = 0; i < 8; i++) {
                int32_t four;
                memcpy(&four, q + 4 * i, 4);
                dot = DPBUSD(dot, w[i], SET1_I32(four));
            }
            acc[t] = FMA(MUL(dw, SET1_F(dx[index])), CVT(dot), acc[t]);
        }
    }
    for (int t = 0; t < count; t++) STORE(y + t * y_stride, acc[t], both);
}

// Rows [row_begin, row_end) of one dtype (a constant at each call, so its unpacking is chosen outside the loops) times
// activation rows [0, count), in passes of TILE activation rows over slabs of four vectors' rows: a slab's weights
// (64 rows, a few hundred KB) stay in L2 while the passes go over them.
TARGET static inline __attribute__((always_inline)) void X8_NAME(typed)(int dtype, const uint8_t *w, const uint8_t *x, const float *dx,
                                                                   const int32_t *sx, float *y, size_t count, size_t cols,
                                                                   size_t y_stride, size_t row_begin, size_t row_end) {
    const size_t blocks = cols / PANDA_QK, row_bytes = panda_row_bytes(dtype, cols), vector_rows = GROUPS * PANDA_X8_ROWS;
    const size_t slab = 4 * vector_rows;
    for (size_t slab_begin = row_begin; slab_begin < row_end; slab_begin += slab) {
        size_t slab_end = slab_begin + slab < row_end ? slab_begin + slab : row_end;
        for (size_t t = 0; t < count; t += TILE) {
            size_t tile = count - t < TILE ? count - t : TILE;
            const uint8_t *xt = x + t * blocks * PANDA_Q8_0_BYTES;
            for (size_t r = slab_begin; r < slab_end; r += vector_rows) {
                const uint8_t *g0 = w + r * row_bytes;
                int both = r + vector_rows <= slab_end;
                const uint8_t *g1 = GROUPS > 1 && both ? g0 + PANDA_X8_ROWS * row_bytes : g0;
                float *yt = y + t * y_stride + r;
                switch (tile) {
#define X8_TILE_CASE(n) case n: X8_NAME(groups)(dtype, g0, g1, both, blocks, xt, dx + t * blocks, sx + t * blocks, blocks, n, yt, y_stride); break;
                X8_TILE_CASE(1) X8_TILE_CASE(2) X8_TILE_CASE(3) X8_TILE_CASE(4)
#if TILE > 4
                X8_TILE_CASE(5) X8_TILE_CASE(6) X8_TILE_CASE(7) X8_TILE_CASE(8)
#endif
#undef X8_TILE_CASE
                }
            }
        }
    }
}

TARGET static void X8_NAME(matmul_x8)(int dtype, const uint8_t *w, const uint8_t *x, const float *dx, const int32_t *sx, float *y, size_t count,
                             size_t cols, size_t y_stride, size_t row_begin, size_t row_end) {
    if (dtype == PANDA_Q4_0X8) X8_NAME(typed)(PANDA_Q4_0X8, w, x, dx, sx, y, count, cols, y_stride, row_begin, row_end);
    else X8_NAME(typed)(PANDA_Q8_0X8, w, x, dx, sx, y, count, cols, y_stride, row_begin, row_end);
}

// One activation row: its per-block scales and sums are computed here, as the matrix–vector path gets bare q8_0 blocks.
TARGET static void X8_NAME(matvec_x8)(int dtype, const uint8_t *w, const uint8_t *x, float *y, size_t cols, size_t row_begin, size_t row_end) {
    size_t blocks = cols / PANDA_QK;
    float scales[blocks > 0 ? blocks : 1];
    int32_t sums[blocks > 0 ? blocks : 1];
    panda_q8_0_scales_and_sums(x, blocks, scales, sums);
    X8_NAME(matmul_x8)(dtype, w, x, scales, sums, y, 1, cols, 0, row_begin, row_end);
}

// The parameters are consumed, so the next instance can define its own.
#undef X8_NAME
#undef X8_CAT
#undef X8_CAT2
#undef X8_SUFFIX
#undef TARGET
#undef VI
#undef VF
#undef GROUPS
#undef TILE
#undef LOAD_RUN
#undef LOAD_SCALES
#undef STORE
#undef DPBUSD
#undef SET1_I8
#undef SET1_I32
#undef SET1_F
#undef AND
#undef XOR
#undef SRLI16
#undef CVT
#undef MUL
#undef FMA
#undef FZERO
