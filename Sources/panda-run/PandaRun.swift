import ArgumentParser
import PandaFormat
import PandaKernels

@main
struct PandaRun: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "panda-run",
        abstract: "Run PandaGPT-style models: ask about media, embed, generate, tokenize.",
        discussion: """
            Models are .panda files made by panda-convert. A job file (docs/jobs.md) runs cells over folders of \
            media; the other subcommands reach each engine directly. Examples:
              panda-run Jobs/story.yaml
              panda-run generate -m vicuna-7b-q4_0.panda "The capital of France is"
              panda-run generate -m vicuna-7b.panda --adapter pandagpt-delta.panda \\
                --temperature 0.7 "Tell me a story."
              panda-run tokenize -m vicuna-7b.panda "Hello world"
              panda-run embed -m imagebind-huge.panda --image photo.jpg --text "a panda"
              panda-run ask -m vicuna-7b.panda --adapter pandagpt-delta.panda \\
                --imagebind imagebind-huge.panda --image photo.jpg \\
                "What is in this picture?"
            """,
        version: "panda-run " + PandaVersion.string,
        subcommands: [RunJob.self, Validate.self, Plan.self, Merge.self, Ask.self, Chat.self, Embed.self, Generate.self, Tokenize.self, Info.self],
        defaultSubcommand: RunJob.self)

    /// The one place a failure becomes what the user reads: mistakes in the arguments as argument-parser prints
    /// them, Panda's own errors as one line in the command's style (`ReportsErrors`).
    static func main() {
        OpenBLASCore.restartWithBetterKernels()
        var command: ParsableCommand
        do {
            command = try parseAsRoot()
        } catch {
            exit(withError: error)
        }
        do {
            try command.run()
        } catch let error where String(reflecting: type(of: error)).hasPrefix("ArgumentParser.") {
            // Help, exit codes, validation errors: argument-parser's own, printed its way.
            exit(withError: error)
        } catch {
            exit(withError: CommandErrors.report(error, style: (command as? ReportsErrors)?.errorStyle ?? .prefixed))
        }
    }
}
