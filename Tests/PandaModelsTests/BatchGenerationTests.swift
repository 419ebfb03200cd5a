import Foundation
import PandaFormat
@testable import PandaModels
import PandaTestSupport
import Testing

/// Decoding several sequences together gives each the tokens it gets alone, on the reference LLaMA (f32 and q8_0)
/// and on the reference PandaGPT: prompts of different lengths, sequences ending at different steps, more requests
/// than slots (freed slots refilled), and greedy and seeded sampling.
@Suite("Batched generation")
struct BatchGenerationTests {
    let directory = TemporaryDirectory()

    private func load(_ dtype: DType) throws -> (Llama, SentencePieceTokenizer) {
        let model = try Llama(path: Reference.convert(["llama/hf-safetensors", "llama/tokenizer.model"], recipe: "llama", dtype: dtype, into: directory,
                                                      name: "\(dtype).panda"))
        return (model, try SentencePieceTokenizer(weights: model.weights))
    }

    /// Eleven requests: prompts of 1 to 9 tokens, token limits from 3 to 24, one with a stop string, some sampled
    /// with their own seeds.
    private func requests(_ tokenizer: SentencePieceTokenizer) -> [BatchGenerator.Request] {
        let texts = ["Once upon a time", "The", "A quick brown fox jumps over the lazy dog", "Hello world", "In the beginning", "Why",
                     "Tell me a story about a cat", "1 2 3", "Once upon a time there was", "Zebras", "Rain"]
        return texts.enumerated().map { index, text in
            var options = GenerationOptions(maxNewTokens: 3 + (index * 7) % 22, stopAtEOS: false)
            if index % 3 == 1 { options.sampling = SamplingOptions(temperature: 1.2, topK: 40, topP: 0.9, seed: UInt64(index)) }
            if index == 4 { options.stopStrings = ["e"] }
            return BatchGenerator.Request(prompt: [.tokens(tokenizer.encode(text, addBOS: true))], options: options)
        }
    }

    private func alone(_ model: Llama, _ tokenizer: SentencePieceTokenizer, _ requests: [BatchGenerator.Request]) throws -> [Generation] {
        let context = LlamaContext(model: model, capacity: 64, threads: 2)
        return try requests.map { request in
            context.reset()
            return try Generator(context: context, tokenizer: tokenizer).generate(request.prompt, options: request.options)
        }
    }

    @Test("each sequence of a batch decodes exactly as alone, f32 and q8_0, with 1, 3 and 8 slots for 11 requests",
          arguments: [DType.f32, .q8_0], [1, 3, 8])
    func batchedEqualsAlone(dtype: DType, slots: Int) throws {
        let (model, tokenizer) = try load(dtype)
        let requests = requests(tokenizer)
        let expected = try alone(model, tokenizer, requests)
        var finished: [Int] = []
        let batched = try BatchGenerator(context: LlamaContext(model: model, capacity: 64, slots: slots, threads: 2), tokenizer: tokenizer)
            .generate(requests) { index, _ in finished.append(index) }.map { try $0.get() }
        // Every row of a step goes through the same kernel, in the same order, as alone (f32 through the
        // matrix-vector kernel, q8_0 through the int8 one), so sampled requests draw the same tokens too.
        for (index, (a, b)) in zip(expected, batched).enumerated() {
            #expect(a.tokens == b.tokens && a.text == b.text && a.stopReason == b.stopReason, "request \(index)")
        }
        #expect(Set(finished) == Set(requests.indices) && finished.count == requests.count)
        #expect(expected.contains { $0.stopReason == .stopString("e") })
        // Sequences end at different steps, so with fewer slots than requests the finishing order is not the requests'.
        if slots == 3 { #expect(finished != Array(requests.indices)) }
    }

    @Test("a prompt longer than the context fails alone: its slot goes to the next request and the others decode as alone")
    func aRequestThatDoesNotFitFailsAlone() throws {
        let (model, tokenizer) = try load(.q8_0)
        var requests = requests(tokenizer)
        requests[2].prompt = [.tokens(Array(repeating: 1, count: 65))]  // the context holds 64 positions
        let expected = try alone(model, tokenizer, requests.enumerated().filter { $0.offset != 2 }.map(\.element))
        let batched = try BatchGenerator(context: LlamaContext(model: model, capacity: 64, slots: 3, threads: 2), tokenizer: tokenizer).generate(requests)
        guard case .failure(let error) = batched[2] else { Issue.record("the 65-token prompt was accepted"); return }
        #expect("\(error)".contains("capacity"), "\(error)")
        var others = batched
        others.remove(at: 2)
        #expect(try others.map { try $0.get().tokens } == expected.map(\.tokens))
    }

    @Test("a step's logits per row match one-token-at-a-time decoding of each sequence to within float rounding",
          arguments: [DType.f32, .q8_0])
    func stepLogitsMatchSingle(dtype: DType) throws {
        let (model, tokenizer) = try load(dtype)
        let prompts = ["Once upon a time", "The", "A quick brown fox jumps"].map { tokenizer.encode($0, addBOS: true) }
        let continuation = [450, 338, 263, 1243, 29889]
        let batch = LlamaContext(model: model, capacity: 32, slots: 3, threads: 2)
        // Prompts into slots 2, 0, 1: a slot's position and cache are its own, whatever order they were filled in.
        for slot in [2, 0, 1] { try batch.evaluate([.tokens(prompts[slot])], slot: slot) }
        let single = LlamaContext(model: model, capacity: 32, threads: 2)
        var worst: Float = 0
        var expected: [[Float]] = []
        for prompt in prompts {
            single.reset()
            try single.evaluate([.tokens(prompt)])
            expected.append(contentsOf: try continuation.map { Array(try single.next($0)) })
        }
        let vocab = model.config.vocabSize
        for (step, token) in continuation.enumerated() {
            let logits = try batch.step([(slot: 1, token: token), (slot: 0, token: token), (slot: 2, token: token)])
            for (row, slot) in [1, 0, 2].enumerated() {
                let reference = expected[slot * continuation.count + step]
                for i in 0..<vocab { worst = max(worst, abs(logits[row * vocab + i] - reference[i])) }
            }
        }
        #expect(batch.lengths == prompts.map { $0.count + continuation.count })
        #expect(worst < 1e-4, "max |Δlogit| \(worst)")
    }

    @Test("PandaGPT's batched answers are its answers one by one, in order, with 1 and 3 slots for 5 questions", arguments: [1, 3])
    func pandaGPTAnswers(batch: Int) throws {
        let pandaGPT = try PandaGPT(decoderPath: ReferenceModels.decoder, adapterPath: ReferenceModels.adapter)
        let questions: [(embeddings: [[Float]], question: String, history: [PandaGPT.Turn])] = (0..<5).map { item in
            let embedding = (0..<pandaGPT.imagebindDimension).map { Float(($0 * (37 + item)) % 11) / 11 - 0.5 }
            let history = item == 3 ? [PandaGPT.Turn(question: "What is it?", answer: "A thing.")] : []
            return ([embedding], ["What is it?", "Describe it in detail.", "Colour?", "And then?", "Where is it?"][item], history)
        }
        let options = PandaGPT.answerOptions(maxNewTokens: 6 + 5 * 3)
        let alone = try questions.map { try pandaGPT.answer(embeddings: $0.embeddings, question: $0.question, history: $0.history, options: options, threads: 2) }
        let batched = try pandaGPT.answers(questions, options: options, threads: 2, batch: batch).map { try $0.get() }
        #expect(batched.map(\.tokens) == alone.map(\.tokens))
        #expect(batched.map(\.text) == alone.map(\.text))
        #expect(batched.map(\.stopReason) == alone.map(\.stopReason))
        // The next call that fits keeps the context: no KV cache or thread pool per call.
        let context = try #require(pandaGPT.batchContext)
        let again = try pandaGPT.answers(Array(questions.suffix(2)), options: options, threads: 2, batch: batch).map { try $0.get() }
        #expect(pandaGPT.batchContext === context)
        #expect(again.map(\.tokens) == alone.suffix(2).map(\.tokens))
    }
}
