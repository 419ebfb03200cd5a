import ArgumentParser
import PandaFormat

@main
struct PandaConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "panda-convert",
        abstract: "Convert PyTorch checkpoints into .panda weight files, and inspect or verify them.",
        discussion: """
            A .panda file holds one model's tensors (memory-mapped, optionally zstd-compressed), its configuration, \
            its tokenizer files and where it came from. The format is specified in docs/format.md.

            Examples:
              panda-convert convert vicuna-7b/ -o Weights/vicuna-7b.panda --dtype q4_0
              panda-convert inspect Weights/tiny-vicuna.panda
              panda-convert verify Weights/tiny-vicuna.panda
            """,
        version: "panda-convert " + PandaVersion.string,
        subcommands: [Convert.self, Inspect.self, Verify.self, ListRecipes.self])
}
