import Foundation

/// One unit of work: an id and, per media kind, a file or a literal text.
public struct Item: Sendable, Equatable {
    public enum Source: Sendable, Equatable {
        case file(String)
        case literal(String)
    }

    public var id: String
    public var sources: [MediaKind: Source]

    /// The file name without folder and extension, for templates (`{{item.stem}}`).
    public var stem: String { (id as NSString).lastPathComponent }

    /// The first file of the item (for templates and sidecars): image, video, audio, … in that order.
    public var primaryFile: String? {
        for kind in MediaKind.allCases { if case .file(let path) = sources[kind] { return path } }
        return nil
    }
}

/// An input's items and the files that could not be paired.
public struct ResolvedInput: Sendable {
    public var name: String
    public var items: [Item]
    /// Files found for some kinds but missing the others (by stem), reported by `plan`.
    public var unpaired: [String]
}

public enum Inputs {
    /// Finds the items of an input. Files are paired across kinds by their stem (path below the pattern's folder,
    /// without extension); items are sorted by id so every run and every shard sees the same order.
    public static func resolve(_ spec: InputSpec, relativeTo directory: String, file: String) throws -> ResolvedInput {
        func failure(_ message: String) -> JobError { JobError(file: file, line: spec.line, column: spec.column, message: "input '\(spec.name)': \(message)") }
        switch spec.source {
        case .texts(let texts):
            let width = String(texts.count).count
            let items = texts.enumerated().map { index, text in
                Item(id: String(repeating: "0", count: width - String(index + 1).count) + String(index + 1), sources: [.text: .literal(text)])
            }
            return ResolvedInput(name: spec.name, items: items, unpaired: [])
        case .manifest(let relative):
            let path = absolute(relative, in: directory)
            return ResolvedInput(name: spec.name, items: try manifestItems(path, fail: failure), unpaired: [])
        case .files(let patterns, let recursive):
            var byKind: [(MediaKind, [String: String])] = []
            for (kind, pattern) in patterns {
                let files = try matchingFiles(pattern, kind: kind, recursive: recursive, directory: directory, fail: failure)
                guard !files.isEmpty else { throw failure("'\(pattern)' matches no \(kind.rawValue) files") }
                byKind.append((kind, files))
            }
            var common = Set(byKind[0].1.keys)
            for (_, files) in byKind.dropFirst() { common.formIntersection(files.keys) }
            let unpaired = byKind.flatMap { _, files in files.filter { !common.contains($0.key) }.map(\.value) }.sorted()
            let items = common.sorted().map { stem in
                Item(id: stem, sources: Dictionary(uniqueKeysWithValues: byKind.map { ($0.0, Item.Source.file($0.1[stem]!)) }))
            }
            return ResolvedInput(name: spec.name, items: items, unpaired: unpaired)
        }
    }

    static func absolute(_ path: String, in directory: String) -> String {
        path.hasPrefix("/") ? path : (directory as NSString).appendingPathComponent(path)
    }

    /// Files matching a glob (`*`, `?` and `[…]` in the last component; `**/` before it searches subfolders) or all
    /// files of the kind in a folder. Keys are stems relative to the pattern's folder.
    static func matchingFiles(_ pattern: String, kind: MediaKind, recursive: Bool, directory: String, fail: (String) -> JobError) throws -> [String: String] {
        var folder = pattern
        var namePattern: String?
        var searchSubfolders = recursive
        let absolutePattern = absolute(pattern, in: directory)
        var isDirectory: ObjCBool = false
        if !(FileManager.default.fileExists(atPath: absolutePattern, isDirectory: &isDirectory) && isDirectory.boolValue) {
            folder = (pattern as NSString).deletingLastPathComponent
            namePattern = (pattern as NSString).lastPathComponent
            if folder.hasSuffix("**") {
                folder = String(folder.dropLast(2))
                searchSubfolders = true
            }
            guard !folder.contains("*") && !folder.contains("?") else { throw fail("wildcards are allowed only in the file name (and '**/' before it): '\(pattern)'") }
        }
        let base = absolute(folder.isEmpty ? "." : folder, in: directory)
        guard FileManager.default.fileExists(atPath: base, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw fail("no such folder '\(folder.isEmpty ? "." : folder)'")
        }
        var relativePaths: [String] = []
        if searchSubfolders {
            guard let enumerator = FileManager.default.enumerator(atPath: base) else { throw fail("cannot list '\(base)'") }
            while let next = enumerator.nextObject() as? String { relativePaths.append(next) }
        } else {
            relativePaths = try FileManager.default.contentsOfDirectory(atPath: base)
        }
        var result: [String: String] = [:]
        for relative in relativePaths.sorted() {
            let path = (base as NSString).appendingPathComponent(relative)
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else { continue }
            let name = (relative as NSString).lastPathComponent
            if name.hasPrefix(".") { continue }
            if let namePattern {
                guard fnmatch(namePattern, name, 0) == 0 else { continue }
            } else {
                guard kind.extensions.contains((name as NSString).pathExtension.lowercased()) else { continue }
            }
            let stem = (relative as NSString).deletingPathExtension
            if result[stem] == nil { result[stem] = path }
        }
        return result
    }

    /// JSON lines (`{"id": …, "image": "a.jpg", "audio": …, "text": "literal"}`) or CSV with a header naming the same
    /// columns. Paths are relative to the manifest's folder; `text` is the text itself.
    static func manifestItems(_ path: String, fail: (String) -> JobError) throws -> [Item] {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw fail("cannot read the manifest '\(path)'")
        }
        let folder = (path as NSString).deletingLastPathComponent
        var records: [(line: Int, fields: [String: String])] = []
        if path.lowercased().hasSuffix(".csv") {
            let rows = CSV.parse(text)
            guard let header = rows.first else { throw fail("the manifest '\(path)' is empty") }
            for (index, row) in rows.dropFirst().enumerated() where !(row.count == 1 && row[0].isEmpty) {
                guard row.count == header.count else { throw fail("\(path):\(index + 2): \(row.count) columns, the header has \(header.count)") }
                records.append((index + 2, Dictionary(zip(header, row), uniquingKeysWith: { first, _ in first })))
            }
        } else {
            for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() where !line.trimmingCharacters(in: .whitespaces).isEmpty {
                guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                    throw fail("\(path):\(index + 1): expected one JSON object per line")
                }
                records.append((index + 1, object.compactMapValues { value in value as? String ?? (value as? NSNumber)?.stringValue }))
            }
        }
        var items: [Item] = []
        var ids = Set<String>()
        for (line, fields) in records {
            var sources: [MediaKind: Item.Source] = [:]
            for (key, value) in fields where key != "id" && !value.isEmpty {
                guard let kind = MediaKind(rawValue: key) else {
                    throw fail("\(path):\(line): unknown column '\(key)'" + JobError.suggestion(for: key, among: ["id"] + MediaKind.allCases.map(\.rawValue)))
                }
                sources[kind] = kind == .text ? .literal(value) : .file(absolute(value, in: folder))
            }
            guard !sources.isEmpty else { throw fail("\(path):\(line): the record names no media") }
            let id = fields["id"] ?? String(line)
            guard ids.insert(id).inserted else { throw fail("\(path):\(line): the id '\(id)' is used twice") }
            items.append(Item(id: id, sources: sources))
        }
        return items
    }
}

/// RFC 4180 CSV: quoted fields, doubled quotes, commas and newlines inside quotes.
enum CSV {
    static func parse(_ text: String) -> [[String]] {
        var rows: [[String]] = []
        var row: [String] = []
        var field = ""
        var quoted = false
        var iterator = text.makeIterator()
        var pending: Character? = nil
        while let character = pending ?? iterator.next() {
            pending = nil
            if quoted {
                if character == "\"" {
                    if let next = iterator.next() {
                        if next == "\"" { field.append("\"") } else { quoted = false; pending = next }
                    } else {
                        quoted = false
                    }
                } else {
                    field.append(character)
                }
            } else if character == "\"" && field.isEmpty {
                quoted = true
            } else if character == "," {
                row.append(field)
                field = ""
            } else if character == "\n" || character == "\r\n" {
                row.append(field)
                rows.append(row)
                (row, field) = ([], "")
            } else {
                field.append(character)
            }
        }
        if !field.isEmpty || !row.isEmpty { row.append(field); rows.append(row) }
        return rows
    }

    static func escape(_ field: String) -> String {
        guard field.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r\n" }) else { return field }
        return "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
