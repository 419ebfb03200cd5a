import Foundation
import PandaModels
import PandaTestSupport
import Testing

@Suite("SentencePiece tokenizer")
struct SentencePieceTests {
    struct Entry: Decodable { var text: String; var ids: [Int]; var decoded: String }

    let tokenizer: SentencePieceTokenizer

    init() throws {
        tokenizer = try SentencePieceTokenizer(modelData: Data(contentsOf: URL(fileURLWithPath: Reference.path("llama/tokenizer.model"))))
    }

    @Test("ids and decoded text equal the sentencepiece library's on 1,200 varied strings with the real LLaMA vocabulary")
    func corpusMatchesSentencePiece() throws {
        let corpus = try Reference.json("tokenizers/llama-corpus.json", as: [Entry].self)
        #expect(corpus.count >= 1200)
        #expect(tokenizer.vocabularySize == 32000)
        var mismatches: [String] = []
        for entry in corpus {
            if tokenizer.encode(entry.text) != entry.ids || tokenizer.decode(entry.ids) != entry.decoded {
                mismatches.append(entry.text.debugDescription)
            }
        }
        #expect(mismatches.isEmpty, "\(mismatches.count) mismatches, e.g. \(mismatches.prefix(5))")
    }

    @Test("PandaGPT's markers get LLaMA's ids: '###' 835, '\\n' via byte fallback 13, '##' 2277, BOS 1, EOS 2")
    func pandaGPTMarkers() {
        #expect(tokenizer.encode("###") == [835])
        #expect(tokenizer.encode("\n### Assistant:").prefix(4) == [29871, 13, 2277, 29937])
        #expect(tokenizer.encode("Hello world", addBOS: true) == [1, 15043, 3186])
        #expect(tokenizer.bosID == 1 && tokenizer.eosID == 2)
        #expect(tokenizer.decode([1, 15043, 3186, 2]) == "Hello world")
    }

    @Test("a file that is not a SentencePiece model is refused with a reason")
    func refusesGarbage() {
        #expect(throws: TokenizerError.self) { try SentencePieceTokenizer(modelData: Data("not a model".utf8)) }
    }
}
