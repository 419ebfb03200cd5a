import Crypto
import Foundation
import PandaConvert
import PandaFormat
import PandaRecipes
import PandaTestSupport
import Testing

@Suite("Converting checkpoints with recipes")
struct ConversionTests {
    /// A LLaMA checkpoint directory with a tokenizer beside it.
    private func llamaDirectory(_ directory: TemporaryDirectory, tensors: [(name: String, shape: [Int], values: [Float])] = llamaTensors(), dtype: DType = .f32) throws -> String {
        try writeSafetensors(directory.file("model.safetensors"), tensors, dtype: dtype)
        try sentencePieceModel(pieces: 90).write(to: URL(fileURLWithPath: directory.file("tokenizer.model")))
        try Data(#"{"num_attention_heads": 4, "hidden_size": 64}"#.utf8).write(to: URL(fileURLWithPath: directory.file("config.json")))
        return directory.path
    }

    private func convert(_ inputs: [String], recipe: String? = nil, options: ConversionOptions = .init(), to output: String) throws -> WeightFile {
        let gathered = try ConversionInputs.gather(inputs)
        let plan = try ConversionPlan(recipe: try recipe.map(Recipes.named) ?? Recipes.detect(gathered), inputs: gathered, options: options)
        _ = try Converter.run(plan, to: output)
        return try WeightFile(path: output)
    }

    @Test("a LLaMA converts with its recipe detected, every tensor equal to the checkpoint's, tokenizer embedded", arguments: [DType.f32, .f16, .bf16])
    func llamaKeepsSourceValues(dtype: DType) throws {
        let directory = TemporaryDirectory()
        let tensors = llamaTensors()
        let output = directory.file("out.panda")
        let file = try convert([try llamaDirectory(directory, dtype: dtype)], to: output)
        #expect(file.metadata.family == "llama")
        #expect(file.metadata.provenance.recipe == "llama")
        #expect(file.metadata.tokenizers["sentencepiece"]?.data == sentencePieceModel(pieces: 90))
        #expect(file.metadata.config["hidden_size"] == .int(64))
        #expect(file.metadata.config["num_hidden_layers"] == .int(2))
        #expect(file.metadata.config["num_attention_heads"] == .int(4))
        #expect(file.tensors.count == tensors.count)
        for tensor in tensors {
            let info = try file.info(tensor.name)
            let expectedDType: DType = tensor.shape.count == 1 ? .f32 : dtype  // norms are always stored in f32
            #expect(info.dtype == expectedDType, "\(tensor.name)")
            var rounded = [Float](repeating: 0, count: tensor.values.count)
            let encodedBytes = {
                var bytes = [UInt8](repeating: 0, count: dtype.byteCount(elements: tensor.values.count)!)
                tensor.values.withUnsafeBufferPointer { s in bytes.withUnsafeMutableBytes { dtype.encode(s.baseAddress!, count: tensor.values.count, into: $0) } }
                return bytes
            }()
            encodedBytes.withUnsafeBytes { dtype.decode($0, count: tensor.values.count, into: &rounded) }
            #expect(try file.floats(tensor.name) == rounded, "\(tensor.name)")
        }
        let source = try #require(file.metadata.provenance.sources.first { $0.name == "model.safetensors" })
        #expect(source.sha256.count == 64)
    }

    @Test("the provenance records every source file's size and SHA-256, hashed while the conversion reads it",
          arguments: [nil, DType.q4_0])
    func provenanceHashesEverySourceFile(dtype: DType?) throws {
        let directory = TemporaryDirectory()
        let checkpoint = try llamaDirectory(directory)
        let file = try convert([checkpoint], options: ConversionOptions(dtype: dtype), to: directory.file("out.panda"))
        let sources = file.metadata.provenance.sources
        #expect(Set(sources.map(\.name)) == ["model.safetensors", "tokenizer.model"])
        for source in sources {
            let data = try Data(contentsOf: URL(fileURLWithPath: checkpoint).appendingPathComponent(source.name))
            #expect(source.bytes == data.count, "\(source.name)")
            #expect(source.sha256 == SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined(), "\(source.name)")
        }
    }

    @Test("--dtype q4_0 quantizes linear weights (rows interleaved by 8, q4_0x8), stores the embedding as q8_0 and the head as q8_0x8, keeps norms in f32")
    func quantizedPolicy() throws {
        let directory = TemporaryDirectory()
        let file = try convert([try llamaDirectory(directory)], options: ConversionOptions(dtype: .q4_0), to: directory.file("q.panda"))
        #expect(try file.info("model.layers.0.self_attn.q_proj.weight").dtype == .q4_0x8)
        #expect(try file.info("model.layers.1.mlp.down_proj.weight").dtype == .q4_0x8)
        #expect(try file.info("model.embed_tokens.weight").dtype == .q8_0)
        #expect(try file.info("lm_head.weight").dtype == .q8_0x8)
        #expect(try file.info("model.norm.weight").dtype == .f32)
        let original = llamaTensors().first { $0.name == "model.layers.0.self_attn.q_proj.weight" }!.values
        let quantized = try file.floats("model.layers.0.self_attn.q_proj.weight")
        // Each block's error is within |d|(1 + 2^-8), d = max|x|/8 of the block (docs/format.md).
        for block in 0..<(original.count / 32) {
            let range = (block * 32)..<(block * 32 + 32)
            let bound = original[range].map(abs).max()! / 8 * 1.004
            #expect(range.allSatisfy { abs(original[$0] - quantized[$0]) <= bound })
        }
    }

    @Test("compressed output reads back the same tensors as raw output")
    func compressedMatchesRaw() throws {
        let directory = TemporaryDirectory()
        let input = try llamaDirectory(directory, dtype: .bf16)
        let raw = try convert([input], to: directory.file("raw.panda"))
        let packed = try convert([input], options: ConversionOptions(compress: true), to: directory.file("packed.panda"))
        #expect(try packed.info("lm_head.weight").storage == .zstd)
        #expect(try packed.info("lm_head.weight").shuffled)
        for tensor in raw.tensors { #expect(try packed.bytes(tensor.name).array == raw.bytes(tensor.name).array, "\(tensor.name)") }
    }

    @Test("a wrong checkpoint is diagnosed in one run: every missing and every unknown key is listed")
    func everyKeyProblemListed() throws {
        let directory = TemporaryDirectory()
        var tensors = llamaTensors().filter { $0.name != "model.layers.1.self_attn.k_proj.weight" && $0.name != "model.norm.weight" }
        tensors.append(("model.layers.0.self_attn.q_norm.weight", [64], pseudoRandom(64, seed: 9)))
        tensors.append(("vision_tower.weight", [4], pseudoRandom(4, seed: 10)))
        let input = try llamaDirectory(directory, tensors: tensors)
        let error = try #require(throws: ConvertError.self) { try convert([input], to: directory.file("x.panda")) }
        guard case .keyMismatch(let recipe, let unmapped, let missing) = error else { Issue.record("unexpected \(error)"); return }
        #expect(recipe == "llama")
        #expect(Set(missing) == ["model.layers.1.self_attn.k_proj.weight", "model.norm.weight"])
        #expect(Set(unmapped) == ["model.layers.0.self_attn.q_norm.weight", "vision_tower.weight"])
        #expect(!FileManager.default.fileExists(atPath: directory.file("x.panda")))
    }

    @Test("shapes are checked against config.json, and every disagreement is listed")
    func shapesCheckedAgainstConfig() throws {
        let directory = TemporaryDirectory()
        let input = try llamaDirectory(directory)
        try Data(#"{"hidden_size": 4096, "num_hidden_layers": 2, "intermediate_size": 128, "num_attention_heads": 8}"#.utf8)
            .write(to: URL(fileURLWithPath: directory.file("config.json")))
        let error = try #require(throws: ConvertError.self) { try convert([input], to: directory.file("x.panda")) }
        #expect(error.localizedDescription.contains("hidden_size: config.json says 4096 but the tensors say 64"))

        try Data(#"{"num_attention_heads": 8, "rms_norm_eps": 1e-05}"#.utf8).write(to: URL(fileURLWithPath: directory.file("config.json")))
        let file = try convert([input], to: directory.file("ok.panda"))
        #expect(file.metadata.config["num_attention_heads"] == .int(8))
        #expect(file.metadata.config["rms_norm_eps"] == .double(1e-5))
    }

    @Test("a LLaMA whose heads do not divide its width, or are an odd number of channels wide, is refused naming num_attention_heads", arguments: [
        (3, "num_attention_heads: hidden_size=64 does not split into num_attention_heads=3 equal parts; set num_attention_heads in config.json"),
        (64, "num_attention_heads: hidden_size=64 / num_attention_heads=64 = 1 channels per head, which rotary embeddings need even; set num_attention_heads in config.json"),
    ])
    func llamaHeadsChecked(heads: Int, expected: String) throws {
        let directory = TemporaryDirectory()
        let input = try llamaDirectory(directory)
        try Data(#"{"num_attention_heads": \#(heads)}"#.utf8).write(to: URL(fileURLWithPath: directory.file("config.json")))
        let error = try #require(throws: ConvertError.self) { try convert([input], to: directory.file("x.panda")) }
        #expect(error.localizedDescription.contains(expected), "\(error.localizedDescription)")
        #expect(!FileManager.default.fileExists(atPath: directory.file("x.panda")))
    }

    @Test("a tokenizer with more pieces than the embedding has rows, or one that is no SentencePiece model, is refused at conversion")
    func tokenizerMustFitTheVocabulary() throws {
        let directory = TemporaryDirectory()
        let input = try llamaDirectory(directory)
        try sentencePieceModel(pieces: 97).write(to: URL(fileURLWithPath: directory.file("tokenizer.model")))
        let tooMany = try #require(throws: ConvertError.self) { try convert([input], to: directory.file("x.panda")) }
        #expect(tooMany.localizedDescription.contains("vocab_size: the tokenizer \(directory.file("tokenizer.model")) has 97 pieces but the embedding has 96 rows"),
                "\(tooMany.localizedDescription)")
        try Data("sentencepiece model bytes".utf8).write(to: URL(fileURLWithPath: directory.file("tokenizer.model")))
        let garbage = try #require(throws: ConvertError.self) { try convert([input], to: directory.file("x.panda")) }
        #expect(garbage.localizedDescription.contains("not a SentencePiece model?"), "\(garbage.localizedDescription)")
        #expect(!FileManager.default.fileExists(atPath: directory.file("x.panda")))
        // Vicuna v0's embedding has one row more than its tokenizer has pieces (32001 against 32000): that converts.
        try sentencePieceModel(pieces: 95).write(to: URL(fileURLWithPath: directory.file("tokenizer.model")))
        _ = try convert([input], to: directory.file("x.panda"))
    }

    @Test("an ImageBind whose text width (8) does not split into imagebind_huge()'s 16 heads is refused at conversion, naming text_num_heads")
    func imagebindHeadsChecked() throws {
        let directory = TemporaryDirectory()
        let inputs = ["imagebind/imagebind_tiny.pth", "imagebind/bpe_simple_vocab_16e6.txt.gz"].map { fixture("reference/" + $0) }
        let error = try #require(throws: ConvertError.self) { try convert(inputs, recipe: "imagebind-huge", to: directory.file("x.panda")) }
        #expect(error.localizedDescription.contains(
            "text_num_heads: text_embed_dim=8 does not split into text_num_heads=16 equal parts; set text_num_heads in config.json"),
            "\(error.localizedDescription)")
        #expect(!error.localizedDescription.contains("vision_num_heads"))
    }

    @Test("a tensor whose shape disagrees with the others is named with the expected shape")
    func inconsistentShape() throws {
        let directory = TemporaryDirectory()
        var tensors = llamaTensors()
        let index = tensors.firstIndex { $0.name == "model.layers.1.mlp.up_proj.weight" }!
        tensors[index] = (tensors[index].name, [100, 64], pseudoRandom(6400, seed: 1))
        let error = try #require(throws: ConvertError.self) { try convert([try llamaDirectory(directory, tensors: tensors)], to: directory.file("x.panda")) }
        #expect(error.localizedDescription.contains("model.layers.1.mlp.up_proj.weight: shape [100, 64], expected [intermediate_size=128, hidden_size=64]"))
    }

    @Test("a PandaGPT delta converts with or without peft's .default. names, LoRA under the decoder's keys, alpha 32 by default", arguments: [true, false])
    func deltaConversion(adapterName: Bool) throws {
        let directory = TemporaryDirectory()
        try writeSafetensors(directory.file("delta.safetensors"), deltaTensors(adapterName: adapterName))
        let file = try convert([directory.file("delta.safetensors")], to: directory.file("delta.panda"))
        #expect(file.metadata.family == "pandagpt-delta")
        #expect(file.metadata.config["lora_r"] == .int(8))
        #expect(file.metadata.config["lora_alpha"] == .int(32))
        #expect(file.metadata.config["imagebind_dim"] == .int(32))
        #expect(file.contains("llama_proj.bias"))
        #expect(try file.info("model.layers.1.self_attn.o_proj.lora_B.weight").shape == [64, 8])
        #expect(try file.info("model.layers.0.self_attn.q_proj.lora_A.weight").dtype == .f32)
    }

    @Test("--lora-alpha fills alpha, and a --lora-r that disagrees with the shapes is refused")
    func loraSettings() throws {
        let directory = TemporaryDirectory()
        try writeSafetensors(directory.file("delta.safetensors"), deltaTensors())
        let file = try convert([directory.file("delta.safetensors")], options: ConversionOptions(settings: ["lora_alpha": .int(16), "lora_r": .int(8)]), to: directory.file("a.panda"))
        #expect(file.metadata.config["lora_alpha"] == .int(16))
        let error = try #require(throws: ConvertError.self) {
            try convert([directory.file("delta.safetensors")], options: ConversionOptions(settings: ["lora_r": .int(32)]), to: directory.file("b.panda"))
        }
        #expect(error.localizedDescription.contains("lora_r: the command line says 32 but the tensors say 8"))
    }

    @Test("an unrecognizable checkpoint asks for --recipe, an unknown recipe lists the known ones")
    func recipeSelection() throws {
        let gathered = try ConversionInputs.gather([fixture("checkpoints/state.safetensors")])
        #expect(throws: ConvertError.self) { try Recipes.detect(gathered) }
        let error = try #require(throws: ConvertError.self) { try Recipes.named("gpt2") }
        #expect(error.localizedDescription.contains("known recipes: imagebind-huge, llama, pandagpt-delta"))
    }

    @Test("--merge-lora folds W + (alpha/r)·B·A into q/k/v/o and carries llama_proj along")
    func mergeLoRA() throws {
        let directory = TemporaryDirectory()
        let decoder = try llamaDirectory(directory)
        let deltaDirectory = TemporaryDirectory()
        let deltaPath = deltaDirectory.file("delta.safetensors")
        let delta = deltaTensors(adapterName: true)
        try writeSafetensors(deltaPath, delta)
        let gathered = try ConversionInputs.gather([decoder])
        var plan = try ConversionPlan(recipe: Recipes.llama, inputs: gathered)
        try plan.mergeLoRA(from: ConversionPlan(recipe: Recipes.pandagptDelta, inputs: ConversionInputs.gather([deltaPath]), options: .init(settings: ["lora_alpha": .int(32)])))
        _ = try Converter.run(plan, to: directory.file("merged.panda"))
        let file = try WeightFile(path: directory.file("merged.panda"))
        #expect(file.metadata.config["pandagpt"]?["lora_r"] == .int(8))
        #expect(file.metadata.config["pandagpt"]?["lora_merged"] == .bool(true))
        #expect(try file.floats("llama_proj.bias") == delta.first { $0.name == "llama_proj.bias" }!.values)
        #expect(!file.tensors.contains { $0.name.contains("lora") })

        let weights = Dictionary(uniqueKeysWithValues: llamaTensors().map { ($0.name, $0.values) })
        let factors = Dictionary(uniqueKeysWithValues: delta.map { ($0.name, $0.values) })
        for layer in 0..<2 {
            for projection in ["q_proj", "k_proj", "v_proj", "o_proj"] {
                let name = "model.layers.\(layer).self_attn.\(projection).weight"
                let prefix = "llama_model.base_model.model.model.layers.\(layer).self_attn.\(projection)"
                let a = factors[prefix + ".lora_A.default.weight"]!  // [8, 64]
                let b = factors[prefix + ".lora_B.default.weight"]!  // [64, 8]
                var expected = weights[name]!
                for row in 0..<64 {
                    for column in 0..<64 {
                        var sum: Float = 0
                        for k in 0..<8 { sum += b[row * 8 + k] * a[k * 64 + column] }
                        expected[row * 64 + column] += 4 * sum  // alpha / r = 32 / 8
                    }
                }
                let merged = try file.floats(name)
                #expect(zip(merged, expected).allSatisfy { abs($0 - $1) <= 1e-6 }, "\(name)")
                #expect(merged != weights[name]!)
            }
        }
        #expect(try file.floats("model.layers.0.mlp.up_proj.weight") == weights["model.layers.0.mlp.up_proj.weight"]!)
    }
}
