import ArgumentParser
import Foundation
import PandaModels

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Continue a text prompt with a LLaMA/Vicuna decoder, streaming tokens as they come.",
        discussion: """
            The prompt is tokenized with the tokenizer embedded in the model file, preceded by BOS. Decoding is \
            greedy unless --temperature is above 0; sampling applies, in Hugging Face's order, the repetition \
            penalty, temperature, top-k and top-p, and is reproducible with --seed. Speed is printed to stderr.

            Examples:
              panda-run generate --model Weights/vicuna-7b-q4_0.panda "The capital of France is"
              panda-run generate --model vicuna.panda --adapter pandagpt-delta.panda --max-tokens 64 --stop "###" "### Human: Hi!\\n### Assistant:"
            """)

    @Option(help: "Decoder .panda file (panda-convert --recipe llama).")
    var model: String

    @Option(help: "PandaGPT delta .panda file whose LoRA factors are applied at run time (panda-convert --recipe pandagpt-delta).")
    var adapter: String?

    @Argument(help: "The prompt.")
    var prompt: String

    @Option(name: .customLong("max-tokens"), help: "Most tokens to generate.")
    var maxTokens = 128

    @OptionGroup var sampling: SamplingFlags

    @Option(name: .customLong("stop"), help: "Stop when the text contains this (repeatable).")
    var stops: [String] = []

    @Option(help: "Threads for the matrix kernels (default: all cores).")
    var threads: Int?

    func validate() throws {
        guard maxTokens > 0 else { throw ValidationError("--max-tokens must be positive") }
    }

    func run() throws {
        do {
            try generate()
        } catch {
            throw CommandErrors.report(error, asJSON: false)
        }
    }

    private func generate() throws {
        let loadStart = Date()
        let llama = try Llama(path: model, adapterPath: adapter)
        let tokenizer = try SentencePieceTokenizer(weights: llama.weights)
        let promptIDs = tokenizer.encode(prompt, addBOS: true)
        let capacity = min(llama.config.maxPositionEmbeddings, promptIDs.count + maxTokens)
        let context = LlamaContext(model: llama, capacity: capacity, threads: threads ?? ProcessInfo.processInfo.activeProcessorCount)
        let loadSeconds = Date().timeIntervalSince(loadStart)
        let options = GenerationOptions(
            maxNewTokens: maxTokens,
            sampling: sampling.options,
            stopStrings: stops)
        let stop = StopRequest.install()
        let generation = try Generator(context: context, tokenizer: tokenizer).generate(
            [.tokens(promptIDs)], options: options, onText: { FileHandle.standardOutput.write(Data($0.utf8)) }, shouldStop: { stop.signal != nil })
        // Only the continuation goes to stdout; a terminal also gets the line ended.
        if isatty(STDOUT_FILENO) != 0 { print("") }
        let reason = switch generation.stopReason {
        case .endOfSequence: "end of sequence"
        case .stopString(let stop): "stop string \(stop.debugDescription)"
        case .stopToken(let id): "stop token \(id)"
        case .maxTokens: "--max-tokens reached"
        case .contextFull: "context full"
        case .interrupted: "interrupted"
        }
        FileHandle.standardError.write(Data(String(
            format: "\n[load %.2f s · prompt %d tokens, %.1f tok/s · generated %d tokens, %.2f tok/s · stopped: %@]\n",
            loadSeconds, generation.promptPositions, generation.promptPositionsPerSecond, generation.tokens.count,
            generation.tokensPerSecond, reason).utf8))
        if let status = stop.exitStatus { throw ExitCode(status) }
    }
}
