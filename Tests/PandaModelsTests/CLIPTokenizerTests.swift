import Foundation
import PandaModels
import PandaTestSupport
import Testing

@Suite("CLIP tokenizer")
struct CLIPTokenizerTests {
    struct Entry: Decodable { var text: String; var bpe: [Int]; var ids: [Int] }

    let tokenizer: CLIPTokenizer

    init() throws {
        tokenizer = try CLIPTokenizer(compressedVocabulary: Data(contentsOf: URL(fileURLWithPath: Reference.path("imagebind/bpe_simple_vocab_16e6.txt.gz"))))
    }

    @Test("BPE ids and 77-token rows equal ImageBind's SimpleTokenizer on all 630 corpus strings, ftfy and HTML cleaning included")
    func corpusMatchesSimpleTokenizer() throws {
        let corpus = try Reference.json("tokenizers/clip-corpus.json", as: [Entry].self)
        #expect(corpus.count >= 600)
        var mismatches: [String] = []
        for entry in corpus where tokenizer.encode(entry.text) != entry.bpe || tokenizer.tokenize(entry.text) != entry.ids {
            mismatches.append(entry.text.debugDescription)
        }
        #expect(mismatches.isEmpty, "\(mismatches.count) mismatches, e.g. \(mismatches.prefix(5))")
    }

    @Test("rows start with SOT 49406, end with EOT 49407 and are cut to 77 tokens")
    func rowLayout() {
        #expect(tokenizer.vocabularySize == 49408)
        #expect(tokenizer.tokenize("a photo of a panda.").prefix(7) == [49406, 320, 1125, 539, 320, 12952, 269])
        let long = tokenizer.tokenize(String(repeating: "word ", count: 100))
        #expect(long.count == 77 && long.first == 49406 && long.last == 49407)
        #expect(tokenizer.tokenize("").prefix(3) == [49406, 49407, 0])
    }

    @Test("a vocabulary that is not gzip is refused with a reason")
    func refusesGarbage() {
        #expect(throws: TokenizerError.self) { try CLIPTokenizer(compressedVocabulary: Data("not gzip".utf8)) }
    }
}
