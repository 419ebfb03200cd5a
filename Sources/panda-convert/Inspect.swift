import ArgumentParser
import Foundation
import PandaFormat

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a .panda file's metadata and tensor table.",
        discussion: """
            Opening the file validates its header, metadata and tensor table, but not the tensor data: use \
            `panda-convert verify` to check every checksum.

            Examples:
              panda-convert inspect Weights/tiny-vicuna.panda
              panda-convert inspect --json model.panda | jq '.tensors | length'
            """)

    @Argument(help: "The .panda file to inspect.")
    var file: String

    @Flag(help: "Print one JSON object (header, metadata without embedded file contents, tensors) instead of a table.")
    var json = false

    @Flag(name: .customLong("no-tensors"), help: "Leave out the tensor table.")
    var hideTensors = false

    func run() throws {
        let weights = try WeightFile(path: file)
        if json {
            print(try jsonReport(weights))
        } else {
            print(textReport(weights), terminator: "")
        }
    }

    private func textReport(_ weights: WeightFile) -> String {
        let metadata = weights.metadata
        let logical = weights.tensors.reduce(0) { $0 + $1.byteCount }
        let stored = weights.tensors.reduce(0) { $0 + $1.storedByteCount }
        var out = "\(file)  (\(ByteCount(weights.fileSize)), .panda format version 1)\n"
        out += "family      \(metadata.family)\n"
        let converter = metadata.provenance.converter.isEmpty ? "unknown" : metadata.provenance.converter
        out += "written by  \(converter)\(metadata.provenance.recipe.map { " with recipe \($0)" } ?? "")\n"
        for (index, source) in metadata.provenance.sources.enumerated() {
            out += "\(index == 0 ? "sources   " : "          ")  \(source.name)  \(ByteCount(source.bytes))  sha256 \(source.sha256)\n"
        }
        if !metadata.provenance.options.isEmpty {
            out += "options     \(JSONValue.object(metadata.provenance.options))\n"
        }
        for (role, embedded) in metadata.tokenizers.sorted(by: { $0.key < $1.key }) {
            out += "tokenizer   \(role): \(embedded.name) (\(ByteCount(embedded.data.count)))\n"
        }
        out += "config      \(metadata.config)\n"
        guard !hideTensors else { return out }
        out += "\n"
        let rows = weights.tensors.map { tensor -> [String] in
            [
                tensor.name, tensor.dtype.description, tensor.shape.isEmpty ? "scalar" : tensor.shape.map(String.init).joined(separator: "×"),
                tensor.storage == .raw ? "raw" : tensor.shuffled ? "zstd+shuffle" : "zstd",
                ByteCount(tensor.byteCount).description, ByteCount(tensor.storedByteCount).description,
                tensor.byteCount == 0 ? "-" : String(format: "%.2f", Double(tensor.storedByteCount) / Double(tensor.byteCount)),
            ]
        }
        out += Table(header: ["tensor", "dtype", "shape", "storage", "size", "stored", "ratio"], rows: rows).rendered
        let ratio = logical == 0 ? 1 : Double(stored) / Double(logical)
        out += "\n\(weights.tensors.count) tensors, \(ByteCount(logical)) of tensor data stored in \(ByteCount(stored)) "
        out += "(ratio \(String(format: "%.3f", ratio)))\n"
        return out
    }

    private func jsonReport(_ weights: WeightFile) throws -> String {
        var metadata = weights.metadata
        let embedded = metadata.tokenizers.mapValues { JSONValue.object(["name": .string($0.name), "bytes": .int($0.data.count)]) }
        metadata.tokenizers = [:]
        var report: [String: JSONValue] = [
            "file": .string(file),
            "file_bytes": .int(weights.fileSize),
            "format_version": .int(1),
            "family": .string(metadata.family),
            "config": metadata.config,
            "tokenizers": .object(embedded),
            "provenance": try JSONDecoder().decode(JSONValue.self, from: JSONEncoder().encode(metadata.provenance)),
        ]
        if !hideTensors {
            report["tensors"] = .array(weights.tensors.map { tensor in
                .object([
                    "name": .string(tensor.name), "dtype": .string(tensor.dtype.description),
                    "shape": .array(tensor.shape.map { .int($0) }), "storage": .string(tensor.storage.description),
                    "shuffled": .bool(tensor.shuffled), "bytes": .int(tensor.byteCount),
                    "stored_bytes": .int(tensor.storedByteCount), "chunks": .int(tensor.chunks.count),
                    "offset": .int(tensor.dataOffset),
                ])
            })
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(JSONValue.object(report)), as: UTF8.self)
    }
}
