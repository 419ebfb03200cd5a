import ArgumentParser
import Foundation
import PandaJobs
import PandaModels

/// The model and generation flags of `ask` and `chat`.
struct PandaGPTOptions: ParsableArguments {
    @Option(help: "Vicuna decoder .panda file (panda-convert --recipe llama), or one with the PandaGPT delta merged in.")
    var model: String

    @Option(help: "PandaGPT delta .panda file (panda-convert --recipe pandagpt-delta): llama_proj and the LoRA factors.")
    var adapter: String?

    @Option(help: "ImageBind .panda file (panda-convert --recipe imagebind-huge).")
    var imagebind: String

    @OptionGroup var media: MediaOptions

    @OptionGroup var sampling: SamplingFlags

    @Option(name: .customLong("max-tokens"), help: "Most tokens per answer (PandaGPT's demo: 256).")
    var maxTokens = 256

    @Option(help: "Threads for the kernels (default: all cores).")
    var threads: Int?

    func validate() throws {
        guard !media.files.isEmpty else { throw ValidationError("give at least one --image, --video, --audio, --depth, --thermal or --imu for PandaGPT's feature token") }
        guard maxTokens > 0 else { throw ValidationError("--max-tokens must be positive") }
    }

    var threadCount: Int { threads ?? ProcessInfo.processInfo.activeProcessorCount }

    var generationOptions: GenerationOptions {
        PandaGPT.answerOptions(maxNewTokens: maxTokens, sampling: sampling.options)
    }

    /// Loads both models and embeds the media into the embeddings PandaGPT sums into its feature token.
    func load() throws -> (PandaGPT, [[Float]]) {
        let embedder = try Embedder(path: imagebind, threads: threadCount)
        let embeddings = try embedder.embed(try media.prepared())
        return (try PandaGPT(decoderPath: model, adapterPath: adapter), embeddings)
    }
}

struct Ask: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Ask PandaGPT one question about images, sounds, videos and other media.",
        discussion: """
            Each file is embedded with ImageBind, projected by llama_proj and summed into PandaGPT's one feature \
            token; the prompt is PandaGPT's ("### Human: <Img>" feature "</Img> QUESTION\\n### Assistant:") and \
            the answer ends where PandaGPT's demo ends it. Only the answer goes to stdout; speed goes to stderr.

            Examples:
              panda-run ask --model Weights/vicuna-7b.panda --adapter Weights/pandagpt-7b-delta.panda \\
                --imagebind Weights/imagebind-huge.panda --image photo.jpg "What is in this picture?"
              panda-run ask --model m.panda --adapter d.panda --imagebind ib.panda --image beach.jpg --audio waves.wav "Describe the scene."
            """)

    @OptionGroup var options: PandaGPTOptions

    @Argument(help: "The question.")
    var question: String

    func run() throws {
        do {
            let (pandaGPT, embeddings) = try options.load()
            let answer = try pandaGPT.answer(
                embeddings: embeddings, question: question, options: options.generationOptions, threads: options.threadCount
            ) { FileHandle.standardOutput.write(Data($0.utf8)) }
            FileHandle.standardOutput.write(Data("\n".utf8))
            FileHandle.standardError.write(Data(String(format: "[%d tokens, %.2f tok/s]\n", answer.tokens.count, answer.tokensPerSecond).utf8))
        } catch {
            throw CommandErrors.report(error, asJSON: false)
        }
    }
}

struct Chat: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Talk with PandaGPT about media, turn by turn, in PandaGPT's conversation format.",
        discussion: """
            Reads one question per line from standard input and prints each answer on stdout; the media are \
            embedded once, and every turn is sent with the whole conversation, as PandaGPT's web demo does. \
            An empty line or end of input ends the chat.

            Example:
              panda-run chat --model m.panda --adapter d.panda --imagebind ib.panda --image photo.jpg
            """)

    @OptionGroup var options: PandaGPTOptions

    func run() throws {
        do {
            let (pandaGPT, embeddings) = try options.load()
            var history: [PandaGPT.Turn] = []
            let interactive = isatty(STDIN_FILENO) != 0
            while true {
                if interactive { FileHandle.standardError.write(Data("you> ".utf8)) }
                guard let line = readLine(), !line.trimmingCharacters(in: .whitespaces).isEmpty else { break }
                let answer = try pandaGPT.answer(
                    embeddings: embeddings, question: line, history: history, options: options.generationOptions, threads: options.threadCount
                ) { FileHandle.standardOutput.write(Data($0.utf8)) }
                FileHandle.standardOutput.write(Data("\n".utf8))
                history.append(PandaGPT.Turn(question: line, answer: answer.text))
            }
        } catch {
            throw CommandErrors.report(error, asJSON: false)
        }
    }
}
