import Foundation
import PandaFormat

/// What `validate` can tell of a job's models from their headers alone, without loading a weight: that each file
/// holds the kind of model its slot needs, and that the three fit together (ImageBind's output width is what
/// `llama_proj` takes; `llama_proj` gives the decoder's hidden size; the adapter is made for that decoder).
enum ModelCheck {
    private struct Widths: Decodable {
        var outEmbedDim: Int?
        var hiddenSize: Int?
        enum CodingKeys: String, CodingKey { case outEmbedDim = "out_embed_dim", hiddenSize = "hidden_size" }
    }

    static func problems(imagebind: String?, decoder: String?, adapter: String?, in job: JobFile) -> [JobError] {
        var problems: [JobError] = []
        func problem(_ located: Located<String>?, _ message: String) {
            problems.append(JobError(file: job.path, line: located?.line ?? 1, column: located?.column ?? 1, message: message))
        }
        /// The file, if it opens and holds a model of `family`.
        func open(_ path: String?, _ located: Located<String>?, role: String, family: String) -> WeightFile? {
            guard let path else { return nil }
            do {
                let file = try WeightFile(path: path)
                guard file.metadata.family == family else {
                    problem(located, "models.\(role): '\(located?.value ?? path)' holds a '\(file.metadata.family)' model; this slot needs '\(family)'")
                    return nil
                }
                return file
            } catch {
                problem(located, "models.\(role): " + (error.errorDescription ?? "\(error)"))
                return nil
            }
        }
        let imagebindFile = open(imagebind, job.models.imagebind, role: "imagebind", family: "imagebind")
        let decoderFile = open(decoder, job.models.decoder, role: "decoder", family: "llama")
        let adapterFile = open(adapter, job.models.adapter, role: "adapter", family: "pandagpt-delta")

        let widths = { (file: WeightFile?) in file.flatMap { try? $0.metadata.decodeConfig(Widths.self) } }
        let hidden = widths(decoderFile)?.hiddenSize
        if let adapterHidden = widths(adapterFile)?.hiddenSize, let hidden, adapterHidden != hidden {
            problem(job.models.adapter, "models.adapter: made for a decoder of hidden_size \(adapterHidden); the decoder's is \(hidden)")
        }
        // llama_proj lives in the adapter, or in a decoder converted with --merge-lora.
        let (projectionFile, projectionSlot) = adapterFile.map { ($0, job.models.adapter) } ?? (decoderFile, job.models.decoder)
        guard let projection = try? projectionFile?.info("llama_proj.weight"), projection.shape.count == 2 else { return problems }
        if let out = widths(imagebindFile)?.outEmbedDim, out != projection.shape[1] {
            problem(projectionSlot, "llama_proj takes \(projection.shape[1])-wide embeddings, but the ImageBind model gives \(out)")
        }
        if let hidden, hidden != projection.shape[0] {
            problem(projectionSlot, "llama_proj gives \(projection.shape[0]) values, but the decoder's hidden_size is \(hidden)")
        }
        return problems
    }
}
