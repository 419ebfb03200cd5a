import ArgumentParser
import Foundation
import PandaModels

struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a model's token ids for a text, as one JSON array.",
        discussion: """
            With a decoder, the ids are exactly what sentencepiece's encode returns for the text, with BOS first \
            only when --bos is given. With an ImageBind model, they are the 77 CLIP ids ImageBind's text encoder \
            takes (start, BPE ids, end, zero padding), after ImageBind's ftfy and HTML cleaning.

            --pieces prints one id and piece per line instead. With --json-lines, reads one JSON string per line \
            from standard input and writes one JSON object per line, {"ids": [...], "decoded": "..."}.

            Examples:
              panda-run tokenize -m vicuna-7b.panda "### Human: <Img>"
              panda-run tokenize -m imagebind-huge.panda "a photo of a panda"
              panda-run tokenize --tokenizer tokenizer.model --json-lines < t.jsonl
            """)

    @Option(name: [.customShort("m"), .long], help: "A decoder or ImageBind .panda file whose embedded tokenizer is used.")
    var model: String?

    @Option(help: "A SentencePiece tokenizer.model file, instead of --model.")
    var tokenizer: String?

    @Flag(help: "Precede the ids with BOS, as a prompt is (decoders only).")
    var bos = false

    @Flag(help: "Print each id with its piece, one per line.")
    var pieces = false

    @Flag(name: .customLong("json-lines"), help: "Tokenize JSON strings read line by line from standard input.")
    var jsonLines = false

    @Argument(help: "The text (omit with --json-lines).")
    var text: String?

    func validate() throws {
        guard (model == nil) != (tokenizer == nil) else { throw ValidationError("give either --model or --tokenizer") }
        guard jsonLines == (text == nil) else { throw ValidationError("give the text as an argument, or --json-lines") }
    }

    /// Either tokenizer behind one interface: ids, and text back from ids.
    private enum AnyTokenizer {
        case sentencePiece(SentencePieceTokenizer)
        case clip(CLIPTokenizer)
    }

    func run() throws {
        let tokenizer = try load()
        let encode: (String) -> [Int]
        let decode: ([Int]) -> String
        let piece: (Int) -> String
        switch tokenizer {
        case .sentencePiece(let sentencePiece):
            encode = { sentencePiece.encode($0, addBOS: bos) }
            decode = sentencePiece.decode
            piece = sentencePiece.piece
        case .clip(let clip):
            if bos { throw ValidationError("--bos is for decoders; CLIP ids always start with the start-of-text id") }
            encode = clip.tokenize
            decode = clip.decode
            piece = clip.symbol
        }
        guard jsonLines else {
            let ids = encode(text!)
            if pieces {
                for id in ids { print(id, piece(id).debugDescription, separator: "\t") }
            } else {
                print("[" + ids.map(String.init).joined(separator: ",") + "]")
            }
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
            let ids = encode(text)
            print(String(decoding: try encoder.encode(Output(ids: ids, decoded: decode(ids))), as: UTF8.self))
        }
    }

    private func load() throws -> AnyTokenizer {
        if let model {
            let weights = try ModelWeights(path: model)
            return weights.metadata.family == "imagebind" ? .clip(try CLIPTokenizer(weights: weights)) : .sentencePiece(try SentencePieceTokenizer(weights: weights))
        }
        let path = tokenizer!
        guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("\(path): cannot read the file") }
        return .sentencePiece(try SentencePieceTokenizer(modelData: data))
    }
}
