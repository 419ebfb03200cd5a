import Foundation
import PandaMedia

/// The notebook report: the job's cells as written, then one row per item with its media and every cell's result.
struct Report {
    let plan: JobPlan
    let records: [ItemRecord]
    let location: String

    var html: String {
        let failed = records.filter { $0.status == .error }.count
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
        let shown = plan.job.cells.filter(\.hasTextResult)
        page += "<h2>Items</h2>\n<table><tr><th>item</th>" + shown.map { "<th>\(escape($0.name))</th>" }.joined() + "</tr>\n"
        for record in records {
            var row = "<tr><td><b>\(escape(record.id))</b><br>"
            for kind in MediaKind.allCases {
                guard let file = record.files[kind.rawValue] else { continue }
                row += media(kind, file) + "<br>"
            }
            if let text = record.text { row += "<i>\(escape(text))</i>" }
            if let error = record.error {
                row += "<span class=\"error\">\(escape(error.cell)): \(escape(error.message))</span>"
            }
            row += "</td>"
            for cell in shown {
                row += "<td>" + describe(cell, in: record) + "</td>"
            }
            page += row + "</tr>\n"
        }
        return page + "</table>\n</body></html>\n"
    }

    private func describe(_ cell: CellSpec, in record: ItemRecord) -> String {
        if let error = record.error, error.cell == cell.name {
            return "<span class=\"error\">\(escape(error.message))</span>"
        }
        switch record.cells[cell.name] {
        case .generation(let generation):
            return generation.turns.map { "<span class=\"p\">\(escape($0.prompt))</span><br>\(escape($0.answer).replacingOccurrences(of: "\n", with: "<br>"))" }
                .joined(separator: "<hr>")
        case .classification(let classification):
            return classification.labels.map { "\(escape($0.label)) <span class=\"p\">\(String(format: "%.3f", $0.probability))</span>" }
                .joined(separator: "<br>")
        case .retrieval(let retrieval):
            return retrieval.neighbours.map { neighbour in
                let preview = neighbour.path.map { media(kind(of: $0), $0) } ?? ""
                return "\(preview)<br>\(escape(neighbour.id)) <span class=\"p\">\(String(format: "%.3f", neighbour.score))</span>"
            }.joined(separator: "<br>")
        case .embedding, .sidecar, nil:
            return ""
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
