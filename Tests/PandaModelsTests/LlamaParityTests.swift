import Foundation
import PandaFormat
import PandaModels
import PandaTestSupport
import Testing

/// The decoder against Hugging Face transformers' LlamaForCausalLM on the tiny reference model
/// (Converters/reference/llama_cases.py): logits within 1e-4 in f32, greedy continuations token for token.
@Suite("LLaMA decoder parity with transformers")
struct LlamaParityTests {
    struct Prompt: Decodable { var text: String; var ids: [Int]; var greedy64: [Int] }
    struct Embeds: Decodable { var ids: [Int]; var position: Int; var greedy32: [Int] }
    struct Expected: Decodable { var prompts: [Prompt]; var embeds: Embeds }

    let directory = TemporaryDirectory()
    let expected: Expected
    let tensors: [String: FloatTensorValue]
    let model: Llama

    init() throws {
        expected = try Reference.json("llama/expected.json", as: Expected.self)
        tensors = try Reference.tensors("llama/expected.safetensors")
        let path = try Reference.convert(["llama/hf-safetensors", "llama/tokenizer.model"], recipe: "llama", dtype: .f32, into: directory)
        model = try Llama(path: path)
    }

    @Test("logits at every position of a prompt match transformers within 1e-4")
    func logitsAtEveryPosition() throws {
        let context = LlamaContext(model: model, capacity: 256, threads: 2)
        let logits = try context.evaluate([.tokens(expected.prompts[0].ids)], allLogits: true)
        let reference = try #require(tensors["prompt0.logits"])
        #expect(reference.shape == [expected.prompts[0].ids.count, 32001])
        #expect(maxAbsoluteDifference(logits, reference.values) <= 1e-4)
    }

    @Test("last-position logits match for prompts with Unicode, a long dialogue and code, in batches of 1, 7 and 64 rows",
          arguments: [1, 7, 64])
    func lastPositionLogits(batchLimit: Int) throws {
        for (index, prompt) in expected.prompts.enumerated() {
            let context = LlamaContext(model: model, capacity: 256, batchLimit: batchLimit, threads: 2)
            let logits = try context.evaluate([.tokens(prompt.ids)])
            let reference = try #require(tensors["prompt\(index).logits"])
            let last = reference.row(reference.shape[0] - 1)
            #expect(maxAbsoluteDifference(logits, last) <= 1e-4, "prompt \(index)")
        }
    }

    @Test("greedy 64-token continuations are identical to transformers' generate for every prompt")
    func greedyContinuations() throws {
        for prompt in expected.prompts {
            let context = LlamaContext(model: model, capacity: 256, threads: 2)
            var logits = try context.evaluate([.tokens(prompt.ids)])
            var generated: [Int] = []
            for _ in 0..<64 {
                let next = logits.withUnsafeMutableBufferPointer { Sampler.argmax($0) }
                generated.append(next)
                logits = Array(try context.next(next))
            }
            #expect(generated == prompt.greedy64, "\(prompt.text.debugDescription)")
        }
    }

    @Test("a prompt with a raw embedding vector in place of a token matches transformers' inputs_embeds")
    func insertedEmbedding() throws {
        let embeds = expected.embeds
        let inserted = try #require(tensors["embeds.inserted"]).values
        let context = LlamaContext(model: model, capacity: 256, threads: 2)
        let logits = try context.evaluate([
            .tokens(Array(embeds.ids[..<embeds.position])), .embedding(inserted), .tokens(Array(embeds.ids[(embeds.position + 1)...])),
        ])
        #expect(maxAbsoluteDifference(logits, try #require(tensors["embeds.logits"]).values) <= 1e-4)
        var generated: [Int] = []
        var current = Sampler.argmax(context.logits)
        for _ in 0..<32 {
            generated.append(current)
            current = Sampler.argmax(try context.next(current))
        }
        #expect(generated == embeds.greedy32)
    }

    @Test("the f16 .bin shards and the bf16 safetensors convert to the same f32 model")
    func binAndSafetensorsAgree() throws {
        let fromBin = try WeightFile(path: Reference.convert(["llama/hf-bin", "llama/tokenizer.model"], recipe: "llama", dtype: .f32, into: directory, name: "bin.panda"))
        let fromSafetensors = try WeightFile(path: Reference.convert(["llama/hf-safetensors", "llama/tokenizer.model"], recipe: "llama", dtype: .f32, into: directory, name: "st.panda"))
        #expect(fromBin.tensors.map(\.name).sorted() == fromSafetensors.tensors.map(\.name).sorted())
        #expect(fromBin.tensors.count == 1 + 2 * 9 + 2)
        for tensor in fromBin.tensors {
            #expect(try fromBin.floats(tensor.name) == fromSafetensors.floats(tensor.name), "\(tensor.name)")
        }
    }
}
