import ArgumentParser
import Foundation
import PandaModels

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Continue a text prompt with a LLaMA/Vicuna decoder, streaming tokens as they come.",
        discussion: """
            The prompt is tokenized with the tokenizer embedded in the model file, preceded by BOS. Decoding is \
            greedy unless --temperature is above 0; sampling applies, in Hugging Face's order, the repetition \
            penalty, temperature, top-k and top-p, and is reproducible with --seed. Only the continuation goes to \
            stdout; speed and why it stopped go to stderr. With --json, one object instead: text, tokens, stop \
            reason, timings. Ctrl-C ends the generation where it is (exit 130).

            Examples:
              panda-run generate -m vicuna-7b-q4_0.panda "The capital of France is"
              panda-run generate -m vicuna.panda --adapter pandagpt-delta.panda \\
                -n 64 --stop "###" -f prompt.txt
            """)

    @Option(name: [.customShort("m"), .long], help: "Decoder .panda file (panda-convert --recipe llama).")
    var model: String

    @Option(help: "PandaGPT delta .panda file whose LoRA factors are applied at run time (panda-convert --recipe pandagpt-delta).")
    var adapter: String?

    @OptionGroup var prompt: PromptInput

    @Option(name: [.customShort("n"), .customLong("max-tokens")], help: "Most tokens to generate.")
    var maxTokens = GenerationOptions.defaultMaxNewTokens

    @OptionGroup var sampling: SamplingFlags

    @Option(name: .customLong("stop"), help: "Stop when the text contains this (repeatable).")
    var stops: [String] = []

    @Option(name: .shortAndLong, help: "Threads for the matrix kernels (default: all cores).")
    var threads: Int?

    @Flag(help: "Print one JSON object (text, tokens, stop reason, timings) instead of streaming the text.")
    var json = false

    func validate() throws {
        guard maxTokens > 0 else { throw ValidationError("--max-tokens must be positive") }
    }

    func run() throws {
        let loadStart = Date()
        let promptText = try prompt.text()
        let llama = try Llama(path: model, adapterPath: adapter)
        let tokenizer = try SentencePieceTokenizer(weights: llama.weights)
        let promptIDs = tokenizer.encode(promptText, addBOS: true)
        let capacity = min(llama.config.maxPositionEmbeddings, promptIDs.count + maxTokens)
        let context = LlamaContext(model: llama, capacity: capacity, threads: threads ?? ProcessInfo.processInfo.activeProcessorCount)
        let loadSeconds = Date().timeIntervalSince(loadStart)
        let options = GenerationOptions(maxNewTokens: maxTokens, sampling: sampling.options, stopStrings: stops)
        let stop = StopRequest.install()
        let generation = try Generator(context: context, tokenizer: tokenizer).generate(
            [.tokens(promptIDs)], options: options, onText: { if !json { FileHandle.standardOutput.write(Data($0.utf8)) } },
            shouldStop: { stop.signal != nil })
        if json {
            try GenerationReport(generation, loadSeconds: loadSeconds).print()
        } else {
            // Only the continuation goes to stdout; a terminal also gets the line ended.
            if isatty(STDOUT_FILENO) != 0 { print("") }
            FileHandle.standardError.write(Data(String(
                format: "\n[load %.2f s · prompt %d tokens, %.1f tok/s · generated %d tokens, %.2f tok/s · stopped: %@]\n",
                loadSeconds, generation.promptPositions, generation.promptPositionsPerSecond, generation.tokens.count,
                generation.tokensPerSecond, GenerationReport.describe(generation.stopReason)).utf8))
        }
        if let status = stop.exitStatus { throw ExitCode(status) }
    }
}
