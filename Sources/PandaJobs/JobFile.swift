import Foundation
import PandaModels
import Yams

/// A job file as written: models, inputs, the cells and their settings, each remembering where it was written
/// so that every later check can point at the line. `docs/jobs.md` documents every field.
public struct JobFile: Sendable {
    public var path: String
    /// The folder relative paths in the job are resolved against.
    public var directory: String
    public var models: Models
    public var inputs: [InputSpec]
    /// The input whose items the cells run over.
    public var items: Located<String>
    public var output: String
    public var parameters: [String: Double]
    public var cells: [CellSpec]
    /// Problems found while reading, each at its place; `JobPlan` adds its own and reports them all at once.
    public var problems: [JobError] = []
    /// Cells written wrongly (so left out of `cells`): references to them are not problems of their own.
    public var unreadableCells: Set<String> = []

    public struct Models: Sendable {
        public var imagebind: Located<String>?
        public var decoder: Located<String>?
        public var adapter: Located<String>?
    }
}

/// A value and where it was written.
public struct Located<Value: Sendable>: Sendable {
    public var value: Value
    public var line: Int
    public var column: Int
}

public struct InputSpec: Sendable {
    public enum Source: Sendable {
        /// One glob or folder per media kind; items are paired across kinds by file stem.
        case files([(kind: MediaKind, pattern: String)], recursive: Bool)
        /// A JSON-lines or CSV file of records naming each item's files (and texts).
        case manifest(String)
        /// Literal texts, one item each.
        case texts([String])
    }

    public var name: String
    public var source: Source
    public var line: Int
    public var column: Int
}

public struct CellSpec: Sendable {
    public enum Kind: String, CaseIterable, Sendable { case encode, combine, generate, classify, retrieve, write }

    public struct Encode: Sendable { public var kind: MediaKind }
    public struct Generate: Sendable {
        public var embeddings: [String]
        public var prompts: [String]
        public var maxTokens: Int
        public var temperature: Float
        public var topP: Float
        public var topK: Int
        public var seed: UInt64
        /// Answers decoded together; nil: the run's `--decode-batch`, or what the decoder and the machine suit.
        /// Not part of the result: an answer is the same decoded in any batch.
        public var batch: Int?
    }
    public struct Classify: Sendable { public var embedding: String; public var labels: [String]; public var top: Int }
    public struct Retrieve: Sendable { public var embedding: String; public var from: String; public var kind: MediaKind; public var top: Int }
    public struct Write: Sendable {
        /// `overwrite` replaces only a file this job wrote before; `replace` replaces any file, a user's too.
        public enum SidecarPolicy: String, CaseIterable, Sendable { case skip, overwrite, replace, append, prepend }
        public var jsonl: String?
        public var csv: String?
        public var report: String?
        /// The report carries its media inside (as data: URLs), so it can be mailed or archived alone.
        public var reportEmbedsMedia = false
        public var sidecar: (cell: String, extension: String, policy: SidecarPolicy)?
        public var npy: (cell: String, file: String)?
    }

    public enum Body: Sendable {
        case encode(Encode)
        case combine(EmbeddingExpression)
        case generate(Generate)
        case classify(Classify)
        case retrieve(Retrieve)
        case write(Write)
    }

    public var name: String
    public var body: Body
    public var line: Int
    public var column: Int
    /// The cell's scalar values where they are written, so a problem with one is reported at it.
    var values: [(text: String, line: Int, column: Int)] = []

    /// Where `name` is written in this cell: at the value that is `name`, inside an expression or a template when
    /// written on one line, or else at the cell's name.
    func place(of name: String) -> (line: Int, column: Int) {
        if let exact = values.first(where: { $0.text == name }) { return (exact.line, exact.column) }
        for value in values where !value.text.contains("\n") {
            guard let range = value.text.range(of: name) else { continue }
            return (value.line, value.column + value.text.distance(from: value.text.startIndex, to: range.lowerBound))
        }
        return (line, column)
    }

    public var kind: Kind {
        switch body {
        case .encode: .encode
        case .combine: .combine
        case .generate: .generate
        case .classify: .classify
        case .retrieve: .retrieve
        case .write: .write
        }
    }
}

extension JobFile {
    /// Reads and checks the structure of a job file: unknown or missing fields, wrong types, bad values. References
    /// between cells are checked by `JobPlan`.
    public static func load(path: String) throws -> JobFile {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw JobError(file: path, line: 1, column: 1, message: FileManager.default.fileExists(atPath: path) ? "cannot read the job file" : "no such job file")
        }
        guard let text = String(data: data, encoding: .utf8) else { throw JobError(file: path, line: 1, column: 1, message: "the job file is not UTF-8") }
        return try parse(text, path: path)
    }

    public static func parse(_ text: String, path: String) throws -> JobFile {
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: text) else { throw JobError(file: path, line: 1, column: 1, message: "the job file is empty") }
            root = node
        } catch let error as YamlError {
            throw JobError.yaml(error, file: path)
        }
        let reader = NodeReader(file: path)
        let top = try reader.mapping(root, allowed: ["models", "inputs", "items", "output", "parameters", "cells"], what: "the job")

        let directory = (path as NSString).deletingLastPathComponent
        // Every part that can be read apart from the others is, so that one run of `validate` lists every problem.
        var problems: [JobError] = []
        func collecting(_ part: () throws -> Void) throws {
            do { try part() } catch let problem as JobError { problems.append(problem) }
        }
        var models = Models()
        if let node = top["models"] {
            try collecting {
                let fields = try reader.mapping(node, allowed: ["imagebind", "decoder", "adapter"], what: "models")
                models.imagebind = try fields["imagebind"].map { try reader.located(reader.string($0, what: "models.imagebind"), at: $0) }
                models.decoder = try fields["decoder"].map { try reader.located(reader.string($0, what: "models.decoder"), at: $0) }
                models.adapter = try fields["adapter"].map { try reader.located(reader.string($0, what: "models.adapter"), at: $0) }
            }
        }

        guard let inputsNode = top["inputs"] else { throw reader.error(at: root, "the job has no 'inputs' (what the cells run over)") }
        var inputs: [InputSpec] = []
        var inputProblems = 0
        for (key, value, keyNode) in try reader.orderedMapping(inputsNode, what: "inputs") {
            do {
                inputs.append(try parseInput(name: key, node: value, at: keyNode, reader: reader))
            } catch let problem as JobError {
                problems.append(problem)
                inputProblems += 1
            }
        }
        guard !inputs.isEmpty || inputProblems > 0 else { throw reader.error(at: inputsNode, "'inputs' is empty") }

        var items = Located(value: inputs.first?.name ?? "", line: inputs.first?.line ?? 1, column: inputs.first?.column ?? 1)
        if let node = top["items"] {
            try collecting { items = try reader.located(reader.string(node, what: "items"), at: node) }
        } else if inputs.count + inputProblems > 1 {
            problems.append(reader.error(at: inputsNode, "several inputs: say which one the cells run over with 'items: NAME'"))
        }

        var parameters: [String: Double] = [:]
        if let node = top["parameters"] {
            for (key, value, _) in try reader.orderedMapping(node, what: "parameters") {
                guard let number = value.float else {
                    problems.append(reader.error(at: value, "parameter '\(key)' must be a number"))
                    continue
                }
                parameters[key] = number
            }
        }

        guard let cellsNode = top["cells"] else { throw reader.error(at: root, "the job has no 'cells'") }
        var cells: [CellSpec] = []
        var unreadableCells: Set<String> = []
        for (key, value, keyNode) in try reader.orderedMapping(cellsNode, what: "cells") {
            do {
                cells.append(try parseCell(name: key, node: value, at: keyNode, reader: reader))
            } catch let problem as JobError {
                problems.append(problem)
                unreadableCells.insert(key)
            }
        }
        let jobName = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
        var output = "out/\(jobName)"
        if let node = top["output"] { try collecting { output = try reader.string(node, what: "output") } }
        var file = JobFile(
            path: path, directory: directory.isEmpty ? "." : directory, models: models, inputs: inputs, items: items, output: output,
            parameters: parameters, cells: cells)
        file.problems = problems
        file.unreadableCells = unreadableCells
        return file
    }

    private static func parseInput(name: String, node: Node, at keyNode: Node, reader: NodeReader) throws -> InputSpec {
        let (line, column) = NodeReader.position(keyNode)
        let allowed = MediaKind.allCases.map(\.rawValue) + ["manifest", "recursive"]
        let fields = try reader.mapping(node, allowed: allowed, what: "input '\(name)'")
        let source: InputSpec.Source
        if let manifest = fields["manifest"] {
            guard fields.count == 1 else { throw reader.error(at: node, "input '\(name)': a manifest names the files itself; give 'manifest' alone") }
            source = .manifest(try reader.string(manifest, what: "manifest"))
        } else if let text = fields["text"], case .sequence = text {
            guard fields.count == 1 else { throw reader.error(at: node, "input '\(name)': a list of texts stands alone") }
            source = .texts(try reader.strings(text, what: "text"))
        } else {
            var patterns: [(MediaKind, String)] = []
            for kind in MediaKind.allCases {
                if let value = fields[kind.rawValue] { patterns.append((kind, try reader.string(value, what: "\(name).\(kind.rawValue)"))) }
            }
            guard !patterns.isEmpty else {
                throw reader.error(at: node, "input '\(name)' names no files: give a glob or folder per kind (image, video, audio, text, depth, thermal, imu), a manifest, or text: [...]")
            }
            let recursive = try fields["recursive"].map { try reader.bool($0, what: "recursive") } ?? false
            source = .files(patterns, recursive: recursive)
        }
        return InputSpec(name: name, source: source, line: line, column: column)
    }

    private static func parseCell(name: String, node: Node, at keyNode: Node, reader: NodeReader) throws -> CellSpec {
        let (line, column) = NodeReader.position(keyNode)
        let kinds = CellSpec.Kind.allCases.map(\.rawValue)
        let fields = try reader.mapping(node, allowed: kinds, what: "cell '\(name)'")
        guard fields.count == 1, let (kindName, value) = fields.first, let kind = CellSpec.Kind(rawValue: kindName) else {
            throw reader.error(at: node, "cell '\(name)' must have exactly one of: \(kinds.joined(separator: ", "))")
        }
        let body: CellSpec.Body = switch kind {
        case .encode: .encode(try .init(value, reader: reader))
        case .combine: .combine(try EmbeddingExpression.parse(value, reader: reader))
        case .generate: .generate(try .init(value, reader: reader))
        case .classify: .classify(try .init(value, reader: reader))
        case .retrieve: .retrieve(try .init(value, reader: reader))
        case .write: .write(try .init(value, reader: reader))
        }
        var cell = CellSpec(name: name, body: body, line: line, column: column)
        cell.values = NodeReader.scalars(in: value)
        return cell
    }
}

extension JobError {
    static func yaml(_ error: YamlError, file: String) -> JobError {
        switch error {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _), .composer(let context, let problem, let mark, _):
            // An unclosed bracket or quote is noticed lines later: point at where it was opened, and say where it was noticed.
            if let context, context.mark.line < mark.line {
                JobError(file: file, line: context.mark.line, column: context.mark.column,
                         message: "not valid YAML: \(context.text.replacingOccurrences(of: "while parsing ", with: "")) opened here is not closed (\(problem) at line \(mark.line), column \(mark.column))")
            } else {
                JobError(file: file, line: mark.line, column: mark.column, message: "not valid YAML: \(problem)")
            }
        default:
            JobError(file: file, line: 1, column: 1, message: "not valid YAML: \(error)")
        }
    }
}

/// Typed access to YAML nodes that reports every mistake at its place.
struct NodeReader {
    let file: String

    static func position(_ node: Node) -> (line: Int, column: Int) { node.mark.map { ($0.line, $0.column) } ?? (1, 1) }

    /// Every scalar under `node` with where its text starts (after an opening quote).
    static func scalars(in node: Node) -> [(text: String, line: Int, column: Int)] {
        switch node {
        case .scalar(let scalar):
            let (line, column) = position(node)
            let quoted = scalar.style == .singleQuoted || scalar.style == .doubleQuoted
            return [(scalar.string, line, column + (quoted ? 1 : 0))]
        case .mapping(let mapping): return mapping.flatMap { scalars(in: $0.value) }
        case .sequence(let sequence): return sequence.flatMap { scalars(in: $0) }
        default: return []
        }
    }

    func error(at node: Node, _ message: String) -> JobError {
        let (line, column) = Self.position(node)
        return JobError(file: file, line: line, column: column, message: message)
    }

    func located<T>(_ value: T, at node: Node) -> Located<T> {
        let (line, column) = Self.position(node)
        return Located(value: value, line: line, column: column)
    }

    /// A mapping whose keys must be among `allowed`; an unknown key is reported where it stands, with a suggestion.
    func mapping(_ node: Node, allowed: [String], what: String) throws -> [String: Node] {
        var result: [String: Node] = [:]
        for (key, value, keyNode) in try orderedMapping(node, what: what) {
            guard allowed.contains(key) else {
                throw error(at: keyNode, "unknown field '\(key)' in \(what)" + JobError.suggestion(for: key, among: allowed)
                    + "; allowed: \(allowed.joined(separator: ", "))")
            }
            result[key] = value
        }
        return result
    }

    func orderedMapping(_ node: Node, what: String) throws -> [(name: String, value: Node, key: Node)] {
        guard let mapping = node.mapping else { throw error(at: node, "\(what) must be a mapping of names to settings") }
        var seen = Set<String>()
        return try mapping.map { key, value in
            guard let name = key.string else { throw error(at: key, "\(what): names must be text") }
            guard seen.insert(name).inserted else { throw error(at: key, "\(what): '\(name)' appears twice") }
            return (name, value, key)
        }
    }

    func string(_ node: Node, what: String) throws -> String {
        guard case .scalar(let scalar) = node else { throw error(at: node, "\(what) must be a single value") }
        return scalar.string
    }

    func strings(_ node: Node, what: String) throws -> [String] {
        guard let sequence = node.sequence else { throw error(at: node, "\(what) must be a list") }
        return try sequence.map { try string($0, what: "an item of \(what)") }
    }

    func stringOrList(_ node: Node, what: String) throws -> [String] {
        if case .scalar = node { return [try string(node, what: what)] }
        return try strings(node, what: what)
    }

    func bool(_ node: Node, what: String) throws -> Bool {
        guard let value = node.bool else { throw error(at: node, "\(what) must be true or false") }
        return value
    }

    func int(_ node: Node, what: String, range: ClosedRange<Int>) throws -> Int {
        guard let value = node.int, range.contains(value) else {
            throw error(at: node, "\(what) must be a whole number from \(range.lowerBound) to \(range.upperBound == Int.max ? "any" : String(range.upperBound))")
        }
        return value
    }

    func number(_ node: Node, what: String, range: ClosedRange<Double>) throws -> Double {
        guard let value = node.float, range.contains(value) else { throw error(at: node, "\(what) must be a number from \(range.lowerBound) to \(range.upperBound)") }
        return value
    }

    func kind(_ node: Node, what: String) throws -> MediaKind {
        let name = try string(node, what: what)
        guard let kind = MediaKind(rawValue: name) else {
            throw error(at: node, "\(what): unknown kind '\(name)'" + JobError.suggestion(for: name, among: MediaKind.allCases.map(\.rawValue))
                + "; kinds: \(MediaKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return kind
    }
}

extension JobFile {
    /// Applies `--set name=value`: a job parameter takes another number for this run.
    public mutating func set(_ assignment: String) throws {
        let parts = assignment.split(separator: "=", maxSplits: 1).map(String.init)
        guard parts.count == 2, let value = Double(parts[1].trimmingCharacters(in: .whitespaces)) else {
            throw JobRunError.badOption("--set takes name=number, not '\(assignment)'")
        }
        let name = parts[0].trimmingCharacters(in: .whitespaces)
        guard parameters[name] != nil else {
            let known = parameters.keys.sorted()
            throw JobRunError.badOption(
                "--set: the job has no parameter '\(name)'" + JobError.suggestion(for: name, among: known)
                    + (known.isEmpty ? "; it declares none under 'parameters:'" : "; parameters: " + known.joined(separator: ", ")))
        }
        parameters[name] = value
    }
}
