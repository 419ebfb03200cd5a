// A fixed pool of worker threads for the kernels (see panda_kernels.h). Workers poll briefly between jobs,
// because a decoder step dispatches hundreds of short jobs back to back, then sleep on a condition variable.
#include "panda_kernels.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "internal.h"

enum job_kind { JOB_MATVEC, JOB_MATVEC_MANY, JOB_MATMUL_X8, JOB_MATMUL_BF16, JOB_ROWS_TO_F32, JOB_BIAS_GELU, JOB_SOFTMAX, JOB_LAYER_NORM, JOB_SILU_GATE, JOB_TO_BF16, JOB_QUANTIZE_U8, JOB_QUANTIZE_S8, JOB_DEQUANTIZE_S32, JOB_EACH };

struct worker {
    panda_pool *pool;
    int slot;
};

struct panda_pool {
    int threads;
    pthread_t *workers;
    struct worker *slots;
    pthread_mutex_t mutex;
    pthread_cond_t wake;
    atomic_uint_fast64_t generation;
    atomic_int pending;
    atomic_int stopping;
    // The current job, written by the caller before `generation` is bumped.
    int kind, dtype;
    const void *w, *x;
    float *y;
    size_t cols, row_begin, row_end;
    // Matrix–matrix jobs only.
    const float *x_scales;
    const int32_t *x_sums;
    size_t count, y_stride;
    // LayerNorm jobs only.
    float eps;
    // bf16 matrix–matrix and dequantizing jobs only.
    float beta;
    // Jobs converting activations for oneDNN (encoder_rows.c) only.
    void *out;
    float *row_scales;
    int32_t *row_ints;  // per row: u8 zero points (quantizing activations, dequantizing), or s8 sums (weights)
    const float *col_scales;
    const int32_t *col_sums;
    int levels;
    // Threads take pieces of the row range in turn until none is left, so one that starts late or runs slower
    // does less: with equal halves the calling thread waited for the worker (docs/benchmarks.md, "Figures behind
    // choices in the code").
    atomic_size_t next_piece;
    size_t piece_rows;
    // panda_pool_for_each's body and its argument.
    void (*body)(void *context, size_t index, int slot);
    void *context;
};

static void run_range(panda_pool *pool, size_t begin, size_t end, int slot) {
    if (pool->kind == JOB_EACH) {
        for (size_t index = begin; index < end; index++) pool->body(pool->context, index, slot);
    } else if (pool->kind == JOB_MATVEC) {
        panda_matvec(pool->dtype, pool->w, pool->x, pool->y, pool->cols, begin, end);
    } else if (pool->kind == JOB_MATVEC_MANY) {
        panda_matvec_many(pool->dtype, pool->w, pool->x, pool->count, pool->y, pool->y_stride, pool->cols, begin, end);
    } else if (pool->kind == JOB_MATMUL_X8) {
        panda_matmul_x8(pool->dtype, pool->w, pool->x, pool->x_scales, pool->x_sums, pool->y, pool->count, pool->cols, pool->y_stride, begin, end);
#ifdef PANDA_X86
    } else if (pool->kind == JOB_MATMUL_BF16) {
        panda_matmul_bf16_avx512(pool->w, pool->x, pool->y, pool->count, pool->cols, pool->y_stride, pool->beta, begin, end);
#endif
    } else if (pool->kind == JOB_ROWS_TO_F32) {
        panda_rows_to_f32(pool->dtype, pool->w, pool->y + (begin - pool->row_begin) * pool->cols, pool->cols, begin, end);
    } else if (pool->kind == JOB_LAYER_NORM) {
        panda_layer_norm(pool->y, pool->w, pool->x, pool->cols, pool->eps, begin, end);
    } else if (pool->kind == JOB_BIAS_GELU) {
        panda_bias_gelu(pool->y, pool->x, pool->cols, begin, end);
    } else if (pool->kind == JOB_SILU_GATE) {
        panda_silu_gate(pool->y, pool->x, pool->cols, begin, end);
    } else if (pool->kind == JOB_TO_BF16) {
        panda_f32_to_bf16_rows(pool->x, pool->cols, pool->out, begin, end);
    } else if (pool->kind == JOB_QUANTIZE_U8) {
        panda_quantize_u8_rows(pool->x, pool->cols, pool->out, pool->row_scales, pool->row_ints, pool->levels, begin, end);
    } else if (pool->kind == JOB_QUANTIZE_S8) {
        panda_quantize_s8_rows(pool->x, pool->cols, pool->out, pool->row_scales, pool->row_ints, begin, end);
    } else if (pool->kind == JOB_DEQUANTIZE_S32) {
        panda_dequantize_s32_rows(pool->w, pool->cols, pool->row_scales, pool->row_ints, pool->col_scales, pool->col_sums,
                                  pool->y, pool->y_stride, pool->beta, begin, end);
    } else {
        panda_softmax(pool->y, pool->cols, begin, end);
    }
}

static void run_pieces(panda_pool *pool, int slot) {
    for (;;) {
        size_t piece = atomic_fetch_add_explicit(&pool->next_piece, 1, memory_order_relaxed);
        size_t begin = pool->row_begin + piece * pool->piece_rows;
        if (begin >= pool->row_end) return;
        size_t end = begin + pool->piece_rows < pool->row_end ? begin + pool->piece_rows : pool->row_end;
        run_range(pool, begin, end, slot);
    }
}

// A worker first spins (a decoder step's jobs follow one another within microseconds), then polls through
// sched_yield, which hands its core to any other runnable thread: between ImageBind's pool jobs OpenBLAS runs
// its own workers, and plain spins competed with them (profiles in docs/benchmarks.md, "Figures behind choices
// in the code").
enum { BUSY_SPINS = 2000, YIELDING_POLLS = 1000 };

static void *worker_main(void *argument) {
    struct worker *self = argument;
    panda_pool *pool = self->pool;
    uint64_t seen = 0;
    for (;;) {
        uint64_t now;
        int polls = 0;
        while ((now = atomic_load_explicit(&pool->generation, memory_order_acquire)) == seen && polls < BUSY_SPINS + YIELDING_POLLS) {
            if (atomic_load_explicit(&pool->stopping, memory_order_relaxed)) return NULL;
            if (++polls > BUSY_SPINS) sched_yield();
        }
        if (now == seen) {
            pthread_mutex_lock(&pool->mutex);
            while ((now = atomic_load_explicit(&pool->generation, memory_order_acquire)) == seen &&
                   !atomic_load(&pool->stopping))
                pthread_cond_wait(&pool->wake, &pool->mutex);
            pthread_mutex_unlock(&pool->mutex);
            if (now == seen) return NULL;  // stopping
        }
        seen = now;
        run_pieces(pool, self->slot);
        atomic_fetch_sub_explicit(&pool->pending, 1, memory_order_release);
    }
}

panda_pool *panda_pool_create(int threads) {
    panda_pool *pool = calloc(1, sizeof *pool);
    if (!pool) return NULL;
    pool->threads = threads < 1 ? 1 : threads;
    pthread_mutex_init(&pool->mutex, NULL);
    pthread_cond_init(&pool->wake, NULL);
    pool->workers = calloc((size_t)pool->threads, sizeof(pthread_t));
    pool->slots = calloc((size_t)pool->threads, sizeof(struct worker));
    for (int i = 1; i < pool->threads; i++) {
        pool->slots[i] = (struct worker){pool, i};
        if (pthread_create(&pool->workers[i], NULL, worker_main, &pool->slots[i]) != 0) {
            pool->threads = i;  // run with the threads that did start
            break;
        }
    }
    return pool;
}

void panda_pool_destroy(panda_pool *pool) {
    if (!pool) return;
    pthread_mutex_lock(&pool->mutex);
    atomic_store(&pool->stopping, 1);
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->mutex);
    for (int i = 1; i < pool->threads; i++) pthread_join(pool->workers[i], NULL);
    pthread_cond_destroy(&pool->wake);
    pthread_mutex_destroy(&pool->mutex);
    free(pool->workers);
    free(pool->slots);
    free(pool);
}

int panda_pool_threads(const panda_pool *pool) { return pool->threads; }

// Below this many bytes of weights a job runs on the calling thread alone: waking a worker and waiting for it
// costs more than such a product (a tiny model's layers ran slower on two threads than on one).
// A job ends with one thread idle for about half a piece, and a decoded token is 225 jobs, so pieces are small
// (32 per thread halved the waiting of 8: docs/benchmarks.md, "Figures behind choices in the code").
enum { SERIAL_JOB_BYTES = 128 << 10, PIECES_PER_THREAD = 32 };

static void run(panda_pool *pool) {
    size_t bytes = (pool->row_end - pool->row_begin) * panda_row_bytes(pool->dtype, pool->cols);
    if (pool->kind == JOB_MATMUL_X8 || pool->kind == JOB_MATMUL_BF16) bytes *= pool->count;
    size_t rows = pool->row_end - pool->row_begin, pieces = (size_t)pool->threads * PIECES_PER_THREAD;
    if (pool->kind == JOB_EACH) {
        pool->piece_rows = 1;  // each index is a sizeable piece of work (an attention head)
        bytes = rows > 1 ? SERIAL_JOB_BYTES : 0;
    } else {
        // Multiples of 16 rows: whole groups of interleaved weights, whole cache lines of matrix-vector outputs.
        pool->piece_rows = ((rows + pieces - 1) / pieces + 15) & ~(size_t)15;
    }
    atomic_store_explicit(&pool->next_piece, 0, memory_order_relaxed);
    if (pool->threads == 1 || bytes < SERIAL_JOB_BYTES) {
        run_pieces(pool, 0);
        return;
    }
    atomic_store_explicit(&pool->pending, pool->threads - 1, memory_order_relaxed);
    pthread_mutex_lock(&pool->mutex);
    atomic_fetch_add_explicit(&pool->generation, 1, memory_order_release);
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->mutex);
    run_pieces(pool, 0);
    int spins = 0;
    while (atomic_load_explicit(&pool->pending, memory_order_acquire) > 0)
        if (++spins > 1000) sched_yield();
}

static void run_job(panda_pool *pool, int kind, int dtype, const void *w, const void *x, float *y, size_t cols,
                    size_t row_begin, size_t row_end) {
    pool->kind = kind;
    pool->dtype = dtype;
    pool->w = w;
    pool->x = x;
    pool->y = y;
    pool->cols = cols;
    pool->row_begin = row_begin;
    pool->row_end = row_end;
    run(pool);
}

void panda_pool_matvec(panda_pool *pool, int dtype, const void *w, const void *x, float *y, size_t rows, size_t cols) {
    run_job(pool, JOB_MATVEC, dtype, w, x, y, cols, 0, rows);
}

void panda_pool_matvec_many(panda_pool *pool, int dtype, const void *w, const float *x, size_t count, float *y, size_t y_stride,
                            size_t rows, size_t cols) {
    pool->count = count;
    pool->y_stride = y_stride;
    run_job(pool, JOB_MATVEC_MANY, dtype, w, x, y, cols, 0, rows);
}

void panda_pool_matmul_x8(panda_pool *pool, int dtype, const void *w, const void *x_blocks, const float *x_scales,
                          const int32_t *x_sums, float *y, size_t count, size_t rows, size_t cols, size_t y_stride) {
    pool->x_scales = x_scales;
    pool->x_sums = x_sums;
    pool->count = count;
    pool->y_stride = y_stride;
    run_job(pool, JOB_MATMUL_X8, dtype, w, x_blocks, y, cols, 0, rows);
}

int panda_pool_matmul_bf16(panda_pool *pool, const void *w, const float *x, void *scratch, float *y, size_t count, size_t rows,
                           size_t cols, size_t y_stride, float beta) {
#ifdef PANDA_X86
    if (panda_kernel_path() != PANDA_PATH_AVX512VNNI || panda_bf16_products() != PANDA_BF16_DOT) return 0;
    panda_f32_to_bf16_avx512(x, scratch, count * cols);
    pool->count = count;
    pool->y_stride = y_stride;
    pool->beta = beta;
    run_job(pool, JOB_MATMUL_BF16, PANDA_BF16, w, scratch, y, cols, 0, rows);
    return 1;
#else
    return 0;
#endif
}

void panda_pool_for_each(panda_pool *pool, size_t count, void (*body)(void *context, size_t index, int slot), void *context) {
    pool->body = body;
    pool->context = context;
    run_job(pool, JOB_EACH, PANDA_F32, NULL, NULL, NULL, 1, 0, count);
}

void panda_pool_rows_to_f32(panda_pool *pool, int dtype, const void *w, float *out, size_t cols, size_t row_begin, size_t row_end) {
    run_job(pool, JOB_ROWS_TO_F32, dtype, w, NULL, out, cols, row_begin, row_end);
}

// The element-wise jobs count as f32 rows for the serial threshold.
void panda_pool_layer_norm(panda_pool *pool, float *values, const float *weight, const float *bias, size_t width, float eps, size_t rows) {
    pool->eps = eps;
    run_job(pool, JOB_LAYER_NORM, PANDA_F32, weight, bias, values, width, 0, rows);
}

void panda_pool_bias_gelu(panda_pool *pool, float *values, const float *bias, size_t width, size_t rows) {
    run_job(pool, JOB_BIAS_GELU, PANDA_F32, NULL, bias, values, width, 0, rows);
}

void panda_pool_softmax(panda_pool *pool, float *scores, size_t columns, size_t rows) {
    run_job(pool, JOB_SOFTMAX, PANDA_F32, NULL, NULL, scores, columns, 0, rows);
}

void panda_pool_silu_gate(panda_pool *pool, float *gate, const float *up, size_t width, size_t rows) {
    run_job(pool, JOB_SILU_GATE, PANDA_F32, NULL, up, gate, width, 0, rows);
}

// The conversions for oneDNN count as f32 rows for the serial threshold, as the element-wise jobs do.
void panda_pool_f32_to_bf16(panda_pool *pool, const float *x, size_t cols, uint16_t *out, size_t rows) {
    pool->out = out;
    run_job(pool, JOB_TO_BF16, PANDA_F32, NULL, x, NULL, cols, 0, rows);
}

void panda_pool_quantize_u8(panda_pool *pool, const float *x, size_t cols, uint8_t *q, float *scales, int32_t *zero_points, int levels,
                            size_t rows) {
    pool->out = q;
    pool->row_scales = scales;
    pool->row_ints = zero_points;
    pool->levels = levels;
    run_job(pool, JOB_QUANTIZE_U8, PANDA_F32, NULL, x, NULL, cols, 0, rows);
}

void panda_pool_quantize_s8(panda_pool *pool, const float *x, size_t cols, int8_t *q, float *scales, int32_t *sums, size_t rows) {
    pool->out = q;
    pool->row_scales = scales;
    pool->row_ints = sums;
    run_job(pool, JOB_QUANTIZE_S8, PANDA_F32, NULL, x, NULL, cols, 0, rows);
}

void panda_pool_dequantize_s32(panda_pool *pool, const int32_t *acc, size_t cols, const float *row_scales, const int32_t *row_zero_points,
                               const float *col_scales, const int32_t *col_sums, float *y, size_t y_stride, float beta, size_t rows) {
    pool->row_scales = (float *)row_scales;
    pool->row_ints = (int32_t *)row_zero_points;
    pool->col_scales = col_scales;
    pool->col_sums = col_sums;
    pool->y_stride = y_stride;
    pool->beta = beta;
    run_job(pool, JOB_DEQUANTIZE_S32, PANDA_F32, acc, NULL, y, cols, 0, rows);
}
