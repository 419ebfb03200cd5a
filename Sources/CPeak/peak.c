// Instruction issue-rate loops for `panda-bench peak`: hand-written, since what they measure is the instructions
// themselves, which no library reports.
#include "peak.h"

#include <pthread.h>
#include <time.h>

enum { CHAINS = 12 };

#if defined(__x86_64__)
#include <immintrin.h>

// The empty asm keeps each chain's value live in a register, so no loop is folded away or vectorized differently.
#define KEEP(v) __asm__ volatile("" : "+v"(v))

__attribute__((target("avx512f"))) static float fma512(long iterations) {
    __m512 acc[CHAINS], b = _mm512_set1_ps(1.0000001f), c = _mm512_set1_ps(1e-7f);
    for (int i = 0; i < CHAINS; i++) acc[i] = _mm512_set1_ps((float)i);
    for (long n = 0; n < iterations; n++)
        for (int i = 0; i < CHAINS; i++) { acc[i] = _mm512_fmadd_ps(acc[i], b, c); KEEP(acc[i]); }
    float sum = 0;
    for (int i = 0; i < CHAINS; i++) sum += _mm512_reduce_add_ps(acc[i]);
    return sum;
}

__attribute__((target("avx2,fma"))) static float fma256(long iterations) {
    __m256 acc[CHAINS], b = _mm256_set1_ps(1.0000001f), c = _mm256_set1_ps(1e-7f);
    for (int i = 0; i < CHAINS; i++) acc[i] = _mm256_set1_ps((float)i);
    for (long n = 0; n < iterations; n++)
        for (int i = 0; i < CHAINS; i++) { acc[i] = _mm256_fmadd_ps(acc[i], b, c); KEEP(acc[i]); }
    float out[8], sum = 0;
    for (int i = 0; i < CHAINS; i++) {
        _mm256_storeu_ps(out, acc[i]);
        for (int j = 0; j < 8; j++) sum += out[j];
    }
    return sum;
}

__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16"))) static float dpbf16(long iterations) {
    __m512 acc[CHAINS];
    __m512bh a = (__m512bh)_mm512_set1_epi16(0x3f80), b = (__m512bh)_mm512_set1_epi16(0x3400);  // 1.0, about 1e-7
    for (int i = 0; i < CHAINS; i++) acc[i] = _mm512_set1_ps((float)i);
    for (long n = 0; n < iterations; n++)
        for (int i = 0; i < CHAINS; i++) { acc[i] = _mm512_dpbf16_ps(acc[i], a, b); KEEP(acc[i]); }
    float sum = 0;
    for (int i = 0; i < CHAINS; i++) sum += _mm512_reduce_add_ps(acc[i]);
    return sum;
}

__attribute__((target("avx512f,avx512bw,avx512vnni"))) static float dpbusd512(long iterations) {
    __m512i acc[CHAINS], a = _mm512_set1_epi8(1), b = _mm512_set1_epi8(1);
    for (int i = 0; i < CHAINS; i++) acc[i] = _mm512_set1_epi32(i);
    for (long n = 0; n < iterations; n++)
        for (int i = 0; i < CHAINS; i++) { acc[i] = _mm512_dpbusd_epi32(acc[i], a, b); KEEP(acc[i]); }
    long sum = 0;
    for (int i = 0; i < CHAINS; i++) sum += _mm512_reduce_add_epi32(acc[i]);
    return (float)sum;
}

int panda_peak_supported(int instruction) {
    __builtin_cpu_init();
    switch (instruction) {
    case PANDA_PEAK_FMA512: return __builtin_cpu_supports("avx512f");
    case PANDA_PEAK_DPBF16: return __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512bw");
    case PANDA_PEAK_DPBUSD512: return __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw");
    case PANDA_PEAK_FMA256: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    default: return 0;
    }
}
#else
int panda_peak_supported(int instruction) { (void)instruction; return 0; }
#endif

int panda_peak_lanes(int instruction) {
    switch (instruction) {
    case PANDA_PEAK_FMA512: return 16;
    case PANDA_PEAK_DPBF16: return 32;
    case PANDA_PEAK_DPBUSD512: return 64;
    case PANDA_PEAK_FMA256: return 8;
    default: return 0;
    }
}

struct loop { int instruction; long iterations; volatile float sink; };

static void *run_loop(void *argument) {
    struct loop *loop = argument;
#if defined(__x86_64__)
    switch (loop->instruction) {
    case PANDA_PEAK_FMA512: loop->sink = fma512(loop->iterations); break;
    case PANDA_PEAK_DPBF16: loop->sink = dpbf16(loop->iterations); break;
    case PANDA_PEAK_DPBUSD512: loop->sink = dpbusd512(loop->iterations); break;
    case PANDA_PEAK_FMA256: loop->sink = fma256(loop->iterations); break;
    }
#endif
    return NULL;
}

static double seconds(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec * 1e-9;
}

double panda_peak_per_ns(int instruction, int threads, long iterations, int repeats) {
    if (!panda_peak_supported(instruction) || threads < 1 || threads > 64) return 0;
    double best = 0;
    for (int repeat = 0; repeat < repeats; repeat++) {
        struct loop loops[64];
        pthread_t workers[64];
        double start = seconds();
        for (int t = 0; t < threads; t++) {
            loops[t] = (struct loop){instruction, iterations, 0};
            if (t > 0) pthread_create(&workers[t], NULL, run_loop, &loops[t]);
        }
        run_loop(&loops[0]);
        for (int t = 1; t < threads; t++) pthread_join(workers[t], NULL);
        double rate = (double)CHAINS * (double)iterations / (seconds() - start) / 1e9;
        if (rate > best) best = rate;
    }
    return best;
}
