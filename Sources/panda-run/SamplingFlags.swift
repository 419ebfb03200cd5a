import ArgumentParser
import PandaModels

/// The sampling flags of `generate`, `ask` and `chat`.
struct SamplingFlags: ParsableArguments {
    @Option(help: "Sampling temperature; 0 is greedy (PandaGPT's demo default, top-p 0.01, is effectively greedy).")
    var temperature: Float = 0

    @Option(name: .customLong("top-k"), help: "Keep only the k most likely tokens (0: off).")
    var topK = 0

    @Option(name: .customLong("top-p"), help: "Keep the most likely tokens up to this probability mass (1: off).")
    var topP: Float = 1

    @Option(name: .customLong("repetition-penalty"), help: "Divide the logits of tokens already seen by this (1: off).")
    var repetitionPenalty: Float = 1

    @Option(name: .shortAndLong, help: "Random seed for sampling.")
    var seed: UInt64 = 0

    func validate() throws {
        guard temperature >= 0 else { throw ValidationError("--temperature must be 0 or more") }
        guard topK >= 0 else { throw ValidationError("--top-k must be 0 or more") }
        guard topP > 0 && topP <= 1 else { throw ValidationError("--top-p must be in (0, 1]") }
        guard repetitionPenalty > 0 else { throw ValidationError("--repetition-penalty must be positive") }
    }

    var options: SamplingOptions {
        SamplingOptions(temperature: temperature, topK: topK, topP: topP, repetitionPenalty: repetitionPenalty, seed: seed)
    }
}
