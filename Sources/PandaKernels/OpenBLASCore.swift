import COpenBLAS
import Foundation

/// Which kernels OpenBLAS runs, and a way out when it does not know the CPU. Debian bookworm's OpenBLAS 0.3.21
/// takes CPUs newer than itself (the Xeon of docs/benchmarks.md, family 6 model 207) for a Prescott and runs its
/// SSE3 kernels, a third as fast as its SkylakeX ones there, in the GEMMs where ImageBind spends nearly all its
/// time (docs/benchmarks.md, "Figures behind choices in the code"). OpenBLAS picks its kernels once, when the
/// library is loaded, from OPENBLAS_CORETYPE, so the fix is to start again with that variable set.
public enum OpenBLASCore {
    /// The kernel set OpenBLAS chose when it was loaded ("Haswell", "SkylakeX", "Zen", "Prescott", …).
    public static var name: String { String(cString: openblas_get_corename()) }

    static let avx512Cores: Set<String> = ["SkylakeX", "Cooperlake", "SapphireRapids"]
    static let avx2Cores: Set<String> = avx512Cores.union(["Haswell", "Zen", "Excavator", "Skylake"])

    /// The OPENBLAS_CORETYPE this CPU deserves when OpenBLAS chose kernels older than it: SkylakeX for AVX-512
    /// (F, BW, VL, DQ: the kernel path `avx512`), Haswell for AVX2 with FMA. Nil when OpenBLAS's choice is as
    /// good, or when the user set OPENBLAS_CORETYPE.
    public static func better(environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        guard environment["OPENBLAS_CORETYPE"] == nil else { return nil }
        if KernelPath.avx512.isSupported && !avx512Cores.contains(name) { return "SkylakeX" }
        if KernelPath.avx2.isSupported && !avx2Cores.contains(name) { return "Haswell" }
        return nil
    }

    /// Starts this program again, same arguments and environment, with OPENBLAS_CORETYPE set to `better()`;
    /// returns (doing nothing) when OpenBLAS's choice is fine or the program cannot be started again.
    public static func restartWithBetterKernels() {
        guard let coreType = better() else { return }
        setenv("OPENBLAS_CORETYPE", coreType, 1)
        let arguments = CommandLine.arguments.map { strdup($0) } + [nil]
        execv("/proc/self/exe", arguments)
        arguments.forEach { free($0) }  // exec failed: go on with OpenBLAS's own choice
    }
}
