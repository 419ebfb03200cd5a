import Foundation
import PandaKernels
import PandaTestSupport
import Testing

/// OpenBLAS 0.3.21 runs SSE3 kernels on CPUs newer than itself; panda-run starts again with the kernels the CPU
/// deserves, and leaves a user's OPENBLAS_CORETYPE alone.
@Suite("OpenBLAS's kernels")
struct OpenBLASCoreTests {
    private func coreName(_ environment: [String: String] = [:]) throws -> String {
        let result = try Executable.run("panda-run", ["info"], limits: ProcessLimits(seconds: 60, environment: environment))
        #expect(result.status == 0, "\(result.stderr)")
        let line = try #require(result.stdout.split(separator: "\n").first { $0.hasPrefix("OpenBLAS kernels: ") })
        return String(line.dropFirst("OpenBLAS kernels: ".count))
    }

    @Test("panda-run runs OpenBLAS's AVX-512 kernels on an AVX-512 CPU and its AVX2 kernels on an AVX2 one")
    func runsKernelsTheCPUDeserves() throws {
        let name = try coreName()
        print("OpenBLAS kernels in panda-run: \(name) (in this test process: \(OpenBLASCore.name))")
        if KernelPath.avx512.isSupported {
            #expect(["SkylakeX", "Cooperlake", "SapphireRapids"].contains(name), "\(name)")
        } else if KernelPath.avx2.isSupported {
            #expect(["Haswell", "Zen", "Excavator", "Skylake", "SkylakeX", "Cooperlake", "SapphireRapids"].contains(name), "\(name)")
        } else {
            print("this CPU has neither AVX2 nor AVX-512: OpenBLAS's own choice stands")
        }
    }

    @Test("a user's OPENBLAS_CORETYPE is kept")
    func userChoiceIsKept() throws {
        #expect(try coreName(["OPENBLAS_CORETYPE": "Prescott"]) == "Prescott")
        #expect(OpenBLASCore.better(environment: ["OPENBLAS_CORETYPE": "Haswell"]) == nil)
    }
}
