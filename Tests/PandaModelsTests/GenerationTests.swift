import Foundation
import PandaModels
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
}
