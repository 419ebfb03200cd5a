import ArgumentParser
import PandaKernels

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the CPU features the kernels found, the kernel paths they support and the one in use.",
        discussion: """
            The kernels pick the best path the CPU supports at start-up; PANDA_KERNELS=portable|avx2|avxvnni|avx512|avx512vnni \
            asks for another, and a path this CPU lacks falls back to the best one below it, with a warning. It also \
            prints which kernels OpenBLAS runs: when it does not know the CPU (OpenBLAS 0.3.21 and CPUs newer than it) \
            Panda starts again with OPENBLAS_CORETYPE set to SkylakeX (AVX-512) or Haswell (AVX2); setting \
            OPENBLAS_CORETYPE yourself keeps your choice. Last, it prints the instruction set oneDNN uses for \
            ImageBind's bf16 and int8 products (--precision; DNNL_MAX_CPU_ISA=AVX2 lowers it) and the precisions \
            this CPU can run. On the avx512vnni path it also says how bf16 weights multiply several rows (prompts, \
            ImageBind's bf16): PANDA_BF16_PRODUCTS=dot through vdpbf16ps (oneDNN's for ImageBind), =widened to f32 \
            for OpenBLAS; by default widened on Intel CPUs, whose vdpbf16ps does half the work of their FMAs.
            Example:
              PANDA_KERNELS=avx2 panda-run info
            """)

    func run() {
        print(KernelPath.summary)
        print("OpenBLAS kernels: \(OpenBLASCore.name)")
        let precisions = EncoderPrecision.allCases.map { precision in
            if let reason = precision.unavailableReason { return "\(precision) (no: \(reason))" }
            return precision == .bf16 && !EncoderPrecision.bf16ThroughOneDNN ? "bf16 (widened for OpenBLAS)" : precision.rawValue
        }
        print("oneDNN \(OneDNN.version): \(OneDNN.instructionSet); ImageBind precisions: \(precisions.joined(separator: ", "))")
    }
}
