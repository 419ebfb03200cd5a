import Foundation
import PandaMedia

/// The one way a job gets an ImageBind embedding: source → content hash → cache → prepare → embed → cache.
/// Encode cells, retrieval galleries and `text()` in expressions all come through here, so one source embedded by
/// the same model is computed once and found again under the same key by every cell and every later run.
final class EmbeddingService {
    private let store: ResultStore
    private let modelFingerprint: String
    private let loadEmbedder: () throws -> Embedder
    private var texts: [String: Embedding] = [:]

    /// Embeddings found in the cache, and calls of the model, since this service was made.
    private(set) var cacheHits = 0
    private(set) var modelRuns = 0
    /// Wall time spent decoding and preprocessing media, and in ImageBind.
    private(set) var preparingSeconds = 0.0, encodingSeconds = 0.0

    /// One source to embed: a file or a literal text of a kind, and its content hash.
    struct Request {
        var kind: MediaKind
        var source: Item.Source
        var sourceHash: String
    }

    init(store: ResultStore, modelFingerprint: String, loadEmbedder: @escaping () throws -> Embedder) {
        self.store = store
        self.modelFingerprint = modelFingerprint
        self.loadEmbedder = loadEmbedder
    }

    /// The content hash of a source, the part of its cache key that is not the model's.
    static func sourceHash(_ source: Item.Source) throws -> String {
        switch source {
        case .file(let path):
            try MediaFile.check(path)  // missing, a folder, or a FIFO that would block the hashing's open forever
            return try Fingerprint.ofFile(path)
        case .literal(let text):
            return Fingerprint.of(["literal", text])
        }
    }

    private func key(_ request: Request) -> String {
        Fingerprint.of(["embedding", request.kind.rawValue, modelFingerprint, request.sourceHash])
    }

    /// An embedding for each request, in order: cached ones read back, the others prepared and embedded in batches.
    /// A source that cannot be prepared or embedded fails alone; an ImageBind model that cannot be loaded throws.
    func embed(_ requests: [Request]) throws -> [Result<Embedding, Error>] {
        var results = [Result<Embedding, Error>?](repeating: nil, count: requests.count)
        var misses: [(index: Int, input: PreparedInput, key: String)] = []
        for (index, request) in requests.enumerated() {
            let key = key(request)
            if let vector = store.cachedEmbedding(key) {
                results[index] = .success(Embedding(key: key, vector: vector))
                cacheHits += 1
                continue
            }
            let started = Date()
            do {
                misses.append((index, try prepare(request), key))
            } catch {
                results[index] = .failure(error)
            }
            preparingSeconds += Date().timeIntervalSince(started)
        }
        if !misses.isEmpty {
            let embedder = try loadEmbedder()
            let started = Date()
            defer { encodingSeconds += Date().timeIntervalSince(started) }
            let vectors: [Result<[Float], Error>]
            do {
                vectors = try embedder.embed(misses.map(\.input)).map { .success($0) }
            } catch {
                // Embed one at a time to find the input that fails.
                vectors = misses.map { miss in Result { try embedder.embed([miss.input])[0] } }
            }
            modelRuns += 1
            for (miss, vector) in zip(misses, vectors) {
                results[miss.index] = vector.flatMap { vector in
                    Result {
                        try store.storeEmbedding(miss.key, vector)
                        return Embedding(key: miss.key, vector: vector)
                    }
                }
            }
        }
        return results.map { $0! }
    }

    /// The embedding of a literal text (a `text("…")` in an expression, a classification label), kept for the run.
    func text(_ text: String) throws -> Embedding {
        if let known = texts[text] { return known }
        let source = Item.Source.literal(text)
        let embedding = try embed([Request(kind: .text, source: source, sourceHash: try Self.sourceHash(source))])[0].get()
        texts[text] = embedding
        return embedding
    }

    private func prepare(_ request: Request) throws -> PreparedInput {
        switch request.source {
        case .literal(let text): return .text(text)
        case .file(let path):
            let prepared = try MediaInput.prepare(request.kind, path: path)
            guard prepared.count == 1 else { throw JobRunError.oneItemExpected(path: path, count: prepared.count) }
            return prepared[0]
        }
    }
}
