import Foundation
import PandaMedia

/// Writes a job's outputs from its item records: JSON lines, CSV, `.npy` embeddings with an aligned id list, and
/// the HTML notebook report. Everything is rewritten from the records, so a resumed or merged run gives the same
/// files as one uninterrupted run.
struct OutputWriter {
    let plan: JobPlan
    let store: ResultStore
    let shard: Shard?

    static func embeddingKey(recordKey: String, cell: String) -> String { Fingerprint.of(["cell-embedding", recordKey, cell]) }

    /// A cell's result as one line of text: a generation's text, a classification's top label, or the ids of the
    /// neighbours a retrieval found.
    static func summary(of output: [String: Any]) -> String {
        if let text = output["text"] as? String { return text.replacingOccurrences(of: "\n", with: " ") }
        if let label = output["label"] as? String { return label }
        return (output["neighbours"] as? [[String: Any]])?.compactMap { $0["id"] as? String }.joined(separator: " ") ?? ""
    }

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

    func write(_ records: [[String: Any]]) throws -> [String] {
        var written: [String] = []
        try FileManager.default.createDirectory(atPath: plan.outputDirectory, withIntermediateDirectories: true)
        for cell in plan.job.cells {
            guard case .write(let write) = cell.body else { continue }
            if let jsonl = write.jsonl {
                var data = Data()
                for record in records { data += try JSONSerialization.data(withJSONObject: publicRecord(record), options: [.sortedKeys, .withoutEscapingSlashes]) + Data("\n".utf8) }
                try createFolder(for: path(jsonl))
                try data.write(to: URL(fileURLWithPath: path(jsonl)), options: .atomic)
                written.append(path(jsonl))
            }
            if let csv = write.csv {
                try writeCSV(records, to: path(csv))
                written.append(path(csv))
            }
            if let npy = write.npy {
                var rows: [[Float]] = []
                var index = Data()
                for record in records where record["status"] as? String == "ok" {
                    guard let key = record["key"] as? String, let embedding = store.cachedEmbedding(Self.embeddingKey(recordKey: key, cell: npy.cell)) else { continue }
                    rows.append(embedding)
                    let entry: [String: Any] = ["row": rows.count - 1, "id": record["id"] ?? "", "files": record["files"] ?? [:]]
                    index += try JSONSerialization.data(withJSONObject: entry, options: [.sortedKeys, .withoutEscapingSlashes]) + Data("\n".utf8)
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
                try Report(plan: plan, records: records, location: path(report)).html.write(toFile: path(report), atomically: true, encoding: .utf8)
                written.append(path(report))
            }
        }
        return written
    }

    private func createFolder(for file: String) throws {
        try FileManager.default.createDirectory(atPath: (file as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    }

    /// The record as users see it: without the internal cache key.
    private func publicRecord(_ record: [String: Any]) -> [String: Any] {
        var record = record
        record.removeValue(forKey: "key")
        return record
    }

    private func writeCSV(_ records: [[String: Any]], to path: String) throws {
        let textCells = plan.job.cells.filter {
            switch $0.body {
            case .generate, .classify, .retrieve: true
            default: false
            }
        }
        var lines = [(["id", "file", "status"] + textCells.map(\.name) + ["error"]).map(CSV.escape).joined(separator: ",")]
        for record in records {
            let files = record["files"] as? [String: String] ?? [:]
            let file = MediaKind.allCases.compactMap { files[$0.rawValue] }.first ?? ""
            var fields = [record["id"] as? String ?? "", file, record["status"] as? String ?? ""]
            let cells = record["cells"] as? [String: Any] ?? [:]
            for cell in textCells {
                let output = cells[cell.name] as? [String: Any] ?? [:]
                fields.append(output["text"] as? String ?? Self.summary(of: output))
            }
            fields.append((record["error"] as? [String: String]).map { "\($0["cell"] ?? ""): \($0["message"] ?? "")" } ?? "")
            lines.append(fields.map(CSV.escape).joined(separator: ","))
        }
        try createFolder(for: path)
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
    }
}

/// The notebook report: the job's cells as written, then one row per item with its media and every cell's result.
struct Report {
    let plan: JobPlan
    let records: [[String: Any]]
    let location: String

    var html: String {
        let failed = records.filter { $0["status"] as? String == "error" }.count
        var page = """
            <!doctype html>
            <html><head><meta charset="utf-8"><title>\(escape((plan.job.path as NSString).lastPathComponent))</title>
            <style>
            body{font:14px/1.45 system-ui,sans-serif;margin:2em;color:#222;max-width:1200px}
            h1{font-size:1.5em}h2{font-size:1.15em;margin-top:2em}
            .cell{border-left:4px solid #888;background:#f6f6f6;padding:.4em .8em;margin:.4em 0;font-family:monospace;white-space:pre-wrap}
            table{border-collapse:collapse;width:100%}td,th{border-top:1px solid #ddd;padding:.5em;vertical-align:top;text-align:left}
            img,video{max-width:220px;max-height:220px;border-radius:4px}.error{color:#b00}.p{color:#777;font-size:.9em}
            </style></head><body>
            <h1>\(escape((plan.job.path as NSString).lastPathComponent))</h1>
            <p>\(records.count) items, \(records.count - failed) succeeded, \(failed) failed.</p>
            <h2>Cells</h2>

            """
        let source = (try? String(contentsOfFile: plan.job.path, encoding: .utf8)) ?? ""
        let lines = source.components(separatedBy: "\n")
        for (index, cell) in plan.job.cells.enumerated() {
            let end = index + 1 < plan.job.cells.count ? plan.job.cells[index + 1].line - 1 : lines.count
            let block = lines[(cell.line - 1)..<min(max(end, cell.line), lines.count)].filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
            let indent = block.map { $0.prefix { $0 == " " }.count }.min() ?? 0
            let text = block.map { String($0.dropFirst(indent)) }.joined(separator: "\n")
            page += "<div class=\"cell\"><b>\(escape(cell.name))</b> (\(cell.kind.rawValue))\n\(escape(text))</div>\n"
        }
        let shown = plan.job.cells.filter {
            switch $0.body {
            case .generate, .classify, .retrieve: true
            case .write, .combine, .encode: false
            }
        }
        page += "<h2>Items</h2>\n<table><tr><th>item</th>" + shown.map { "<th>\(escape($0.name))</th>" }.joined() + "</tr>\n"
        for record in records {
            let files = record["files"] as? [String: String] ?? [:]
            var row = "<tr><td><b>\(escape(record["id"] as? String ?? ""))</b><br>"
            for kind in MediaKind.allCases {
                guard let file = files[kind.rawValue] else { continue }
                row += media(kind, file) + "<br>"
            }
            if let text = record["text"] as? String { row += "<i>\(escape(text))</i>" }
            if let error = record["error"] as? [String: String] {
                row += "<span class=\"error\">\(escape(error["cell"] ?? "")): \(escape(error["message"] ?? ""))</span>"
            }
            row += "</td>"
            let cells = record["cells"] as? [String: Any] ?? [:]
            for cell in shown {
                row += "<td>" + describe(cell, cells[cell.name] as? [String: Any], record: record) + "</td>"
            }
            page += row + "</tr>\n"
        }
        return page + "</table>\n</body></html>\n"
    }

    private func describe(_ cell: CellSpec, _ output: [String: Any]?, record: [String: Any]) -> String {
        if let error = record["error"] as? [String: String], error["cell"] == cell.name {
            return "<span class=\"error\">\(escape(error["message"] ?? ""))</span>"
        }
        switch cell.body {
        case .generate:
            guard let output, let turns = output["turns"] as? [[String: String]] else { return "" }
            return turns.map { "<span class=\"p\">\(escape($0["prompt"] ?? ""))</span><br>\(escape($0["answer"] ?? "").replacingOccurrences(of: "\n", with: "<br>"))" }
                .joined(separator: "<hr>")
        case .classify:
            guard let labels = output?["labels"] as? [[String: Any]] else { return "" }
            return labels.map { "\(escape($0["label"] as? String ?? "")) <span class=\"p\">\(String(format: "%.3f", $0["probability"] as? Double ?? 0))</span>" }
                .joined(separator: "<br>")
        case .retrieve:
            guard let neighbours = output?["neighbours"] as? [[String: Any]] else { return "" }
            return neighbours.map { neighbour in
                let path = neighbour["path"] as? String
                let preview = path.map { media(kind(of: $0), $0) } ?? ""
                return "\(preview)<br>\(escape(neighbour["id"] as? String ?? "")) <span class=\"p\">\(String(format: "%.3f", neighbour["score"] as? Double ?? 0))</span>"
            }.joined(separator: "<br>")
        default:
            return record["status"] as? String == "ok" ? "<span class=\"p\">embedding</span>" : ""
        }
    }

    private func kind(of file: String) -> MediaKind {
        let ext = (file as NSString).pathExtension.lowercased()
        return [MediaKind.image, .video, .audio].first { $0.extensions.contains(ext) } ?? .text
    }

    private func media(_ kind: MediaKind, _ file: String) -> String {
        let source = escape(relativePath(file))
        switch kind {
        case .image, .thermal: return "<img src=\"\(source)\" alt=\"\(source)\">"
        case .video: return "<video src=\"\(source)\" controls muted></video>"
        case .audio: return "<audio src=\"\(source)\" controls></audio>"
        default: return "<a href=\"\(source)\">\(escape((file as NSString).lastPathComponent))</a>"
        }
    }

    /// `file` relative to the report's folder, so the report can be opened from anywhere the folders are.
    private func relativePath(_ file: String) -> String {
        let from = URL(fileURLWithPath: (location as NSString).deletingLastPathComponent).standardizedFileURL.pathComponents
        let to = URL(fileURLWithPath: file).standardizedFileURL.pathComponents
        var common = 0
        while common < min(from.count, to.count) && from[common] == to[common] { common += 1 }
        return (Array(repeating: "..", count: from.count - common) + to[common...]).joined(separator: "/")
    }

    private func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
            .replacingOccurrences(of: "\"", with: "&quot;")
    }
}

public enum ShardMerger {
    /// Combines the records of every shard of a job (`.panda/records.shard-*-of-N.jsonl`) into the outputs an
    /// unsharded run writes. Items no shard has recorded are listed in the error.
    public static func merge(_ plan: JobPlan) throws -> [String] {
        let store = try ResultStore(outputDirectory: plan.outputDirectory, shard: nil)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: store.directory)) ?? []
        let shardLogs = names.filter { $0.hasPrefix("records.shard-") && $0.hasSuffix(".jsonl") }.sorted()
        guard !shardLogs.isEmpty else { throw JobRunError.cell("merge", "no shard records in \(store.directory); run the shards first (--shard i/N)") }
        var records: [String: [String: Any]] = [:]
        for name in shardLogs {
            let data = FileManager.default.contents(atPath: (store.directory as NSString).appendingPathComponent(name)) ?? Data()
            records.merge(ResultStore.records(in: data)) { _, new in new }
        }
        let missing = plan.items.filter { records[$0.id] == nil }.map(\.id)
        guard missing.isEmpty else {
            throw JobRunError.cell("merge", "\(missing.count) items have no record in any shard (e.g. \(missing.prefix(3).joined(separator: ", "))); rerun the shards that hold them")
        }
        let ordered = plan.items.map { records[$0.id]! }
        try store.compact(ordered)
        return try OutputWriter(plan: plan, store: store, shard: nil).write(ordered)
    }
}
