// Shared by the C kernel files: the AVX2 target attribute their vector functions compile with, and the horizontal
// sum they end reductions with. The functions are compiled for AVX2 only where marked, and called only after
// panda_kernel_path() says the CPU has it.
#pragma once

#if defined(__x86_64__)
#include <immintrin.h>
#define PANDA_X86 1
#define AVX2 __attribute__((target("avx2,fma,f16c")))

AVX2 static inline float hsum(__m256 v) {
    __m128 sum = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    sum = _mm_add_ps(sum, _mm_movehl_ps(sum, sum));
    sum = _mm_add_ss(sum, _mm_movehdup_ps(sum));
    return _mm_cvtss_f32(sum);
}
#endif
