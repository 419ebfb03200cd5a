import Foundation
// Items, records and cells speak of MediaKind and prepared inputs: a job's users get them with PandaJobs.
@_exported import PandaInputs
import PandaMedia

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

/// A file that matched an input but is no item, and why.
public struct SkippedFile: Sendable, Equatable, CustomStringConvertible {
    public enum Reason: Sendable, Equatable {
        /// No file of these kinds has the same stem.
        case unpaired(missing: [MediaKind])
        /// Pairing by stem is ambiguous: these files (of one kind) share the stem.
        case sameStem([String])
        /// A folder, FIFO, socket or device ("a FIFO (named pipe)").
        case notRegular(String)
        /// The name starts with a dot.
        case hidden
        /// A manifest record names this file, which is a folder, FIFO, socket or device; the item is left out.
        case manifestItem(id: String, notRegular: String)
    }

    public var path: String
    public var reason: Reason

    public var description: String { "\(path): \(reasonText)" }

    public var reasonText: String {
        switch reason {
        case .unpaired(let missing): "no \(missing.map(\.rawValue).joined(separator: " or ")) file has the same stem"
        case .sameStem(let names): "\(names.joined(separator: ", ")) share a stem, so pairing by stem cannot tell them apart"
        case .notRegular(let kind): "is \(kind), not a regular file"
        case .hidden: "hidden (the name starts with '.')"
        case .manifestItem(let id, let kind): "is \(kind), not a regular file (item '\(id)' left out)"
        }
    }
}

/// An input's items and the files that matched it but are no item.
public struct ResolvedInput: Sendable {
    public var name: String
    public var items: [Item]
    /// Every file that matched the input and is no item, with the reason; listed by `plan`.
    public var skipped: [SkippedFile]

    /// Files found for some kinds but missing the others (by stem).
    public var unpaired: [String] {
        skipped.compactMap { if case .unpaired = $0.reason { $0.path } else { nil } }
    }
}

public enum Inputs {
    /// Finds the items of an input. Files are paired across kinds by their stem (path below the pattern's folder,
    /// without extension); items are sorted by id so every run and every shard sees the same order. An item's id is
    /// its stem; in an input of one kind, files that share a stem (`a.jpg`, `a.png`) are items with their names
    /// (stem and extension: `a.jpg`, `a.png`) as ids, so no file is dropped and ids without a clash stay stems. In an
    /// input of several kinds such files cannot be paired, and are skipped with that reason.
    public static func resolve(_ spec: InputSpec, relativeTo directory: String, file: String) throws -> ResolvedInput {
        func failure(_ message: String) -> JobError { JobError(file: file, line: spec.line, column: spec.column, message: "input '\(spec.name)': \(message)") }
        switch spec.source {
        case .texts(let texts):
            let width = String(texts.count).count
            let items = texts.enumerated().map { index, text in
                Item(id: String(repeating: "0", count: width - String(index + 1).count) + String(index + 1), sources: [.text: .literal(text)])
            }
            return ResolvedInput(name: spec.name, items: items, skipped: [])
        case .manifest(let relative):
            let path = absolute(relative, in: directory)
            var skipped: [SkippedFile] = []
            let items = try manifestItems(path, fail: failure).filter { item in
                // A FIFO would block whoever opens it first (hashing the file for the cache), so it is caught here.
                for case .file(let file) in item.sources.values {
                    if let kind = MediaFile.nonRegularKind(file) {
                        skipped.append(SkippedFile(path: file, reason: .manifestItem(id: item.id, notRegular: kind)))
                        return false
                    }
                }
                return true
            }
            return ResolvedInput(name: spec.name, items: items, skipped: skipped)
        case .files(let patterns, let recursive):
            var byKind: [(kind: MediaKind, files: [String: [String]])] = []
            var skipped: [SkippedFile] = []
            for (kind, pattern) in patterns {
                let (files, refused) = try matchingFiles(pattern, kind: kind, recursive: recursive, directory: directory, fail: failure)
                guard !files.isEmpty else { throw failure("'\(pattern)' matches no \(kind.rawValue) files" + (refused.isEmpty ? "" : " it can read (\(refused[0]))")) }
                byKind.append((kind, files))
                skipped += refused
            }
            var items: [Item] = []
            if byKind.count == 1, let (kind, files) = byKind.first {
                for (stem, paths) in files {
                    for path in paths {
                        let id = paths.count == 1 ? stem : stem + "." + (path as NSString).pathExtension
                        items.append(Item(id: id, sources: [kind: .file(path)]))
                    }
                }
            } else {
                for stem in Set(byKind.flatMap(\.files.keys)) {
                    let missing = byKind.filter { $0.files[stem] == nil }.map(\.kind)
                    let paths = byKind.flatMap { $0.files[stem] ?? [] }
                    if !missing.isEmpty {
                        skipped += paths.map { SkippedFile(path: $0, reason: .unpaired(missing: missing)) }
                    } else if let shared = byKind.first(where: { $0.files[stem]!.count > 1 }) {
                        let names = shared.files[stem]!.map { ($0 as NSString).lastPathComponent }
                        skipped += paths.map { SkippedFile(path: $0, reason: .sameStem(names)) }
                    } else {
                        items.append(Item(id: stem, sources: Dictionary(uniqueKeysWithValues: byKind.map { ($0.kind, Item.Source.file($0.files[stem]![0])) })))
                    }
                }
            }
            // An id made from a name (`a.jpg`) can equal another file's stem (`a.jpg.png`): the later file is skipped.
            var ids = Set<String>()
            items = items.sorted { $0.id < $1.id }.filter { item in
                guard ids.insert(item.id).inserted else {
                    skipped.append(SkippedFile(path: item.primaryFile ?? item.id, reason: .sameStem([item.id])))
                    return false
                }
                return true
            }
            return ResolvedInput(name: spec.name, items: items, skipped: skipped.sorted { $0.path < $1.path })
        }
    }

    static func absolute(_ path: String, in directory: String) -> String {
        path.hasPrefix("/") ? path : (directory as NSString).appendingPathComponent(path)
    }

    /// Files matching a glob (`*`, `?` and `[…]` in the last component; `**/` before it searches subfolders) or all
    /// files of the kind in a folder, by stem relative to the pattern's folder (several files can share one), and the
    /// names that match but are no readable file (folders, FIFOs, devices, hidden files), with the reason.
    static func matchingFiles(_ pattern: String, kind: MediaKind, recursive: Bool, directory: String, fail: (String) -> JobError) throws
        -> (files: [String: [String]], skipped: [SkippedFile])
    {
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
        var files: [String: [String]] = [:]
        var skipped: [SkippedFile] = []
        for relative in relativePaths.sorted() {
            let path = (base as NSString).appendingPathComponent(relative)
            let name = (relative as NSString).lastPathComponent
            if let namePattern {
                guard fnmatch(namePattern, name, 0) == 0 else { continue }
            } else {
                guard kind.extensions.contains((name as NSString).pathExtension.lowercased()) else { continue }
            }
            if let kind = MediaFile.nonRegularKind(path) {
                skipped.append(SkippedFile(path: path, reason: .notRegular(kind)))
            } else if name.hasPrefix(".") {
                skipped.append(SkippedFile(path: path, reason: .hidden))
            } else {
                files[(relative as NSString).deletingPathExtension, default: []].append(path)
            }
        }
        return (files, skipped)
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
