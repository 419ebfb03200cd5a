import ArgumentParser
import CPeak
import Foundation
import PandaKernels

/// How close Panda's products come to the instructions they are made of: each instruction's issue rate (one core,
/// then every thread asked for), and OpenBLAS's sgemm on ImageBind huge's shapes as a share of the f32 FMA rate
/// measured in the same run. A VM's clock moves from one hour to the next, so a share is only meaningful against
/// a peak taken beside it.
struct PeakBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "peak",
        abstract: "Instruction peaks (vfmadd231ps, vdpbf16ps, vpdpbusd) and OpenBLAS sgemm on ImageBind's shapes as a share of the FMA peak, in one run.")

    @Option(help: "Threads for the two-core figures (and OpenBLAS's).")
    var threads = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "Timings per figure; the best is kept.")
    var repeats = 5

    func run() throws {
        print(KernelPath.summary)
        let instructions: [(Int32, String)] = [
            (Int32(PANDA_PEAK_FMA512.rawValue), "vfmadd231ps zmm (f32)"), (Int32(PANDA_PEAK_FMA256.rawValue), "vfmadd231ps ymm (f32)"),
            (Int32(PANDA_PEAK_DPBF16.rawValue), "vdpbf16ps zmm (bf16 pairs)"), (Int32(PANDA_PEAK_DPBUSD512.rawValue), "vpdpbusd zmm (u8 × s8 quads)"),
        ]
        print("| instruction | per ns, one core | GMAC/s, one core | GMAC/s, \(threads) threads |")
        print("|---|---:|---:|---:|")
        var fmaPeak = 0.0  // GMAC/s on all threads, the ceiling of every f32 product: the widest FMA, listed first
        let fmaInstructions = [Int32(PANDA_PEAK_FMA512.rawValue), Int32(PANDA_PEAK_FMA256.rawValue)]
        for (instruction, name) in instructions {
            guard panda_peak_supported(instruction) != 0 else {
                print("| \(name) | not on this CPU | | |")
                continue
            }
            let lanes = Double(panda_peak_lanes(instruction))
            let one = panda_peak_per_ns(instruction, 1, 20_000_000, Int32(repeats))
            let all = panda_peak_per_ns(instruction, Int32(threads), 20_000_000, Int32(repeats))
            if fmaPeak == 0 && fmaInstructions.contains(instruction) { fmaPeak = all * lanes * Double(threads) }
            print(String(format: "| %@ | %.2f | %.0f | %.0f |", name, one, one * lanes, all * lanes * Double(threads)))
        }

        // ImageBind huge's vision linear layers at batch 1 and 8: in_proj, out_proj, fc1, fc2 (tokens × in → out).
        let shapes = [(257, 1280, 3840), (257, 1280, 1280), (257, 1280, 5120), (257, 5120, 1280), (2056, 1280, 3840), (2056, 5120, 1280)]
        let savedThreads = BLAS.threadCount
        BLAS.threadCount = threads
        defer { BLAS.threadCount = savedThreads }
        print("\n| OpenBLAS sgemm, \(threads) threads | GMAC/s | share of the f32 FMA peak |")
        print("|---|---:|---:|")
        for (tokens, inputs, outputs) in shapes {
            let x = (0..<(tokens * inputs)).map { Float($0 % 1000) / 1000 - 0.5 }
            let w = (0..<(outputs * inputs)).map { Float($0 % 997) / 997 - 0.5 }
            var y = [Float](repeating: 0, count: tokens * outputs)
            var best = Double.infinity
            for _ in 0...repeats {  // the first call is a warm-up as much as a timing
                let start = Date()
                BLAS.sgemm(m: tokens, n: outputs, k: inputs, a: x, b: w, transposeB: true, c: &y)
                best = min(best, Date().timeIntervalSince(start))
            }
            let rate = Double(tokens * inputs * outputs) / best / 1e9
            print(String(format: "| %d × %d → %d | %.0f | %.0f %% |", tokens, inputs, outputs, rate, fmaPeak > 0 ? rate / fmaPeak * 100 : 0))
        }
    }
}
