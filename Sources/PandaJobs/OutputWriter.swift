import Foundation
import PandaMedia

/// Writes a job's outputs from its item records: JSON lines, CSV, `.npy` embeddings with an aligned id list, and
/// the HTML notebook report. Everything is rewritten from the records, so a resumed or merged run gives the same
/// files as one uninterrupted run.
struct OutputWriter {
    let plan: JobPlan
    let store: ResultStore
    let shard: Shard?

    /// Output paths, with `.shard-i-of-N` before the extension in a sharded run.
    func path(_ name: String) -> String {
        var name = name
        if let shard {
            let base = (name as NSString).deletingPathExtension
            let ext = (name as NSString).pathExtension
            name = "\(base).shard-\(shard.index)-of-\(shard.count)" + (ext.isEmpty ? "" : ".\(ext)")
        }
        return (plan.outputDirectory as NSString).appendingPathComponent(name)
    }

    /// Every file `write` produces.
    var outputPaths: [String] {
        plan.job.cells.flatMap { cell -> [String] in
            guard case .write(let write) = cell.body else { return [] }
            let npy = write.npy.map { [path($0.file), (path($0.file) as NSString).deletingPathExtension + ".jsonl"] } ?? []
            return [write.jsonl, write.csv].compactMap { $0.map(path) } + npy + (write.report.map { [path($0)] } ?? [])
        }
    }

    var outputsExist: Bool { outputPaths.allSatisfy { FileManager.default.fileExists(atPath: $0) } }

    func write(_ records: [ItemRecord]) throws -> [String] {
        var written: [String] = []
        try FileManager.default.createDirectory(atPath: plan.outputDirectory, withIntermediateDirectories: true)
        for cell in plan.job.cells {
            guard case .write(let write) = cell.body else { continue }
            if let jsonl = write.jsonl {
                try createFolder(for: path(jsonl))
                try RecordCoding.lines(records.map(\.publicView)).write(to: URL(fileURLWithPath: path(jsonl)), options: .atomic)
                written.append(path(jsonl))
            }
            if let csv = write.csv {
                try writeCSV(records, to: path(csv))
                written.append(path(csv))
            }
            if let npy = write.npy {
                var rows: [[Float]] = []
                var index = Data()
                let encoder = RecordCoding.encoder()
                for record in records where record.status == .ok {
                    guard case .embedding(let embedding) = record.cells[npy.cell], let vector = store.cachedEmbedding(embedding.key) else { continue }
                    rows.append(vector)
                    index += try encoder.encode(EmbeddingRow(row: rows.count - 1, id: record.id, files: record.files)) + Data("\n".utf8)
                }
                let arrayPath = path(npy.file)
                try createFolder(for: arrayPath)
                try NPYArray(shape: [rows.count, rows.first?.count ?? 0], values: rows.flatMap { $0 }).write(to: arrayPath)
                let indexPath = (arrayPath as NSString).deletingPathExtension + ".jsonl"
                try index.write(to: URL(fileURLWithPath: indexPath), options: .atomic)
                written += [arrayPath, indexPath]
            }
            if let report = write.report {
                try createFolder(for: path(report))
                try Report(plan: plan, records: records, location: path(report), embedMedia: write.reportEmbedsMedia).html.write(toFile: path(report), atomically: true, encoding: .utf8)
                written.append(path(report))
            }
        }
        return written
    }

    private func createFolder(for file: String) throws {
        try FileManager.default.createDirectory(atPath: (file as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    }

    /// A line of the index beside an `.npy` output: which item a row belongs to.
    private struct EmbeddingRow: Encodable {
        var row: Int
        var id: String
        var files: [String: String]
    }

    private func writeCSV(_ records: [ItemRecord], to path: String) throws {
        let textCells = plan.job.cells.filter(\.hasTextResult)
        var lines = [(["id", "file", "status"] + textCells.map(\.name) + ["error"]).map(CSV.escape).joined(separator: ",")]
        for record in records {
            var fields = [record.id, record.primaryFile ?? "", record.status.rawValue]
            for cell in textCells {
                switch record.cells[cell.name] {
                case .generation(let generation): fields.append(generation.text)  // the CSV keeps its line breaks
                case let result: fields.append(result?.summary ?? "")
                }
            }
            fields.append(record.error.map { "\($0.cell): \($0.message)" } ?? "")
            lines.append(fields.map(CSV.escape).joined(separator: ","))
        }
        try createFolder(for: path)
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
    }
}
