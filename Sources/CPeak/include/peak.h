#ifndef PANDA_PEAK_H
#define PANDA_PEAK_H

#ifdef __cplusplus
extern "C" {
#endif

// The instructions whose issue rate bounds each of Panda's product paths.
enum panda_peak_instruction {
    PANDA_PEAK_FMA512 = 0,    // vfmadd231ps zmm: 16 f32 multiply-adds
    PANDA_PEAK_DPBF16 = 1,    // vdpbf16ps zmm: 32 bf16 multiply-adds
    PANDA_PEAK_DPBUSD512 = 2, // vpdpbusd zmm: 64 u8 × s8 multiply-adds
    PANDA_PEAK_FMA256 = 3,    // vfmadd231ps ymm: 8 f32 multiply-adds
};

// Multiply-adds one instruction does.
int panda_peak_lanes(int instruction);

// Whether this CPU has the instruction.
int panda_peak_supported(int instruction);

// Instructions per nanosecond and core, with `threads` threads each running 12 independent chains of the
// instruction (enough to cover its latency on both FMA ports) for `iterations` rounds; best of `repeats` timings.
double panda_peak_per_ns(int instruction, int threads, long iterations, int repeats);

#ifdef __cplusplus
}
#endif

#endif
