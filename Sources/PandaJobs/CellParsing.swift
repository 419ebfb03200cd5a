import Foundation
import PandaModels
import Yams

// Each cell kind reads its own body from the job file, as argument-parser gives each command a type of its own.

extension CellSpec.Encode {
    init(_ value: Node, reader: NodeReader) throws {
        self.init(kind: try reader.kind(value, what: "encode"))
    }
}

extension EmbeddingExpression {
    static func parse(_ value: Node, reader: NodeReader) throws -> EmbeddingExpression {
        let text = try reader.string(value, what: "combine")
        let (line, column) = NodeReader.position(value)
        do {
            return try EmbeddingExpression.parse(text)
        } catch {
            // The column of the offending character, when the expression is written unquoted on one line.
            throw JobError(file: reader.file, line: line, column: column + error.offset, message: "combine: \(error.message)")
        }
    }
}

extension CellSpec.Generate {
    init(_ value: Node, reader: NodeReader) throws {
        let settings = try reader.mapping(value, allowed: ["embedding", "prompt", "turns", "max_tokens", "temperature", "top_p", "top_k", "seed", "batch"], what: "generate")
        guard let embeddingNode = settings["embedding"] else { throw reader.error(at: value, "generate needs 'embedding': the cell(s) whose embeddings become PandaGPT's feature token") }
        let embeddings = try reader.stringOrList(embeddingNode, what: "embedding")
        var prompts: [String] = []
        if let prompt = settings["prompt"] { prompts.append(try reader.string(prompt, what: "prompt")) }
        if let turns = settings["turns"] { prompts += try reader.strings(turns, what: "turns") }
        guard !prompts.isEmpty else { throw reader.error(at: value, "generate needs a 'prompt' (or 'turns': a list of questions asked in order)") }
        let maxTokens = try settings["max_tokens"].map { try reader.int($0, what: "max_tokens", range: 1...4096) } ?? GenerationOptions.defaultMaxNewTokens
        let temperature = try settings["temperature"].map { try reader.number($0, what: "temperature", range: 0...100) } ?? 0
        let topP = try settings["top_p"].map { try reader.number($0, what: "top_p", range: 0.000001...1) } ?? 1
        let topK = try settings["top_k"].map { try reader.int($0, what: "top_k", range: 0...1_000_000) } ?? 0
        let seed = try settings["seed"].map { try reader.int($0, what: "seed", range: 0...Int.max) } ?? 0
        let batch = try settings["batch"].map { try reader.int($0, what: "batch", range: 1...256) }
        self.init(
            embeddings: embeddings, prompts: prompts, maxTokens: maxTokens, temperature: Float(temperature), topP: Float(topP), topK: topK,
            seed: UInt64(seed), batch: batch)
    }
}

extension CellSpec.Classify {
    init(_ value: Node, reader: NodeReader) throws {
        let settings = try reader.mapping(value, allowed: ["embedding", "labels", "top"], what: "classify")
        guard let embedding = settings["embedding"], let labels = settings["labels"] else { throw reader.error(at: value, "classify needs 'embedding' and 'labels'") }
        let list = try reader.strings(labels, what: "labels")
        guard !list.isEmpty else { throw reader.error(at: labels, "classify needs at least one label") }
        self.init(
            embedding: try reader.string(embedding, what: "embedding"), labels: list,
            top: try settings["top"].map { try reader.int($0, what: "top", range: 1...list.count) } ?? 1)
    }
}

extension CellSpec.Retrieve {
    init(_ value: Node, reader: NodeReader) throws {
        let settings = try reader.mapping(value, allowed: ["embedding", "from", "kind", "top"], what: "retrieve")
        guard let embedding = settings["embedding"], let from = settings["from"], let kind = settings["kind"] else {
            throw reader.error(at: value, "retrieve needs 'embedding' (a cell), 'from' (an input) and 'kind' (what to embed from it)")
        }
        self.init(
            embedding: try reader.string(embedding, what: "embedding"), from: try reader.string(from, what: "from"), kind: try reader.kind(kind, what: "kind"),
            top: try settings["top"].map { try reader.int($0, what: "top", range: 1...1000) } ?? 3)
    }
}

extension CellSpec.Write {
    init(_ value: Node, reader: NodeReader) throws {
        let settings = try reader.mapping(value, allowed: ["jsonl", "csv", "report", "sidecar", "npy"], what: "write")
        self.init()
        jsonl = try settings["jsonl"].map { try reader.string($0, what: "jsonl") }
        csv = try settings["csv"].map { try reader.string($0, what: "csv") }
        if let report = settings["report"] {
            if case .mapping = report {
                let fields = try reader.mapping(report, allowed: ["file", "embed_media"], what: "report")
                guard let file = fields["file"] else { throw reader.error(at: report, "report needs 'file': the HTML file to write") }
                self.report = try reader.string(file, what: "file")
                reportEmbedsMedia = try fields["embed_media"].map { try reader.bool($0, what: "embed_media") } ?? false
            } else {
                self.report = try reader.string(report, what: "report")
            }
        }
        if let sidecar = settings["sidecar"] {
            let fields = try reader.mapping(sidecar, allowed: ["cell", "extension", "policy"], what: "sidecar")
            guard let cell = fields["cell"] else { throw reader.error(at: sidecar, "sidecar needs 'cell': the generate cell whose text is written beside each file") }
            let policyName = try fields["policy"].map { try reader.string($0, what: "policy") } ?? "skip"
            guard let policy = SidecarPolicy(rawValue: policyName) else {
                throw reader.error(
                    at: fields["policy"]!, "policy must be skip, overwrite, replace, append or prepend, not '\(policyName)'"
                        + JobError.suggestion(for: policyName, among: SidecarPolicy.allCases.map(\.rawValue)))
            }
            var fileExtension = try fields["extension"].map { try reader.string($0, what: "extension") } ?? "txt"
            if fileExtension.hasPrefix(".") { fileExtension.removeFirst() }
            self.sidecar = (try reader.string(cell, what: "cell"), fileExtension, policy)
        }
        if let npy = settings["npy"] {
            let fields = try reader.mapping(npy, allowed: ["cell", "file"], what: "npy")
            guard let cell = fields["cell"], let file = fields["file"] else { throw reader.error(at: npy, "npy needs 'cell' (an embedding cell) and 'file'") }
            self.npy = (try reader.string(cell, what: "cell"), try reader.string(file, what: "file"))
        }
        guard jsonl != nil || csv != nil || report != nil || sidecar != nil || npy != nil else {
            throw reader.error(at: value, "write names no output: give jsonl, csv, report, sidecar or npy")
        }
    }
}
