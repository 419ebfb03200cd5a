import Foundation
@testable import PandaModels
import PandaTestSupport
import Testing

/// The generation loop's stopping rules, streaming and sampling, on the tiny reference decoder.
@Suite("Generation")
struct GenerationTests {
    let directory = TemporaryDirectory()
    let model: Llama
    let tokenizer: SentencePieceTokenizer
    let prompt: [DecoderInput]

    init() throws {
        model = try Llama(path: Reference.convert(["llama/hf-safetensors", "llama/tokenizer.model"], recipe: "llama", dtype: .f32, into: directory))
        tokenizer = try SentencePieceTokenizer(weights: model.weights)
        prompt = [.tokens(tokenizer.encode("Once upon a time", addBOS: true))]
    }

    private func generate(_ options: GenerationOptions) throws -> (Generation, streamed: String) {
        var streamed = ""
        let context = LlamaContext(model: model, capacity: 128, threads: 2)
        let generation = try Generator(context: context, tokenizer: tokenizer).generate(prompt, options: options) { streamed += $0 }
        return (generation, streamed)
    }

    @Test("a stop token ends generation and drops itself with the token before it, as PandaGPT's demo does; nothing dropped was streamed")
    func stopTokenDropsTrailingTokens() throws {
        let (free, _) = try generate(GenerationOptions(maxNewTokens: 40, stopAtEOS: false))
        let stopIndex = try #require((4..<free.tokens.count).first { free.tokens.firstIndex(of: free.tokens[$0]) == $0 })
        let (stopped, streamed) = try generate(GenerationOptions(maxNewTokens: 40, stopAtEOS: false, stopToken: (free.tokens[stopIndex], 2)))
        #expect(stopped.stopReason == .stopToken(free.tokens[stopIndex]))
        #expect(stopped.tokens == Array(free.tokens.prefix(stopIndex - 1)))
        #expect(stopped.text == tokenizer.decode(stopped.tokens))
        #expect(streamed == stopped.text)
    }

    @Test("a stop string cuts the text before it and is never streamed")
    func stopStringCutsText() throws {
        let (free, _) = try generate(GenerationOptions(maxNewTokens: 24, stopAtEOS: false))
        let marker = String(free.text.dropFirst(free.text.count / 2).prefix(3))
        let (stopped, streamed) = try generate(GenerationOptions(maxNewTokens: 24, stopStrings: [marker], stopAtEOS: false))
        #expect(stopped.stopReason == .stopString(marker))
        #expect(stopped.text == String(free.text[..<free.text.range(of: marker)!.lowerBound]))
        #expect(streamed == stopped.text)
    }

    @Test("sampling with the same seed repeats itself; another seed differs; max tokens is honoured")
    func seededSampling() throws {
        let sampling = SamplingOptions(temperature: 1.5, topK: 40, topP: 0.95, seed: 7)
        let (first, _) = try generate(GenerationOptions(maxNewTokens: 20, sampling: sampling, stopAtEOS: false))
        let (again, _) = try generate(GenerationOptions(maxNewTokens: 20, sampling: sampling, stopAtEOS: false))
        var other = sampling
        other.seed = 8
        let (different, _) = try generate(GenerationOptions(maxNewTokens: 20, sampling: other, stopAtEOS: false))
        #expect(first.tokens == again.tokens && first.tokens.count == 20 && first.stopReason == .maxTokens)
        #expect(first.tokens != different.tokens)
    }

    /// Streams `ids` through a TextStream as the generator does, returning the pieces joined.
    private func streamed(_ ids: [Int], stopStrings: [String] = [], holdingBackTokens: Int = 0) -> (streamed: [UInt8], stop: String?, text: String) {
        var stream = TextStream(tokenizer: tokenizer, stopStrings: stopStrings, holdingBackTokens: holdingBackTokens)
        var pieces: [UInt8] = []
        for id in ids {
            if let stop = stream.append(id) {
                pieces += stream.rest(of: stop.textBefore).map { Array($0.utf8) } ?? []
                return (pieces, stop.string, stop.textBefore)
            }
            pieces += stream.takeFinal().map { Array($0.utf8) } ?? []
        }
        pieces += stream.rest(of: stream.text).map { Array($0.utf8) } ?? []
        return (pieces, nil, stream.text)
    }

    @Test("streamed text equals the full decode byte for byte: combining marks, ZWJ emoji, \\r and characters split across byte pieces")
    func streamingKeepsEveryByte() {
        let texts = [
            "नमस्ते दुनिया", "e\u{301}te\u{301} cafe\u{301}", "family 👨\u{200D}👩\u{200D}👧 and 🏳\u{FE0F}\u{200D}🌈", "line\r\nnext\rend\r",
            "漢字 𝄞 ☺\u{FE0E} ☺\u{FE0F}", "Ελληνικά ́ and a lone \u{301}",
        ]
        var bytePieces = 0
        for text in texts {
            let ids = tokenizer.encode(text)
            bytePieces += ids.filter { tokenizer.types[$0] == .byte }.count
            let result = streamed(ids)
            #expect(result.streamed == Array(tokenizer.decode(ids).utf8), "\(text.debugDescription)")
            #expect(result.text == tokenizer.decode(ids))
        }
        #expect(bytePieces > 20)  // the vocabulary has no pieces for most of these characters
    }

    @Test("a stop string of multi-byte characters ends the text before it, and no byte of it is streamed")
    func multiByteStopString() {
        let ids = tokenizer.encode("नमस्ते दुनिया, hello")
        let result = streamed(ids, stopStrings: ["दुनि"])
        #expect(result.stop == "दुनि")
        #expect(result.text == "नमस्ते ")
        #expect(result.streamed == Array("नमस्ते ".utf8))
        let held = streamed(ids, holdingBackTokens: 1)
        #expect(held.streamed == Array(tokenizer.decode(ids).utf8))
    }

    @Test("PandaGPT answers reuse one context: the same question gives the same answer after another question in between")
    func answersReuseTheirContext() throws {
        let pandaGPT = try PandaGPT(decoderPath: ReferenceModels.decoder, adapterPath: ReferenceModels.adapter)
        let embedding = (0..<pandaGPT.imagebindDimension).map { Float(($0 * 37) % 11) / 11 - 0.5 }
        let options = PandaGPT.answerOptions(maxNewTokens: 12)
        let first = try pandaGPT.answer(embeddings: [embedding], question: "What is it?", options: options, threads: 2)
        let context = try #require(pandaGPT.answerContext)
        _ = try pandaGPT.answer(embeddings: [embedding.map { -$0 }], question: "Tell a long story about something else entirely.", options: options, threads: 2)
        let again = try pandaGPT.answer(embeddings: [embedding], question: "What is it?", options: options, threads: 2)
        #expect(pandaGPT.answerContext === context)
        #expect(again.tokens == first.tokens && again.text == first.text && !first.tokens.isEmpty)
    }
}
