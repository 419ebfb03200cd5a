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
            OPENBLAS_CORETYPE yourself keeps your choice.
            Example:
              PANDA_KERNELS=avx2 panda-run info
            """)

    func run() {
        print(KernelPath.summary)
        print("OpenBLAS kernels: \(OpenBLASCore.name)")
    }
}
