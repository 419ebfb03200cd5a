// Matrix–vector kernels for the decoder's hot path and a small thread pool that runs them on every core.
// Hand-written in C because Swift cannot compile one function for AVX2 or AVX-512 and another for baseline x86-64
// and pick between them at run time; each kernel has a portable version and vector versions, one per kernel path.
#pragma once
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// Weight dtypes, numbered as in the .panda format.
enum panda_dtype {
    PANDA_F32 = 0, PANDA_F16 = 1, PANDA_BF16 = 2, PANDA_Q8_0 = 3, PANDA_Q4_0 = 4, PANDA_Q4_0X8 = 8, PANDA_Q8_0X8 = 9
};

// GGML's 32-element blocks: q8_0 = f16 scale + 32 int8; q4_0 = f16 scale + 16 bytes of nibbles (low nibbles are
// elements 0..15, high nibbles 16..31, each minus 8).
// q4_0x8 and q8_0x8 hold the same blocks with eight rows interleaved (docs/format.md): for each group of 8 rows and
// each block column, the 8 scales (16 bytes) and then runs of 32 bytes, run i holding quant bytes 4i..4i+3 of rows
// 0..7 in turn. One 32-byte load then carries the same elements of 8 rows, so a kernel's SIMD lanes are rows and
// no horizontal sums or per-row scale broadcasts are needed.
enum { PANDA_QK = 32, PANDA_Q8_0_BYTES = 34, PANDA_Q4_0_BYTES = 18, PANDA_X8_ROWS = 8 };

// Kernel paths, lowest first. The kernels pick the best one the CPU supports once, at first use; PANDA_KERNELS=<name>
// in the environment asks for another. A request for a path the CPU lacks (or an unknown name) is not an error: the
// kernels fall back to the best supported path ranked below the request and say so once on stderr, so a forced
// comparison never runs a different path silently. What each path runs:
//   portable    plain C
//   avx2        AVX2, FMA, F16C: 256-bit kernels for every dtype
//   avxvnni     avx2 + AVX-VNNI: q4_0x8/q8_0x8 through 256-bit vpdpbusd
//   avx512      AVX-512 F/BW/VL/DQ: 512-bit f32/f16/bf16 kernels, AVX2 int8 kernels
//   avx512vnni  avx512 + AVX-512 VNNI and BF16: q4_0x8/q8_0x8 through 512-bit vpdpbusd, 16 rows per vector, and
//               bf16 matrix–matrix products through vdpbf16ps with the activations rounded to bf16 where
//               panda_bf16_products() says dot
enum panda_kernel_path {
    PANDA_PATH_PORTABLE = 0, PANDA_PATH_AVX2 = 1, PANDA_PATH_AVXVNNI = 2, PANDA_PATH_AVX512 = 3, PANDA_PATH_AVX512VNNI = 4,
    PANDA_PATH_COUNT = 5
};

// The path's name as PANDA_KERNELS spells it, or NULL for a number out of range.
const char *panda_kernel_path_name(int path);
// The path named `name`, or -1.
int panda_kernel_path_named(const char *name);
// Whether this CPU (and its operating system) supports a path; the portable one always.
int panda_kernel_path_supported(int path);
// The path the kernels use now.
int panda_kernel_path(void);
// Switches every kernel to a supported path (tests and benchmarks); returns 0, or -1 and changes nothing when the
// CPU lacks it. Not safe while kernels run.
int panda_kernel_select_path(int path);
// The path a PANDA_KERNELS value selects on this CPU (NULL or empty: the best), writing a warning sentence into
// `message` (empty when none) when the request cannot be met as asked.
int panda_kernel_path_for_request(const char *request, char *message, size_t message_size);

// How bf16 weights multiply several activation rows (prompts) on the avx512vnni path: through vdpbf16ps with the
// activations rounded to bf16 (dot), or widened to f32 for OpenBLAS's FMA sgemm (widened; also every other path).
// Which is faster is a property of the core, not of the instruction set: the Intel Xeon measured here (Emerald
// Rapids ids, no AMX) issues vdpbf16ps every other cycle, half its FMAs' multiply-adds (docs/benchmarks.md), while
// AMD's Zen 4 and 5 issue it at their FMA's rate, twice the multiply-adds (their published instruction rates; not
// measured here). Chosen once, at first use: PANDA_BF16_PRODUCTS=dot
// or =widened in the environment, otherwise widened on Intel and dot elsewhere; the choice is the same on every run
// of a machine, so its numbers are too.
enum panda_bf16_products { PANDA_BF16_WIDENED = 0, PANDA_BF16_DOT = 1 };
int panda_bf16_products(void);
// Switches the choice (tests and benchmarks). Not safe while kernels run.
void panda_select_bf16_products(int products);

// CPU features the paths depend on, as detected, in the order of panda_cpu_feature_name.
enum { PANDA_CPU_FEATURE_COUNT = 10 };
const char *panda_cpu_feature_name(int feature);
int panda_cpu_has_feature(int feature);

// Quantizes n floats (n a multiple of 32) to q8_0 blocks, as the activations of a q8_0 or q4_0 product.
void panda_quantize_q8_0(const float *x, void *blocks, size_t n);

// Quantizes n floats (n a multiple of 32) to q4_0 blocks as llama.cpp's quantize_row_q4_0_ref does: d is the
// element of largest magnitude (sign kept) over −8, q = min(15, (int8)(x / d + 8.5)).
void panda_quantize_q4_0(const float *x, void *blocks, size_t n);

// Rewrites `rows` rows (a multiple of 8) of plain q8_0 or q4_0 blocks, `cols` elements each, in the interleaved
// layout of `dtype` (PANDA_Q8_0X8 or PANDA_Q4_0X8).
void panda_interleave_x8(int dtype, const void *plain, void *interleaved, size_t rows, size_t cols);

// Quantizes `rows` activation rows of `cols` floats each to q8_0 blocks (rows × cols/32 blocks), also writing
// each block's scale as f32 and the sum of its 32 int8 values, which the matrix–matrix kernel needs per block.
void panda_quantize_q8_0_rows(const float *x, size_t rows, size_t cols, void *blocks, float *scales, int32_t *sums);

// y[r] = dot(row r of w, x) for rows [row_begin, row_end) of a row-major [rows × cols] weight.
// For q8_0 and q4_0 weights, x must be the activations quantized with panda_quantize_q8_0.
void panda_matvec(int dtype, const void *w, const void *x, float *y, size_t cols, size_t row_begin, size_t row_end);

// y[j × y_stride + r] = dot(row r of w, x + j × cols) for vectors j < count and rows [row_begin, row_end) of an
// f32, f16 or bf16 weight: each vector's results bit-identical to panda_matvec's, the weight read from memory once
// for all vectors (batched decoding) rather than once per vector.
void panda_matvec_many(int dtype, const void *w, const float *x, size_t count, float *y, size_t y_stride, size_t cols,
                       size_t row_begin, size_t row_end);

// Widens rows [row_begin, row_end) of a weight to f32, into out (row-major, cols per row).
void panda_rows_to_f32(int dtype, const void *w, float *out, size_t cols, size_t row_begin, size_t row_end);

// y[t × y_stride + r] = dot(row r of w, activation row t) for tokens t < count and rows [row_begin, row_end)
// (multiples of 8) of a q4_0x8 or q8_0x8 weight; the activations come from panda_quantize_q8_0_rows.
void panda_matmul_x8(int dtype, const void *w, const void *x_blocks, const float *x_scales, const int32_t *x_sums,
                     float *y, size_t count, size_t cols, size_t y_stride, size_t row_begin, size_t row_end);

// Rows [row_begin, row_end) of a row-major [rows × width] matrix normalized as nn.LayerNorm over the last dimension:
// (x − mean) / √(biased variance + eps) · weight + bias.
void panda_layer_norm(float *values, const float *weight, const float *bias, size_t width, float eps, size_t row_begin, size_t row_end);

// values[r × width + i] = GELU(values[r × width + i] + bias[i]) with the exact erf (PyTorch's nn.GELU()), for rows
// [row_begin, row_end).
void panda_bias_gelu(float *values, const float *bias, size_t width, size_t row_begin, size_t row_end);

// Replaces rows [row_begin, row_end) of a row-major score matrix by their softmax (-inf scores, a mask, become 0).
void panda_softmax(float *scores, size_t columns, size_t row_begin, size_t row_end);
// gate = SiLU(gate) · up, element-wise over rows [row_begin, row_end) of two row-major matrices (LLaMA's MLP).
void panda_silu_gate(float *gate, const float *up, size_t width, size_t row_begin, size_t row_end);

// Rows [row_begin, row_end) of a row-major f32 matrix rounded to bf16 (nearest even), for oneDNN's bf16 products.
void panda_f32_to_bf16_rows(const float *x, size_t cols, uint16_t *out, size_t row_begin, size_t row_end);
// Rows [row_begin, row_end) quantized each on its own to unsigned integers 0…levels − 1 (256, or 128 where the
// int8 product could saturate): q = round(x / scale) + zero_point, the range [min(x, 0), max(x, 0)] mapped onto
// the levels, as PyTorch's dynamic quantization does per tensor.
void panda_quantize_u8_rows(const float *x, size_t cols, uint8_t *q, float *scales, int32_t *zero_points, int levels,
                            size_t row_begin, size_t row_end);
// Weight rows [row_begin, row_end) in int8, each with its own scale max|x| / 127 (symmetric, −127…127), and the sum
// of each row's int8 values.
void panda_quantize_s8_rows(const float *x, size_t cols, int8_t *q, float *scales, int32_t *sums, size_t row_begin, size_t row_end);
// y[r × y_stride + n] = beta · y[…] + row_scales[r] · col_scales[n] · (acc[r × cols + n] − row_zero_points[r] ·
// col_sums[n]) over rows [row_begin, row_end): an int8 product back in floats; beta 0 never reads y.
void panda_dequantize_s32_rows(const int32_t *acc, size_t cols, const float *row_scales, const int32_t *row_zero_points,
                               const float *col_scales, const int32_t *col_sums, float *y, size_t y_stride, float beta,
                               size_t row_begin, size_t row_end);

// Bytes of one row of `cols` elements.
size_t panda_row_bytes(int dtype, size_t cols);

// A pool of worker threads that split row ranges with the calling thread. Not reentrant: one call at a time.
typedef struct panda_pool panda_pool;
panda_pool *panda_pool_create(int threads);
void panda_pool_destroy(panda_pool *pool);
int panda_pool_threads(const panda_pool *pool);

// panda_matvec over all rows, split across the pool.
void panda_pool_matvec(panda_pool *pool, int dtype, const void *w, const void *x, float *y, size_t rows, size_t cols);
// panda_matvec_many over all rows, split across the pool.
void panda_pool_matvec_many(panda_pool *pool, int dtype, const void *w, const float *x, size_t count, float *y, size_t y_stride,
                            size_t rows, size_t cols);
// panda_matmul_x8 over all rows, split across the pool.
void panda_pool_matmul_x8(panda_pool *pool, int dtype, const void *w, const void *x_blocks, const float *x_scales,
                          const int32_t *x_sums, float *y, size_t count, size_t rows, size_t cols, size_t y_stride);
// y[t × y_stride + r] = beta · y[t × y_stride + r] + Σ_k x[t][k] · w[r][k] for all `count` tokens and `rows` rows of a
// bf16 weight, with the f32 activations x (count × cols) rounded to bf16 (to nearest even) into `scratch`
// (count × cols × 2 bytes), split across the pool; beta 0 never reads y. Returns 0 and does nothing on a path
// without the bf16 kernel (all but avx512vnni), where the caller widens the weights for sgemm instead.
int panda_pool_matmul_bf16(panda_pool *pool, const void *w, const float *x, void *scratch, float *y, size_t count, size_t rows,
                           size_t cols, size_t y_stride, float beta);

// body(context, index, slot) for every index in [0, count), the indices taken by the pool's threads in turn; slot
// (0 for the calling thread, up to panda_pool_threads − 1) names the thread, for per-thread scratch memory.
void panda_pool_for_each(panda_pool *pool, size_t count, void (*body)(void *context, size_t index, int slot), void *context);

// panda_rows_to_f32 over rows [row_begin, row_end), split across the pool.
void panda_pool_rows_to_f32(panda_pool *pool, int dtype, const void *w, float *out, size_t cols, size_t row_begin, size_t row_end);

// panda_layer_norm, panda_bias_gelu, panda_softmax and panda_silu_gate over `rows` rows, split across the pool.
void panda_pool_layer_norm(panda_pool *pool, float *values, const float *weight, const float *bias, size_t width, float eps, size_t rows);
void panda_pool_bias_gelu(panda_pool *pool, float *values, const float *bias, size_t width, size_t rows);
void panda_pool_softmax(panda_pool *pool, float *scores, size_t columns, size_t rows);
void panda_pool_silu_gate(panda_pool *pool, float *gate, const float *up, size_t width, size_t rows);

// panda_f32_to_bf16_rows, panda_quantize_u8_rows and panda_dequantize_s32_rows over `rows` rows, split across the pool.
void panda_pool_f32_to_bf16(panda_pool *pool, const float *x, size_t cols, uint16_t *out, size_t rows);
void panda_pool_quantize_u8(panda_pool *pool, const float *x, size_t cols, uint8_t *q, float *scales, int32_t *zero_points, int levels,
                            size_t rows);
void panda_pool_quantize_s8(panda_pool *pool, const float *x, size_t cols, int8_t *q, float *scales, int32_t *sums, size_t rows);
void panda_pool_dequantize_s32(panda_pool *pool, const int32_t *acc, size_t cols, const float *row_scales, const int32_t *row_zero_points,
                               const float *col_scales, const int32_t *col_sums, float *y, size_t y_stride, float beta, size_t rows);

#ifdef __cplusplus
}
#endif
