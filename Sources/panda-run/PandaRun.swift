import ArgumentParser

@main
struct PandaRun: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "panda-run",
        abstract: "Run PandaGPT-style models: ask about media, embed, generate, tokenize.",
        discussion: """
            Models are .panda files made by panda-convert. A job file (docs/jobs.md) runs cells over folders of \
            media; the other subcommands reach each engine directly. Examples:
              panda-run Jobs/story.yaml
              panda-run generate --model Weights/vicuna-7b-q4_0.panda "The capital of France is"
              panda-run generate --model Weights/vicuna-7b.panda --adapter Weights/pandagpt-7b-delta.panda --temperature 0.7 "Tell me a story."
              panda-run tokenize --model Weights/vicuna-7b.panda "Hello world"
              panda-run embed --model Weights/imagebind-huge.panda --image photo.jpg --text "a panda"
              panda-run ask --model Weights/vicuna-7b.panda --adapter Weights/pandagpt-7b-delta.panda \\
                --imagebind Weights/imagebind-huge.panda --image photo.jpg "What is in this picture?"
            """,
        subcommands: [RunJob.self, Validate.self, Plan.self, Merge.self, Ask.self, Chat.self, Embed.self, Generate.self, Tokenize.self, Info.self],
        defaultSubcommand: RunJob.self)
}
