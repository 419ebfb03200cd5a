import ArgumentParser
import Foundation
import PandaModels

struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show how a decoder's tokenizer splits text: ids and pieces.",
        discussion: """
            With --json-lines, reads one JSON string per line from standard input and writes one JSON object per \
            line, {"ids": [...], "decoded": "..."}, for tokenizing many texts at once.

            Examples:
              panda-run tokenize --model Weights/vicuna-7b.panda "### Human: <Img>"
              panda-run tokenize --tokenizer tokenizer.model --json-lines < texts.jsonl
            """)

    @Option(help: "Decoder .panda file whose embedded tokenizer.model is used.")
    var model: String?

    @Option(help: "A SentencePiece tokenizer.model file, instead of --model.")
    var tokenizer: String?

    @Flag(help: "Precede the ids with BOS, as a prompt is.")
    var bos = false

    @Flag(name: .customLong("json-lines"), help: "Tokenize JSON strings read line by line from standard input.")
    var jsonLines = false

    @Argument(help: "The text (omit with --json-lines).")
    var text: String?

    func validate() throws {
        guard (model == nil) != (tokenizer == nil) else { throw ValidationError("give either --model or --tokenizer") }
        guard jsonLines == (text == nil) else { throw ValidationError("give the text as an argument, or --json-lines") }
    }

    func run() throws {
        let sentencePiece: SentencePieceTokenizer
        if let model {
            sentencePiece = try SentencePieceTokenizer(weights: ModelWeights(path: model))
        } else {
            let path = tokenizer!
            guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("\(path): cannot read the file") }
            sentencePiece = try SentencePieceTokenizer(modelData: data)
        }
        guard jsonLines else {
            let ids = sentencePiece.encode(text!, addBOS: bos)
            for id in ids { print(id, sentencePiece.piece(id).debugDescription, separator: "\t") }
            print("\(ids.count) tokens")
            return
        }
        struct Output: Encodable { var ids: [Int], decoded: String }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        var lineNumber = 0
        while let line = readLine(strippingNewline: true) {
            lineNumber += 1
            guard let text = try? JSONDecoder().decode(String.self, from: Data(line.utf8)) else {
                throw ValidationError("standard input, line \(lineNumber): expected one JSON string")
            }
            let ids = sentencePiece.encode(text, addBOS: bos)
            print(String(decoding: try encoder.encode(Output(ids: ids, decoded: sentencePiece.decode(ids))), as: UTF8.self))
        }
    }
}
