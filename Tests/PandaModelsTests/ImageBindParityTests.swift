import Foundation
import PandaFormat
import PandaModels
import PandaTestSupport
import Testing

/// Every modality encoder against ImageBind's own modules on the tiny reference model
/// (Converters/reference/imagebind_cases.py): cosine ≥ 0.99999 and max |Δ| ≤ 1e-4 per item, batched.
@Suite("ImageBind parity with PyTorch")
struct ImageBindParityTests {
    let directory = TemporaryDirectory()
    let model: ImageBind
    let inputs: [String: FloatTensorValue]
    let outputs: [String: FloatTensorValue]

    init() throws {
        let path = try Reference.convert(
            ["imagebind/imagebind_tiny.pth", "imagebind/config.json", "imagebind/bpe_simple_vocab_16e6.txt.gz"], recipe: "imagebind-huge", into: directory)
        model = try ImageBind(path: path, threads: 2)
        inputs = try Reference.tensors("imagebind/inputs.safetensors")
        outputs = try Reference.tensors("imagebind/outputs.safetensors")
    }

    private func check(_ embeddings: [[Float]], against name: String) throws {
        let reference = try #require(outputs[name])
        #expect(embeddings.count == reference.shape[0])
        for (index, embedding) in embeddings.enumerated() {
            let expected = reference.row(index)
            #expect(cosineSimilarity(embedding, expected) >= 0.99999, "\(name) item \(index)")
            #expect(maxAbsoluteDifference(embedding, expected) <= 1e-4, "\(name) item \(index)")
        }
    }

    private func tensor(_ name: String) throws -> FloatTensor {
        let value = try #require(inputs[name])
        return FloatTensor(shape: value.shape, values: value.values)
    }

    /// The inputs the generator derives from the stored images (see its README): depth and thermal maps are
    /// channels 0 and 1; the video is two clips of two frames, (image 0, image 1) and (image 1, image 0).
    private func channel(_ index: Int, of images: FloatTensor) -> FloatTensor {
        let plane = 224 * 224
        var values: [Float] = []
        for item in 0..<images.shape[0] { values += images.values[((item * 3 + index) * plane)..<((item * 3 + index + 1) * plane)] }
        return FloatTensor(shape: [images.shape[0], 1, 224, 224], values: values)
    }

    @Test("images (a batch of two) embed as ImageBind's vision encoder does, the single frame repeated to two")
    func vision() throws { try check(model.embed(.vision(tensor("vision"))), against: "vision") }

    @Test("a video of two clips embeds as the mean of its clips' embeddings")
    func video() throws {
        let images = try tensor("vision")
        let plane = 224 * 224
        func image(_ index: Int, channel: Int) -> ArraySlice<Float> { images.values[((index * 3 + channel) * plane)..<((index * 3 + channel + 1) * plane)] }
        var values: [Float] = []
        for (first, second) in [(0, 1), (1, 0)] {  // [clip][channel][frame][224][224]
            for channel in 0..<3 { values += image(first, channel: channel); values += image(second, channel: channel) }
        }
        try check(model.embed(.vision(FloatTensor(shape: [1, 2, 3, 2, 224, 224], values: values))), against: "video")
    }

    @Test("text token ids embed through the causal text encoder, selecting the end-of-text position")
    func text() throws {
        let ids = try #require(inputs["text"])
        let rows = (0..<ids.shape[0]).map { ids.row($0).map { Int($0) } }
        try check(model.embed(.text(rows)), against: "text")
    }

    @Test("audio of three clips per item embeds as the mean over clips, with the learned extra key and value")
    func audio() throws { try check(model.embed(.audio(tensor("audio"))), against: "audio") }

    @Test("depth, thermal and IMU embed with their stems, LayerNorms and fixed logit scales")
    func depthThermalIMU() throws {
        let images = try tensor("vision")
        try check(model.embed(.depth(channel(0, of: images))), against: "depth")
        try check(model.embed(.thermal(channel(1, of: images))), against: "thermal")
        try check(model.embed(.imu(tensor("imu"))), against: "imu")
    }

    @Test("texts tokenized with the embedded CLIP vocabulary embed exactly as ImageBind's load_and_transform_text inputs")
    func textFromStrings() throws {
        let texts = ["a photo of a panda eating bamboo", "A dog barks at the mailman!", "thermal image of a person at night"]
        let tokenizer = try CLIPTokenizer(weights: model.weights)
        let ids = try #require(inputs["text"])
        #expect(texts.map(tokenizer.tokenize) == (0..<ids.shape[0]).map { ids.row($0).map { Int($0) } })
        try check(model.embed(texts: texts, tokenizer: tokenizer), against: "text")
    }

    @Test("zero-shot probabilities and cosine similarities equal torch.softmax(x @ text.T) and F.cosine_similarity")
    func embeddingSpace() throws {
        func rows(_ name: String) throws -> [[Float]] {
            let value = try #require(outputs[name])
            return (0..<value.shape[0]).map { value.row($0) }
        }
        let (vision, audio, text) = try (rows("vision"), rows("audio"), rows("text"))
        for (computed, name) in [(EmbeddingSpace.zeroShot(vision, labels: text), "zero_shot.vision_text"),
                                 (EmbeddingSpace.zeroShot(audio, labels: text), "zero_shot.audio_text"),
                                 (EmbeddingSpace.cosineSimilarity(vision, audio), "cosine.vision_audio")] {
            let expected = try rows(name)
            #expect(computed.count == expected.count)
            for (row, reference) in zip(computed, expected) { #expect(maxAbsoluteDifference(row, reference) <= 1e-5, "\(name)") }
        }
        let cosine = try rows("cosine.vision_audio")
        let best = EmbeddingSpace.nearest(vision[0], in: audio, k: 2)
        #expect(best.map(\.index) == (cosine[0][0] >= cosine[0][1] ? [0, 1] : [1, 0]))
        #expect(abs(best[0].score - max(cosine[0][0], cosine[0][1])) <= 1e-5)
    }

    @Test("an input of the wrong shape is refused with the expected shape named")
    func wrongShape() throws {
        #expect(throws: ModelError.self) { try model.embed(.imu(FloatTensor(shape: [1, 6, 1500], values: [Float](repeating: 0, count: 9000)))) }
        #expect(throws: ModelError.self) { try model.embed(.text([[1, 2, 3]])) }
    }
}
