import Foundation
import PandaFormat
import PandaModels
import PandaTestSupport
import Testing

/// PandaGPT's LoRA (r 8, alpha 32 on q/k/v/o at tiny size) against peft, applied at run time from the converted
/// delta and merged into the weights by the converter; and PandaGPT's prompt assembly against openllama.py's.
@Suite("LoRA and PandaGPT prompts, parity with peft")
struct LoRAParityTests {
    struct Prompt: Decodable { var text: String; var ids: [Int]; var greedy32: [Int] }
    struct LoRAExpected: Decodable { var prompts: [Prompt] }
    struct Case: Decodable { var modalities: String; var prompt: String; var ids_before: [Int]; var ids_after: [Int]; var greedy48: [Int] }
    struct PandaGPTExpected: Decodable { var cases: [Case] }

    let directory = TemporaryDirectory()
    let expected: LoRAExpected
    let tensors: [String: FloatTensorValue]
    let basePath: String
    let adapterPath: String

    init() throws {
        expected = try Reference.json("lora/expected.json", as: LoRAExpected.self)
        tensors = try Reference.tensors("lora/expected.safetensors")
        basePath = try Reference.convert(["llama/hf-bin", "llama/tokenizer.model"], recipe: "llama", dtype: .f32, into: directory, name: "base.panda")
        adapterPath = try Reference.convert(["pandagpt/pytorch_model.pt"], recipe: "pandagpt-delta", settings: ["lora_alpha": .int(32)], into: directory, name: "delta.panda")
    }

    private func greedy(_ context: LlamaContext, _ count: Int) throws -> [Int] {
        var generated: [Int] = []
        var current = Sampler.argmax(context.logits)
        for _ in 0..<count {
            generated.append(current)
            current = Sampler.argmax(try context.next(current))
        }
        return generated
    }

    @Test("LoRA applied at run time from the delta matches peft: logits within 1e-4, greedy 32 tokens identical")
    func runtimeLoRA() throws {
        let model = try Llama(path: basePath, adapterPath: adapterPath)
        for (index, prompt) in expected.prompts.enumerated() {
            let context = LlamaContext(model: model, capacity: 128, threads: 2)
            let logits = try context.evaluate([.tokens(prompt.ids)])
            #expect(maxAbsoluteDifference(logits, try #require(tensors["prompt\(index).logits"]).values) <= 1e-4)
            #expect(try greedy(context, 32) == prompt.greedy32)
        }
    }

    @Test("LoRA merged by panda-convert --merge-lora gives the same logits as peft's merge_and_unload and the same tokens")
    func mergedLoRA() throws {
        let merged = try Reference.convert(
            ["llama/hf-safetensors", "llama/tokenizer.model"], recipe: "llama", dtype: .f32, mergeLoRA: ["pandagpt/pytorch_model.pt"],
            settings: ["lora_alpha": .int(32)], into: directory, name: "merged.panda")
        let model = try Llama(path: merged)
        for (index, prompt) in expected.prompts.enumerated() {
            let context = LlamaContext(model: model, capacity: 128, threads: 2)
            let logits = try context.evaluate([.tokens(prompt.ids)])
            #expect(maxAbsoluteDifference(logits, try #require(tensors["prompt\(index).merged_logits"]).values) <= 1e-4)
            #expect(try greedy(context, 32) == prompt.greedy32)
        }
    }

    @Test("PandaGPT's feature token (Σ llama_proj of each modality), prompt pieces and greedy answer match openllama.py's code path")
    func pandaGPTPrompt() throws {
        let expected = try Reference.json("pandagpt/expected.json", as: PandaGPTExpected.self)
        let tensors = try Reference.tensors("pandagpt/expected.safetensors")
        let pandaGPT = try PandaGPT(decoderPath: basePath, adapterPath: adapterPath)
        let vision = try #require(tensors["imagebind.vision"]).values
        let audio = try #require(tensors["imagebind.audio"]).values
        for (index, promptCase) in expected.cases.enumerated() {
            let embeddings = promptCase.modalities == "image" ? [vision] : [vision, audio]
            let feature = try pandaGPT.feature(embeddings)
            #expect(maxAbsoluteDifference(feature, try #require(tensors["case\(index).feature"]).values) <= 1e-5, "\(promptCase.modalities)")
            // BOS + "### Human: <Img>", the feature, then "</Img> " + question + "\n### Assistant:", tokenized apart.
            #expect(pandaGPT.prompt(feature: feature, question: promptCase.prompt)
                    == [.tokens(promptCase.ids_before), .embedding(feature), .tokens(promptCase.ids_after)])
            let context = LlamaContext(model: pandaGPT.decoder, capacity: 128, threads: 2)
            let logits = try context.evaluate(pandaGPT.prompt(feature: feature, question: promptCase.prompt))
            #expect(maxAbsoluteDifference(logits, try #require(tensors["case\(index).logits"]).values) <= 1e-4, "\(promptCase.modalities)")
            let answer = try pandaGPT.answer(
                embeddings: embeddings, question: promptCase.prompt, options: GenerationOptions(maxNewTokens: 48, stopAtEOS: false), threads: 2)
            #expect(answer.tokens == promptCase.greedy48, "\(promptCase.modalities)")
        }
    }

    @Test("later turns follow web_demo.py's history format, with the feature token only in the first")
    func pandaGPTHistory() {
        let history = [PandaGPT.Turn(question: "What is it?", answer: "A panda."), PandaGPT.Turn(question: "Where?", answer: "In a forest.")]
        #expect(PandaGPT.conversationText(question: "Describe it.", history: [])
                == "</Img> Describe it.\n### Assistant:")
        #expect(PandaGPT.conversationText(question: "Is it eating?", history: history)
                == "</Img> What is it?\n### Assistant: A panda.\n### Human: Where?\n### Assistant: In a forest.\n### Human: Is it eating?\n### Assistant:")
    }
}
