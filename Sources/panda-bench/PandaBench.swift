import ArgumentParser
import PandaKernels

@main
struct PandaBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "panda-bench",
        abstract: "Panda's benchmarks. Build with -c release; results go into docs/benchmarks.md.",
        discussion: """
            Example:
              swift run -c release panda-bench format --megabytes 256
            """,
        subcommands: [FormatBenchmark.self, ConvertBenchmark.self, DecodeBenchmark.self, KernelBenchmark.self, QuantizationReport.self, JobBenchmark.self, ImageBindBenchmark.self, ImageBindWorker.self, PeakBenchmark.self, CaptionBenchmark.self, CaptionHugeBenchmark.self, BatchedDecodeBenchmark.self])

    static func main() {
        OpenBLASCore.restartWithBetterKernels()
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            exit(withError: error)
        }
    }
}
