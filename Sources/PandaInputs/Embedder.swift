import Foundation
import PandaFormat
import PandaKernels
import PandaModels

/// ImageBind with its CLIP vocabulary: embeds prepared inputs one forward pass each, so that an input's embedding
/// is the same bits whatever it is embedded with. In a batch, the GEMMs' row count changes with the batch, and
/// OpenBLAS's AVX-512 kernels round a row differently at another row count (in the last bits), which made a job
/// resumed after a crash — whose suspects run alone — or a sharded one differ from the same job run straight
/// through. Batching gained little on ImageBind huge (docs/benchmarks.md, "Figures behind choices in the code").
public final class Embedder: @unchecked Sendable {
    // @unchecked: immutable after init; ImageBind's evaluation state is per call.
    public let model: ImageBind
    public let tokenizer: CLIPTokenizer

    public init(model: ImageBind) throws {
        self.model = model
        tokenizer = try CLIPTokenizer(weights: model.weights)
    }

    public convenience init(path: String, threads: Int = ProcessInfo.processInfo.activeProcessorCount, precision: EncoderPrecision = .f32) throws {
        let weights = try ModelWeights(path: path)
        guard weights.metadata.family == "imagebind" else {
            throw ModelError.badConfig(path: path, reason: "is a \(weights.metadata.family) model; an ImageBind model (panda-convert --recipe imagebind-huge) is needed")
        }
        try self.init(model: ImageBind(weights: weights, threads: threads, precision: precision))
    }

    /// One embedding per input, in order: what `ImageBindModel.forward` returns for it (normalized, logit-scaled,
    /// averaged over clips).
    public func embed(_ inputs: [PreparedInput]) throws -> [[Float]] {
        try inputs.map { input in
            let embedding = try model.embed(modelInput(input))[0]
            guard embedding.allSatisfy(\.isFinite) else { throw ModelError.nonFinite(path: model.weights.path, output: "\(input.kind.rawValue) embedding") }
            return embedding
        }
    }

    /// Embeddings of literal texts.
    public func embed(texts: [String]) throws -> [[Float]] { try embed(texts.map { .text($0) }) }

    private func modelInput(_ input: PreparedInput) -> ModalityInput {
        switch input {
        case .text(let text): return .text([tokenizer.tokenize(text)])
        case .tensor(let kind, let tensor):
            let one = FloatTensor(shape: [1] + tensor.shape, values: tensor.values)
            switch kind.modality {
            case .vision: return .vision(one)
            case .audio: return .audio(one)
            case .depth: return .depth(one)
            case .thermal: return .thermal(one)
            case .imu: return .imu(one)
            case .text: preconditionFailure("text comes as .text")
            }
        }
    }
}
