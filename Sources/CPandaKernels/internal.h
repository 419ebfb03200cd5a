// Shared between the kernel files, not part of the public header: helpers every path uses and the entry points of
// the AVX-512 and AVX-VNNI kernels (avx512.c), which panda_matvec and panda_matmul_x8 call by kernel path.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "avx2.h"

// Each of `count` q8_0 activation blocks' scale as f32 and the sum of its int8 values (products with q4_0 nibbles
// or with offset q8_0 weights subtract a multiple of that sum).
void panda_q8_0_scales_and_sums(const uint8_t *block, size_t count, float *scales, int32_t *sums);

// One row's dot product in plain C (also the vector kernels' tails).
float panda_dot_row_portable(int dtype, const uint8_t *row, const void *x, size_t cols);

#ifdef PANDA_X86
// f32/f16/bf16 rows [row_begin, row_end) with 512-bit FMA.
void panda_matvec_float_avx512(int dtype, const uint8_t *w, const float *x, float *y, size_t cols, size_t row_begin, size_t row_end);
// q4_0x8/q8_0x8 products through vpdpbusd: `wide` picks 512-bit AVX-512 VNNI (16 rows per vector) over 256-bit
// AVX-VNNI (8 rows). Arguments as panda_matvec and panda_matmul_x8.
void panda_matvec_x8_vnni(int wide, int dtype, const uint8_t *w, const uint8_t *x, float *y, size_t cols, size_t row_begin, size_t row_end);
void panda_matmul_x8_vnni(int wide, int dtype, const uint8_t *w, const uint8_t *x, const float *dx, const int32_t *sx, float *y,
                          size_t count, size_t cols, size_t y_stride, size_t row_begin, size_t row_end);
// bf16 weight rows [row_begin, row_end) times `count` bf16 activation rows through vdpbf16ps (AVX-512 BF16);
// arguments as panda_pool_matmul_bf16.
void panda_matmul_bf16_avx512(const uint8_t *w, const uint16_t *x, float *y, size_t count, size_t cols, size_t y_stride, float beta,
                              size_t row_begin, size_t row_end);
// n floats rounded to bf16, to nearest even.
void panda_f32_to_bf16_avx512(const float *x, uint16_t *out, size_t n);
#endif
