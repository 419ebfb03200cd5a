import ArgumentParser
import Foundation
import PandaModels

/// A prompt (or question) given as the argument, with -p as llama.cpp users type it, or read from a file with -f
/// (`-f -` reads standard input).
struct PromptInput: ParsableArguments {
    @Argument(help: "The text, unless -p or -f gives it.")
    var positional: String?

    @Option(name: [.customShort("p"), .customLong("prompt")], help: "The text.")
    var option: String?

    @Option(name: [.customShort("f"), .customLong("file")], help: ArgumentHelp("Read the text from a file ('-': standard input).", valueName: "file"))
    var file: String?

    func validate() throws {
        let given = [positional, option, file].compactMap { $0 }.count
        guard given == 1 else {
            throw ValidationError(given == 0 ? "give the text as an argument, with -p TEXT, or with -f FILE (-f - reads standard input)"
                                             : "give the text once: as an argument, with -p or with -f")
        }
    }

    /// The text, read now if it comes from a file; a file's final newline is not part of it.
    func text() throws -> String {
        if let text = positional ?? option { return text }
        let path = file!
        let data: Data
        if path == "-" {
            data = FileHandle.standardInput.readDataToEndOfFile()
        } else {
            guard let contents = FileManager.default.contents(atPath: path) else { throw ValidationError("\(path): cannot read the prompt file") }
            data = contents
        }
        guard var text = String(data: data, encoding: .utf8) else { throw ValidationError("\(path == "-" ? "standard input" : path): the prompt is not UTF-8") }
        if text.hasSuffix("\n") { text.removeLast() }
        return text
    }
}

/// --json for `generate` and `ask`: instead of streaming, one object with the text, the tokens and the timings.
struct GenerationReport: Encodable {
    var text: String
    var tokens: [Int]
    var stopReason: String
    var promptTokens: Int
    var loadSeconds: Double
    var promptSeconds: Double
    var generationSeconds: Double
    var tokensPerSecond: Double

    enum CodingKeys: String, CodingKey {
        case text, tokens, stopReason = "stop_reason", promptTokens = "prompt_tokens", loadSeconds = "load_seconds",
             promptSeconds = "prompt_seconds", generationSeconds = "generation_seconds", tokensPerSecond = "tokens_per_second"
    }

    init(_ generation: Generation, loadSeconds: Double) {
        text = generation.text
        tokens = generation.tokens
        stopReason = Self.describe(generation.stopReason)
        promptTokens = generation.promptPositions
        self.loadSeconds = loadSeconds
        promptSeconds = generation.promptSeconds
        generationSeconds = generation.generationSeconds
        tokensPerSecond = generation.tokensPerSecond
    }

    static func describe(_ reason: Generation.StopReason) -> String {
        switch reason {
        case .endOfSequence: "end of sequence"
        case .stopString(let stop): "stop string \(stop.debugDescription)"
        case .stopToken(let id): "stop token \(id)"
        case .maxTokens: "max tokens"
        case .contextFull: "context full"
        case .interrupted: "interrupted"
        }
    }

    func print() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        FileHandle.standardOutput.write(try encoder.encode(self) + Data("\n".utf8))
    }
}
