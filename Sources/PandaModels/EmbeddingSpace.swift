import Foundation
import PandaKernels

/// Operations on ImageBind embeddings, as ImageBind's README uses them: similarity matrices, zero-shot
/// classification (softmax over `items @ labelsᵀ`) and nearest-neighbour retrieval.
public enum EmbeddingSpace {
    /// `a @ bᵀ`: [a.count][b.count] dot products.
    public static func dotProducts(_ a: [[Float]], _ b: [[Float]]) -> [[Float]] {
        guard let width = a.first?.count, !b.isEmpty else { return a.map { _ in [] } }
        precondition(a.allSatisfy { $0.count == width } && b.allSatisfy { $0.count == width }, "embeddings of different widths")
        let left = a.flatMap { $0 }
        let right = b.flatMap { $0 }
        var product = [Float](repeating: 0, count: a.count * b.count)
        BLAS.sgemm(m: a.count, n: b.count, k: width, a: left, b: right, transposeB: true, c: &product)
        return (0..<a.count).map { Array(product[($0 * b.count)..<(($0 + 1) * b.count)]) }
    }

    /// Cosine similarity of every pair, [a.count][b.count] (`torch.nn.functional.cosine_similarity`, eps 1e-8).
    public static func cosineSimilarity(_ a: [[Float]], _ b: [[Float]]) -> [[Float]] {
        dotProducts(a.map(normalized), b.map(normalized))
    }

    /// Zero-shot classification: for each item, softmax over its dot products with the label embeddings (ImageBind's
    /// embeddings carry their logit scale, so the raw products are the logits).
    public static func zeroShot(_ items: [[Float]], labels: [[Float]]) -> [[Float]] {
        dotProducts(items, labels).map(softmax)
    }

    /// The `k` candidates most similar to `query` by cosine similarity, best first (ties: lower index first).
    public static func nearest(_ query: [Float], in candidates: [[Float]], k: Int) -> [(index: Int, score: Float)] {
        guard !candidates.isEmpty, k > 0 else { return [] }
        let scores = cosineSimilarity([query], candidates)[0]
        return scores.indices.sorted { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : $0 < $1 }
            .prefix(k).map { ($0, scores[$0]) }
    }

    /// The vector scaled to unit length; a vector shorter than 1e-8 is divided by 1e-8, as torch does.
    public static func normalized(_ vector: [Float]) -> [Float] {
        let norm = max(vector.reduce(0) { $0 + $1 * $1 }.squareRoot(), 1e-8)
        return vector.map { $0 / norm }
    }

    static func softmax(_ logits: [Float]) -> [Float] {
        guard let top = logits.max() else { return [] }
        let exponentials = logits.map { expf($0 - top) }
        let sum = exponentials.reduce(0, +)
        return exponentials.map { $0 / sum }
    }
}

extension ImageBind {
    /// Embeddings of texts, tokenized with the CLIP vocabulary embedded in this model's file.
    public func embed(texts: [String], tokenizer: CLIPTokenizer) throws -> [[Float]] {
        try embed(.text(texts.map(tokenizer.tokenize)))
    }
}
