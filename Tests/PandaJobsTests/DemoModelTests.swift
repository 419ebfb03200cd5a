import Foundation
import PandaJobs
import PandaModels
import PandaTestSupport
import Testing

/// The committed demo model (Weights/tiny-*.panda, trained by Converters/reference/train_tiny.py) on held-out
/// pictures and tones it never saw (Tests/Fixtures/demo): it must be right, and exactly as right as PyTorch.
@Suite("Demo model on held-out media", .serialized)
struct DemoModelTests {
    struct Item: Decodable {
        var files: [String]
        var labels: [String: String]
        var question: String
        var generated: [Int]
        var answer: String
        var zero_shot: String?
    }
    struct Expected: Decodable {
        var images: [Item]
        var audio: [Item]
        var pairs: [Item]
        var zero_shot_captions: [String: [String]]
    }

    static let root = repositoryRoot
    static let demo = root + "/Tests/Fixtures/demo/"
    static let expected = try! JSONDecoder().decode(Expected.self, from: Data(contentsOf: URL(fileURLWithPath: demo + "expected.json")))
    static let embedder = try! Embedder(path: root + "/Weights/tiny-imagebind.panda", threads: 2)
    static let pandaGPT = try! PandaGPT(decoderPath: root + "/Weights/tiny-vicuna.panda", adapterPath: root + "/Weights/tiny-pandagpt-delta.panda")

    private static func embed(_ items: [Item], kind: MediaKind) -> [[Float]] {
        try! embedder.embed(items.map { try MediaInput.prepare(kind, path: demo + $0.files[0])[0] })
    }
    // Embedded once for the suite's tests.
    static let imageEmbeddings = embed(expected.images, kind: .image)
    static let soundEmbeddings = embed(expected.audio, kind: .audio)

    private func embeddings(_ items: [Item], kind: MediaKind) throws -> [[Float]] {
        kind == .image ? Self.imageEmbeddings : Self.soundEmbeddings
    }

    private func zeroShotAccuracy(_ items: [Item], kind: MediaKind, captions: [String], truth: (Item) -> String) throws -> Double {
        let labels = EmbeddingSpace.zeroShot(try embeddings(items, kind: kind), labels: try Self.embedder.embed(texts: captions))
        var correct = 0
        for (item, probabilities) in zip(items, labels) {
            let best = captions[probabilities.indices.max { probabilities[$0] < probabilities[$1] }!]
            #expect(best == item.zero_shot, "\(item.files[0]): Panda says '\(best)', PyTorch '\(item.zero_shot ?? "")'")
            if best == truth(item) { correct += 1 }
        }
        return Double(correct) / Double(items.count)
    }

    @Test("ImageBind zero-shot: ≥ 95 % of 200 pictures and 36 tones right, and the same label as PyTorch for every one")
    func zeroShot() throws {
        let images = try zeroShotAccuracy(Self.expected.images, kind: .image, captions: Self.expected.zero_shot_captions["images"]!) { "a \($0.labels["colour"]!) \($0.labels["shape"]!)" }
        let sounds = try zeroShotAccuracy(Self.expected.audio, kind: .audio, captions: Self.expected.zero_shot_captions["audio"]!) { "a \($0.labels["pitch"]!) \($0.labels["rhythm"]!) tone" }
        #expect(images >= 0.95 && sounds >= 0.95, "images \(images), sounds \(sounds)")
    }

    /// Greedy answers, PandaGPT's stop rule; PyTorch's `generated` ends with the dropped "\n", "##" when it stopped.
    private func check(_ items: [Item], embeddings: [[[Float]]], names: (Item) -> [String]) throws -> Double {
        var correct = 0
        for (item, itemEmbeddings) in zip(items, embeddings) {
            let answer = try Self.pandaGPT.answer(embeddings: itemEmbeddings, question: item.question, options: PandaGPT.answerOptions(maxNewTokens: 24), threads: 2)
            #expect(answer.tokens + [13, 2277] == item.generated, "\(item.files): \(answer.text.debugDescription)")
            #expect(answer.text == item.answer)
            if names(item).allSatisfy(answer.text.lowercased().contains) { correct += 1 }
        }
        return Double(correct) / Double(items.count)
    }

    @Test("answers name the right shape and colour for ≥ 95 % of 200 held-out pictures, token for token as PyTorch")
    func captionsImages() throws {
        let items = Self.expected.images
        let accuracy = try check(items, embeddings: try embeddings(items, kind: .image).map { [$0] }) { [$0.labels["colour"]!, $0.labels["shape"]!] }
        #expect(accuracy >= 0.95, "\(accuracy)")
    }

    @Test("answers name the right pitch and rhythm for ≥ 95 % of 36 held-out tones, token for token as PyTorch")
    func captionsSounds() throws {
        let items = Self.expected.audio
        let accuracy = try check(items, embeddings: try embeddings(items, kind: .audio).map { [$0] }) { [$0.labels["pitch"]!, $0.labels["rhythm"]!] }
        #expect(accuracy >= 0.95, "\(accuracy)")
    }

    @Test("a picture and a sound summed into one feature token give an answer that names both")
    func pictureAndSound() throws {
        let items = Self.expected.pairs
        let embeddings = try items.map { item in
            try Self.embedder.embed([MediaInput.prepare(.image, path: Self.demo + item.files[0])[0], MediaInput.prepare(.audio, path: Self.demo + item.files[1])[0]])
        }
        let accuracy = try check(items, embeddings: embeddings) { [$0.labels["colour"]!, $0.labels["shape"]!, $0.labels["pitch"]!, $0.labels["rhythm"]!] }
        #expect(accuracy == 1)
    }
}
