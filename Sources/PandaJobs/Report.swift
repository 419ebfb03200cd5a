import Foundation
import PandaMedia

/// The notebook report, for people to scan: a summary with the failures first (linked to their rows), then one
/// compact row per item — thumbnails of its media, each text cell's result, neighbours as a strip of thumbnails
/// with scores — with each cell's prompt shown once in its column's head, buttons that filter by status and column
/// heads that sort by score (a few lines of inline script, no network), and the job's cells as written at the end.
/// With `embedMedia`, pictures and sounds are carried inside the page, so it can be mailed or archived alone.
struct Report {
    let plan: JobPlan
    let records: [ItemRecord]
    let location: String
    var embedMedia = false

    /// Media larger than this stay links even in a self-contained report: a page of many videos would not open.
    static let embeddedMediaLimit = 4 << 20

    var html: String {
        let title = escape((plan.job.path as NSString).lastPathComponent)
        let failures = records.filter { $0.status == .error }
        let shown = plan.job.cells.filter(\.hasTextResult)
        var page = """
            <!doctype html>
            <html><head><meta charset="utf-8"><title>\(title)</title>
            <style>\(Self.style)</style></head><body>
            <h1>\(title)</h1>
            <p class="counts"><b>\(records.count)</b> items · <b>\(records.count - failures.count)</b> succeeded · <b class="\(failures.isEmpty ? "" : "bad")">\(failures.count)</b> failed</p>

            """
        if !failures.isEmpty {
            page += "<section id=\"failures\"><h2>Failures</h2><ul>\n"
            for record in failures {
                page += "<li><a href=\"#\(anchor(record.id))\">\(escape(record.id))</a> <span class=\"p\">\(escape(record.error?.cell ?? ""))</span> \(escape(record.error?.message ?? ""))</li>\n"
            }
            page += "</ul></section>\n"
        }
        page += """
            <p class="controls">Show <button data-filter="all" class="on">all</button><button data-filter="ok">succeeded</button><button data-filter="error">failed</button>\
             <span class="p">· click a column head marked ↕ to sort by its score</span></p>
            <table id="items"><thead><tr><th>item</th>
            """
        for cell in shown {
            let sortable = if case .generate = cell.body { false } else { true }
            page += "<th\(sortable ? " class=\"sort\" data-cell=\"\(escape(cell.name))\"" : "")>\(escape(cell.name))\(sortable ? " ↕" : "")\(prompt(of: cell))</th>"
        }
        page += "</tr></thead><tbody>\n"
        // Failures first, then the rest in item order.
        for record in failures + records.filter({ $0.status == .ok }) {
            page += "<tr id=\"\(anchor(record.id))\" data-status=\"\(record.status.rawValue)\"" + scores(record, shown) + "><td class=\"item\">"
            page += "<b>\(escape(record.id))</b>"
            let files = MediaKind.allCases.compactMap { kind in record.files[kind.rawValue].map { (kind, $0) } }
            if !files.isEmpty { page += "<div class=\"media\">" + files.map { media($0.0, $0.1) }.joined() + "</div>" }
            if let text = record.text { page += "<div class=\"p\">\(escape(text))</div>" }
            if let error = record.error { page += "<div class=\"error\">\(escape(error.cell)): \(escape(error.message))</div>" }
            page += "</td>"
            for cell in shown { page += "<td>" + describe(cell, in: record) + "</td>" }
            page += "</tr>\n"
        }
        page += "</tbody></table>\n<details><summary>The job's cells</summary>\n" + cellsAsWritten() + "</details>\n"
        return page + "<script>\(Self.script)</script>\n</body></html>\n"
    }

    /// A generate cell's prompts (its templates, the same for every item), shown once under its name.
    private func prompt(of cell: CellSpec) -> String {
        guard case .generate(let generate) = cell.body else { return "" }
        return "<div class=\"prompt\">" + generate.prompts.map(escape).joined(separator: "<br>→ ") + "</div>"
    }

    /// The score each sortable column sorts by: a classification's top probability, a retrieval's best match.
    private func scores(_ record: ItemRecord, _ cells: [CellSpec]) -> String {
        cells.compactMap { cell -> String? in
            let score: Double? = switch record.cells[cell.name] {
            case .classification(let classification): classification.labels.first?.probability
            case .retrieval(let retrieval): retrieval.neighbours.first?.score
            default: nil
            }
            return score.map { " data-score-\(escape(cell.name))=\"\($0)\"" }
        }.joined()
    }

    private func describe(_ cell: CellSpec, in record: ItemRecord) -> String {
        if let error = record.error, error.cell == cell.name {
            return "<span class=\"error\">\(escape(error.message))</span>"
        }
        switch record.cells[cell.name] {
        case .generation(let generation):
            return generation.turns.map { escape($0.answer).replacingOccurrences(of: "\n", with: "<br>") }.joined(separator: "<hr>")
        case .classification(let classification):
            return classification.labels.enumerated().map { index, label in
                (index == 0 ? "<b>\(escape(label.label))</b>" : escape(label.label)) + " <span class=\"p\">\(String(format: "%.3f", label.probability))</span>"
            }.joined(separator: "<br>")
        case .retrieval(let retrieval):
            return "<div class=\"strip\">" + retrieval.neighbours.map { neighbour in
                let preview = neighbour.path.map { media(kind(of: $0), $0) } ?? ""
                return "<figure>\(preview)<figcaption>\(escape(neighbour.id)) <span class=\"p\">\(String(format: "%.3f", neighbour.score))</span></figcaption></figure>"
            }.joined() + "</div>"
        case .embedding, .sidecar, nil:
            return ""
        }
    }

    private func cellsAsWritten() -> String {
        let source = (try? String(contentsOfFile: plan.job.path, encoding: .utf8)) ?? ""
        let lines = source.components(separatedBy: "\n")
        var html = ""
        for (index, cell) in plan.job.cells.enumerated() {
            let end = index + 1 < plan.job.cells.count ? plan.job.cells[index + 1].line - 1 : lines.count
            let block = lines[(cell.line - 1)..<min(max(end, cell.line), lines.count)].filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
            let indent = block.map { $0.prefix { $0 == " " }.count }.min() ?? 0
            let text = block.map { String($0.dropFirst(indent)) }.joined(separator: "\n")
            html += "<div class=\"cell\"><b>\(escape(cell.name))</b> (\(cell.kind.rawValue))\n\(escape(text))</div>\n"
        }
        return html
    }

    private func kind(of file: String) -> MediaKind {
        let ext = (file as NSString).pathExtension.lowercased()
        return [MediaKind.image, .video, .audio].first { $0.extensions.contains(ext) } ?? .text
    }

    /// `recorded`: a path as records give it, relative to the job's folder.
    private func media(_ kind: MediaKind, _ recorded: String) -> String {
        let file = RelativePath.resolve(recorded, in: plan.job.directory)
        let name = escape((file as NSString).lastPathComponent)
        let link = RelativePath.of(file, from: (location as NSString).deletingLastPathComponent)
        let source = escape(embedMedia ? dataURL(file) ?? link : link)
        switch kind {
        case .image, .thermal: return "<img src=\"\(source)\" alt=\"\(name)\" title=\"\(name)\" loading=\"lazy\">"
        case .video: return "<video src=\"\(source)\" controls muted preload=\"metadata\" title=\"\(name)\"></video>"
        case .audio: return "<audio src=\"\(source)\" controls preload=\"none\" title=\"\(name)\"></audio>"
        default: return "<a href=\"\(source)\">\(name)</a>"
        }
    }

    /// The file as a data: URL, or nil past the size limit or when it cannot be read.
    private func dataURL(_ file: String) -> String? {
        guard let size = (try? FileManager.default.attributesOfItem(atPath: file))?[.size] as? NSNumber, size.intValue <= Self.embeddedMediaLimit,
              let data = FileManager.default.contents(atPath: file) else { return nil }
        let types = ["jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp", "gif": "image/gif", "bmp": "image/bmp",
                     "tif": "image/tiff", "tiff": "image/tiff", "wav": "audio/wav", "flac": "audio/flac", "mp3": "audio/mpeg", "ogg": "audio/ogg",
                     "opus": "audio/ogg", "m4a": "audio/mp4", "aac": "audio/aac", "mp4": "video/mp4", "webm": "video/webm", "mov": "video/quicktime"]
        let type = types[(file as NSString).pathExtension.lowercased()] ?? "application/octet-stream"
        return "data:\(type);base64," + data.base64EncodedString()
    }

    /// An id usable as an HTML fragment.
    private func anchor(_ id: String) -> String {
        "item-" + id.unicodeScalars.map { CharacterSet.alphanumerics.contains($0) ? String($0) : String(format: "_%X", $0.value) }.joined()
    }

    private func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
            .replacingOccurrences(of: "\"", with: "&quot;")
    }

    private static let style = """
        body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}h1{font-size:1.4em;margin:.2em 0}h2{font-size:1.1em}
        .counts b{font-size:1.1em}.bad,.error{color:#b00}.p{color:#777;font-size:.9em}
        #failures{border-left:4px solid #b00;background:#fff4f4;padding:.2em 1em;margin:1em 0}#failures li{margin:.2em 0}
        .controls button{margin-left:.3em;border:1px solid #bbb;background:#f4f4f4;border-radius:4px;padding:.15em .6em;cursor:pointer}
        .controls button.on{background:#333;color:#fff}
        table{border-collapse:collapse;width:100%}th,td{border-top:1px solid #ddd;padding:.35em .5em;vertical-align:top;text-align:left}
        th{position:sticky;top:0;background:#fff}th.sort{cursor:pointer}.prompt{font-weight:normal;color:#777;font-size:.85em}
        td.item{width:14em;max-width:14em;overflow-wrap:anywhere}tr[data-status=error] td.item{border-left:4px solid #b00}
        .media img,.media video{max-width:96px;max-height:96px;border-radius:3px;margin:.2em .2em 0 0}.media audio{width:13em;height:2em}
        .strip{display:flex;gap:.4em;flex-wrap:wrap}.strip figure{margin:0;text-align:center;font-size:.85em}
        .strip img,.strip video{max-width:72px;max-height:72px;border-radius:3px;display:block;margin:auto}
        img.missing{outline:2px dashed #b00;min-width:48px;min-height:32px}
        .cell{border-left:4px solid #888;background:#f6f6f6;padding:.4em .8em;margin:.4em 0;font-family:monospace;white-space:pre-wrap}
        details{margin-top:1.5em}
        """

    // Filtering by status, sorting by a column's score, and marking media whose file is not where the report expects.
    private static let script = """
        const rows=[...document.querySelectorAll('#items tbody tr')];
        document.querySelectorAll('.controls button').forEach(b=>b.onclick=()=>{
          document.querySelectorAll('.controls button').forEach(x=>x.classList.toggle('on',x===b));
          rows.forEach(r=>r.hidden=b.dataset.filter!=='all'&&r.dataset.status!==b.dataset.filter);});
        document.querySelectorAll('th.sort').forEach(th=>th.onclick=()=>{
          const down=th.dataset.down!=='1';th.dataset.down=down?'1':'0';
          const value=r=>parseFloat(r.getAttribute('data-score-'+th.dataset.cell)??'NaN');
          const body=document.querySelector('#items tbody');
          rows.slice().sort((a,b)=>{const x=value(a),y=value(b);if(isNaN(x))return 1;if(isNaN(y))return -1;return down?y-x:x-y;}).forEach(r=>body.appendChild(r));});
        const missing=img=>{img.classList.add('missing');img.title='cannot be shown: '+(img.getAttribute('src').startsWith('data:')?img.alt:img.getAttribute('src'));};
        document.querySelectorAll('img').forEach(img=>{if(img.complete&&img.naturalWidth===0)missing(img);else img.addEventListener('error',()=>missing(img));});
        """
}
