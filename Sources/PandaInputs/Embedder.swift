import Foundation
import PandaModels

/// ImageBind with its CLIP vocabulary: embeds prepared inputs in batches of equal shape, keeping their order.
public final class Embedder: @unchecked Sendable {
    // @unchecked: immutable after init; ImageBind's evaluation state is per call.
    public let model: ImageBind
    public let tokenizer: CLIPTokenizer
    public let batchSize: Int

    public init(model: ImageBind, batchSize: Int = 8) throws {
        self.model = model
        tokenizer = try CLIPTokenizer(weights: model.weights)
        self.batchSize = max(1, batchSize)
    }

    public convenience init(path: String, threads: Int = ProcessInfo.processInfo.activeProcessorCount, batchSize: Int = 8) throws {
        let weights = try ModelWeights(path: path)
        guard weights.metadata.family == "imagebind" else {
            throw ModelError.badConfig(path: path, reason: "is a \(weights.metadata.family) model; an ImageBind model (panda-convert --recipe imagebind-huge) is needed")
        }
        try self.init(model: ImageBind(weights: weights, threads: threads), batchSize: batchSize)
    }

    /// One embedding per input, in order: what `ImageBindModel.forward` returns for it (normalized, logit-scaled,
    /// averaged over clips).
    public func embed(_ inputs: [PreparedInput]) throws -> [[Float]] {
        var result = [[Float]?](repeating: nil, count: inputs.count)
        // Group by what can share a batch: the kind and the exact shape.
        struct BatchKey: Hashable { var kind: MediaKind; var shape: [Int] }
        var groups: [BatchKey: [Int]] = [:]
        var order: [BatchKey] = []
        for (index, input) in inputs.enumerated() {
            let key = switch input {
            case .tensor(let kind, let tensor): BatchKey(kind: kind, shape: tensor.shape)
            case .text: BatchKey(kind: .text, shape: [])
            }
            if groups[key] == nil { order.append(key) }
            groups[key, default: []].append(index)
        }
        for key in order {
            let indices = groups[key]!
            for start in stride(from: 0, to: indices.count, by: batchSize) {
                let batch = Array(indices[start..<min(start + batchSize, indices.count)])
                let embeddings = try model.embed(modelInput(batch.map { inputs[$0] }))
                for embedding in embeddings where !embedding.allSatisfy(\.isFinite) {
                    throw ModelError.nonFinite(path: model.weights.path, output: "\(inputs[batch[0]].kind.rawValue) embedding")
                }
                for (index, embedding) in zip(batch, embeddings) { result[index] = embedding }
            }
        }
        return result.map { $0! }
    }

    /// Embeddings of literal texts.
    public func embed(texts: [String]) throws -> [[Float]] { try embed(texts.map { .text($0) }) }

    private func modelInput(_ batch: [PreparedInput]) -> ModalityInput {
        if case .text = batch[0] {
            return .text(batch.map { input in
                guard case .text(let text) = input else { preconditionFailure("mixed batch") }
                return tokenizer.tokenize(text)
            })
        }
        guard case .tensor(let kind, let first) = batch[0] else { preconditionFailure("mixed batch") }
        var values: [Float] = []
        values.reserveCapacity(first.values.count * batch.count)
        for input in batch {
            guard case .tensor(_, let tensor) = input else { preconditionFailure("mixed batch") }
            values += tensor.values
        }
        let stacked = FloatTensor(shape: [batch.count] + first.shape, values: values)
        switch kind.modality {
        case .vision: return .vision(stacked)
        case .audio: return .audio(stacked)
        case .depth: return .depth(stacked)
        case .thermal: return .thermal(stacked)
        case .imu: return .imu(stacked)
        case .text: preconditionFailure("text is tokenized above")
        }
    }
}
