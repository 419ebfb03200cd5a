// Which kernel path runs (see panda_kernels.h): the CPU's features, the paths they allow, and the one selected.
#include "panda_kernels.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#ifdef PANDA_X86
#include <cpuid.h>
#endif

// Feature names as __builtin_cpu_supports spells them (it also checks that the OS saves the AVX/AVX-512 registers).
static const char *const feature_names[PANDA_CPU_FEATURE_COUNT] = {
    "avx2", "fma", "f16c", "avxvnni", "avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512vnni", "avx512bf16",
};

static const char *const path_names[PANDA_PATH_COUNT] = {"portable", "avx2", "avxvnni", "avx512", "avx512vnni"};

// Each path's features as a mask of feature indexes.
#define FEATURE(index) (1u << (index))
static const unsigned avx2_features = FEATURE(0) | FEATURE(1) | FEATURE(2);
static const unsigned avx512_features = avx2_features | FEATURE(4) | FEATURE(5) | FEATURE(6) | FEATURE(7);
static const unsigned path_features[PANDA_PATH_COUNT] = {
    0, avx2_features, avx2_features | FEATURE(3), avx512_features, avx512_features | FEATURE(8) | FEATURE(9),
};

static unsigned detected_features(void) {
    static int detected = 0;
    static unsigned features = 0;  // benign race: every thread computes the same answer
    if (!detected) {
#ifdef PANDA_X86
        __builtin_cpu_init();
        unsigned found = 0;
        // __builtin_cpu_supports wants a literal, hence no loop over feature_names.
        if (__builtin_cpu_supports("avx2")) found |= FEATURE(0);
        if (__builtin_cpu_supports("fma")) found |= FEATURE(1);
        if (__builtin_cpu_supports("f16c")) found |= FEATURE(2);
        if (__builtin_cpu_supports("avxvnni")) found |= FEATURE(3);
        if (__builtin_cpu_supports("avx512f")) found |= FEATURE(4);
        if (__builtin_cpu_supports("avx512bw")) found |= FEATURE(5);
        if (__builtin_cpu_supports("avx512vl")) found |= FEATURE(6);
        if (__builtin_cpu_supports("avx512dq")) found |= FEATURE(7);
        if (__builtin_cpu_supports("avx512vnni")) found |= FEATURE(8);
        if (__builtin_cpu_supports("avx512bf16")) found |= FEATURE(9);
        features = found;
#endif
        detected = 1;
    }
    return features;
}

const char *panda_cpu_feature_name(int feature) {
    return feature >= 0 && feature < PANDA_CPU_FEATURE_COUNT ? feature_names[feature] : NULL;
}

int panda_cpu_has_feature(int feature) {
    return feature >= 0 && feature < PANDA_CPU_FEATURE_COUNT && (detected_features() & FEATURE(feature)) != 0;
}

const char *panda_kernel_path_name(int path) { return path >= 0 && path < PANDA_PATH_COUNT ? path_names[path] : NULL; }

int panda_kernel_path_named(const char *name) {
    for (int path = 0; path < PANDA_PATH_COUNT; path++)
        if (name && strcmp(name, path_names[path]) == 0) return path;
    return -1;
}

int panda_kernel_path_supported(int path) {
    return path >= 0 && path < PANDA_PATH_COUNT && (detected_features() & path_features[path]) == path_features[path];
}

static int best_path_up_to(int highest) {
    for (int path = highest; path > PANDA_PATH_PORTABLE; path--)
        if (panda_kernel_path_supported(path)) return path;
    return PANDA_PATH_PORTABLE;
}

int panda_kernel_path_for_request(const char *request, char *message, size_t message_size) {
    if (message_size > 0) message[0] = 0;
    if (!request || !*request) return best_path_up_to(PANDA_PATH_COUNT - 1);
    int requested = panda_kernel_path_named(request);
    if (requested < 0) {
        int path = best_path_up_to(PANDA_PATH_COUNT - 1);
        snprintf(message, message_size,
                 "PANDA_KERNELS=%s names no kernel path (portable, avx2, avxvnni, avx512, avx512vnni); using %s", request,
                 path_names[path]);
        return path;
    }
    int path = best_path_up_to(requested);
    if (path != requested)
        snprintf(message, message_size, "PANDA_KERNELS=%s: this CPU lacks it; using %s", request, path_names[path]);
    return path;
}

static int selected_path = -1;  // benign race at first use: every thread computes the same answer

int panda_kernel_path(void) {
    int path = __atomic_load_n(&selected_path, __ATOMIC_RELAXED);
    if (path >= 0) return path;
    char message[160];
    path = panda_kernel_path_for_request(getenv("PANDA_KERNELS"), message, sizeof message);
    // Only the thread that makes the choice reports it, so the warning appears once.
    int expected = -1;
    if (__atomic_compare_exchange_n(&selected_path, &expected, path, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED) && message[0])
        fprintf(stderr, "panda: %s\n", message);
    return path;
}

static int cpu_is_intel(void) {
#ifdef PANDA_X86
    unsigned eax, ebx, ecx, edx;
    if (!__get_cpuid(0, &eax, &ebx, &ecx, &edx)) return 0;
    return ebx == 0x756E6547 && edx == 0x49656E69 && ecx == 0x6C65746E;  // "GenuineIntel"
#else
    return 0;
#endif
}

static int selected_bf16_products = -1;

int panda_bf16_products(void) {
    int products = __atomic_load_n(&selected_bf16_products, __ATOMIC_RELAXED);
    if (products >= 0) return products;
    const char *request = getenv("PANDA_BF16_PRODUCTS");
    int valid = request && (strcmp(request, "dot") == 0 || strcmp(request, "widened") == 0);
    products = valid ? strcmp(request, "dot") == 0 : !cpu_is_intel();
    int expected = -1;
    if (__atomic_compare_exchange_n(&selected_bf16_products, &expected, products, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED) &&
        request && *request && !valid)
        fprintf(stderr, "panda: PANDA_BF16_PRODUCTS=%s is neither dot nor widened; using %s\n", request, products ? "dot" : "widened");
    return products;
}

void panda_select_bf16_products(int products) { __atomic_store_n(&selected_bf16_products, products != 0, __ATOMIC_RELAXED); }

int panda_kernel_select_path(int path) {
    if (!panda_kernel_path_supported(path)) return -1;
    __atomic_store_n(&selected_path, path, __ATOMIC_RELAXED);
    return 0;
}
