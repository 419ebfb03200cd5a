import ArgumentParser
import Foundation
import PandaInputs
import PandaModels

/// The model and generation flags of `ask` and `chat`.
struct PandaGPTOptions: ParsableArguments {
    @Option(name: [.customShort("m"), .long], help: "Vicuna decoder .panda file (panda-convert --recipe llama), or one with the PandaGPT delta merged in.")
    var model: String

    @Option(help: "PandaGPT delta .panda file (panda-convert --recipe pandagpt-delta): llama_proj and the LoRA factors.")
    var adapter: String?

    @Option(help: "ImageBind .panda file (panda-convert --recipe imagebind-huge).")
    var imagebind: String

    @OptionGroup var media: MediaOptions

    @OptionGroup var sampling: SamplingFlags

    @Option(name: [.customShort("n"), .customLong("max-tokens")], help: "Most tokens per answer.")
    var maxTokens = GenerationOptions.defaultMaxNewTokens

    @Option(name: .shortAndLong, help: "Threads for the kernels (default: all cores).")
    var threads: Int?

    @OptionGroup var encoder: EncoderOptions

    func validate() throws {
        guard !media.files.isEmpty else { throw ValidationError("give at least one --image, --video, --audio, --depth, --thermal or --imu for PandaGPT's feature token") }
        guard maxTokens > 0 else { throw ValidationError("--max-tokens must be positive") }
    }

    var threadCount: Int { threads ?? ProcessInfo.processInfo.activeProcessorCount }

    var generationOptions: GenerationOptions {
        PandaGPT.answerOptions(maxNewTokens: maxTokens, sampling: sampling.options)
    }

    /// Loads both models and embeds the media: every file gives one embedding, and PandaGPT sums their projections
    /// into its one feature token — across modalities as PandaGPT does, and so also for several files of one.
    func load() throws -> (PandaGPT, [[Float]]) {
        let embedder = try Embedder(path: imagebind, threads: threadCount, precision: encoder.precision)
        let embeddings = try embedder.embed(try media.prepared())
        return (try PandaGPT(decoderPath: model, adapterPath: adapter), embeddings)
    }
}

struct Ask: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Ask PandaGPT one question about images, sounds, videos and other media.",
        discussion: """
            Each file is embedded with ImageBind, projected by llama_proj, and the projections are summed into \
            PandaGPT's one feature token (several files of one modality are summed too); the prompt is PandaGPT's \
            ("### Human: <Img>" feature "</Img> QUESTION\\n### Assistant:") and the answer ends where PandaGPT's \
            demo ends it. Only the answer goes to stdout, as it is written; speed goes to stderr. With --json, one \
            object instead: text, tokens, stop reason, timings. Ctrl-C ends the answer where it is (exit 130).

            Examples:
              panda-run ask -m vicuna-7b.panda --adapter pandagpt-delta.panda \\
                --imagebind imagebind-huge.panda --image photo.jpg \\
                "What is in this picture?"
              panda-run ask -m m.panda --adapter d.panda --imagebind ib.panda \\
                --image beach.jpg --audio waves.wav -f question.txt
            """)

    @OptionGroup var options: PandaGPTOptions

    @OptionGroup var question: PromptInput

    @Flag(help: "Print one JSON object (text, tokens, stop reason, timings) instead of streaming the answer.")
    var json = false

    func run() throws {
        let loadStart = Date()
        let question = try question.text()
        let (pandaGPT, embeddings) = try options.load()
        let loadSeconds = Date().timeIntervalSince(loadStart)
        let stop = StopRequest.install()
        let answer = try pandaGPT.answer(
            embeddings: embeddings, question: question, options: options.generationOptions, threads: options.threadCount,
            onText: { if !json { FileHandle.standardOutput.write(Data($0.utf8)) } }, shouldStop: { stop.signal != nil })
        if json {
            try GenerationReport(answer, loadSeconds: loadSeconds).print()
        } else {
            FileHandle.standardOutput.write(Data("\n".utf8))
            FileHandle.standardError.write(Data(String(
                format: "[%d tokens, %.2f tok/s, stopped: %@]\n", answer.tokens.count, answer.tokensPerSecond, GenerationReport.describe(answer.stopReason)).utf8))
        }
        if let status = stop.exitStatus { throw ExitCode(status) }
    }
}

struct Chat: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Talk with PandaGPT about media, turn by turn, in PandaGPT's conversation format.",
        discussion: """
            Reads one question per line from standard input and prints each answer on stdout; the media are \
            embedded once, and every turn is sent with the whole conversation, as PandaGPT's web demo does. \
            An empty line or end of input ends the chat. Ctrl-C ends the answer being written (keeping what was \
            printed) and returns to the prompt; Ctrl-C at the prompt quits.

            Example:
              panda-run chat -m m.panda --adapter d.panda --imagebind ib.panda \\
                --image photo.jpg
            """)

    @OptionGroup var options: PandaGPTOptions

    func run() throws {
        let (pandaGPT, embeddings) = try options.load()
        var history: [PandaGPT.Turn] = []
        let interactive = isatty(STDIN_FILENO) != 0
        let answering = SharedBool()
        // At the prompt nothing is in progress that a stop could end cleanly: Ctrl-C quits, as in a shell.
        let stop = StopRequest.install { signal in
            guard !answering.value else { return }
            FileHandle.standardError.write(Data("\n".utf8))
            _exit(128 + signal)
        }
        while true {
            if interactive { FileHandle.standardError.write(Data("you> ".utf8)) }
            guard let line = readLine(), !line.trimmingCharacters(in: .whitespaces).isEmpty else { break }
            stop.reset()
            answering.value = true
            let answer = try pandaGPT.answer(
                embeddings: embeddings, question: line, history: history, options: options.generationOptions, threads: options.threadCount,
                onText: { FileHandle.standardOutput.write(Data($0.utf8)) }, shouldStop: { stop.signal != nil })
            answering.value = false
            FileHandle.standardOutput.write(Data("\n".utf8))
            FileHandle.standardError.write(Data(String(
                format: "[%d tokens, %.2f tok/s, stopped: %@]\n", answer.tokens.count, answer.tokensPerSecond, GenerationReport.describe(answer.stopReason)).utf8))
            history.append(PandaGPT.Turn(question: line, answer: answer.text))
            stop.reset()
        }
    }
}

/// A Bool that a signal handler's queue can read while the main thread writes it.
final class SharedBool: @unchecked Sendable {
    // @unchecked: `stored` is only touched under `lock`.
    private let lock = NSLock()
    private var stored = false
    var value: Bool {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}
