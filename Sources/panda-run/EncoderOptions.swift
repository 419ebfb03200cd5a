import ArgumentParser
import PandaKernels

/// How ImageBind multiplies, for every command that embeds.
struct EncoderOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "What ImageBind's linear layers multiply in: f32 (PyTorch's numbers; the default), int8 (about twice as fast on CPUs with VNNI; cosine to f32 ≥ 0.999) or bf16 (AVX-512 only). See docs/benchmarks.md.",
        valueName: "f32|bf16|int8"))
    var precision: EncoderPrecision = .f32

    func validate() throws {
        if let reason = precision.unavailableReason { throw ValidationError("--precision \(precision): \(reason)") }
    }
}

extension EncoderPrecision: ExpressibleByArgument {}
