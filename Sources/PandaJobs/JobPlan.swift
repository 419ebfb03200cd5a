import Foundation

/// A checked job: references resolved, cells in dependency order, model and input files found, items listed.
/// Everything here happens before any model is loaded.
public struct JobPlan: Sendable {
    public let job: JobFile
    /// Cells in an order where each comes after everything it uses.
    public let order: [CellSpec]
    /// The cells each cell uses, by name.
    public let dependencies: [String: [String]]
    public let inputs: [String: ResolvedInput]
    public let outputDirectory: String
    /// Absolute model paths.
    public let imagebindPath: String?
    public let decoderPath: String?
    public let adapterPath: String?

    public var items: [Item] { inputs[job.items.value]!.items }

    /// The named cells and every cell they need, in run order. An unknown name is an error naming the cells there are.
    public func cells(needing names: [String]) throws -> [CellSpec] {
        var wanted: Set<String> = []
        func add(_ name: String) {
            guard wanted.insert(name).inserted else { return }
            for dependency in dependencies[name] ?? [] { add(dependency) }
        }
        let known = job.cells.map(\.name)
        for name in names {
            guard known.contains(name) else {
                throw JobRunError.badOption("--cells: no cell named '\(name)'" + JobError.suggestion(for: name, among: known) + "; cells: " + known.joined(separator: ", "))
            }
            add(name)
        }
        return order.filter { wanted.contains($0.name) }
    }

    /// Every file that matched a used input but is no item, with its input's name and the reason, for the run's
    /// summary (`plan` lists them too).
    public var skippedFiles: [(input: String, file: SkippedFile)] {
        inputs.sorted { $0.key < $1.key }.flatMap { name, input in input.skipped.map { (name, $0) } }
    }

    /// What each cell produces, for type checks.
    enum ValueType: String { case embedding, text, labels, neighbours, files }

    public init(_ job: JobFile) throws {
        self.job = job
        var checks = JobChecks(job: job)
        dependencies = checks.cellDependencies()
        order = checks.order(dependencies)
        (imagebindPath, decoderPath, adapterPath) = checks.modelPaths()
        inputs = checks.usedInputs()
        outputDirectory = checks.outputDirectory()
        try JobErrors.throwIfAny(checks.problems)
    }

    /// A summary of what will run: items, every skipped file with the reason, cells.
    public func describe() -> String {
        var lines: [String] = []
        lines.append("job \(job.path)")
        lines.append("output \(outputDirectory)")
        for (name, input) in inputs.sorted(by: { $0.key < $1.key }) {
            lines.append("input \(name): \(input.items.count) items" + (input.skipped.isEmpty ? "" : ", \(input.skipped.count) files skipped"))
            for file in input.skipped { lines.append("  skipped \(file)") }
        }
        let count = items.count
        for cell in order {
            let work: String = switch cell.body {
            case .encode(let encode): "encode \(encode.kind.rawValue) × \(count)"
            case .combine: "combine × \(count)"
            case .generate(let generate): "generate ≤ \(generate.maxTokens) tokens × \(generate.prompts.count) turn(s) × \(count)"
            case .classify(let classify): "classify into \(classify.labels.count) labels × \(count)"
            case .retrieve(let retrieve): "retrieve top \(retrieve.top) of \(inputs[retrieve.from]?.items.count ?? 0) × \(count)"
            case .write(let write): "write " + [write.jsonl, write.csv, write.report, write.npy?.file, write.sidecar.map { "sidecars .\($0.extension) (\($0.policy.rawValue))" }].compactMap { $0 }.joined(separator: ", ")
            }
            let uses = Set(dependencies[cell.name] ?? []).sorted()
            lines.append("cell \(cell.name)" + (uses.isEmpty || cell.kind == .write ? "" : " (after \(uses.joined(separator: ", ")))") + ": \(work)")
        }
        lines.append("model work at most: " + modelWork(items: count))
        let log = (outputDirectory as NSString).appendingPathComponent(".panda/records.jsonl")
        if let data = FileManager.default.contents(atPath: log) {
            let committed = data.reduce(0) { $0 + ($1 == UInt8(ascii: "\n") ? 1 : 0) }
            lines.append("records: \(committed) committed by earlier runs; a run skips those whose files, job and models are unchanged")
        }
        return lines.joined(separator: "\n")
    }

    /// What the models would compute with nothing cached: ImageBind embeddings of items, gallery files and texts,
    /// and PandaGPT answers.
    private func modelWork(items count: Int) -> String {
        var itemEmbeddings = 0, texts = Set<String>(), galleries = Set<String>(), galleryFiles = 0, answers = 0
        for cell in job.cells {
            switch cell.body {
            case .encode: itemEmbeddings += count
            case .combine(let expression): texts.formUnion(expression.texts)
            case .generate(let generate): answers += count * generate.prompts.count
            case .classify(let classify): texts.formUnion(classify.labels)
            case .retrieve(let retrieve):
                if galleries.insert("\(retrieve.from)/\(retrieve.kind.rawValue)").inserted { galleryFiles += inputs[retrieve.from]?.items.count ?? 0 }
            case .write: break
            }
        }
        return "\(itemEmbeddings) item embeddings, \(galleryFiles) gallery embeddings, \(texts.count) text embeddings (labels and text(…)), \(answers) answers"
    }
}

/// `{{…}}` fields of prompt templates.
public enum Template {
    public enum Field: Equatable, Sendable, CustomStringConvertible {
        case item(String)            // id, stem, path, text, sidecar
        case cell(String, String)    // cells.NAME.text / cells.NAME.label

        /// As written between the braces.
        public var description: String {
            switch self {
            case .item(let property): "item.\(property)"
            case .cell(let name, let property): "cells.\(name).\(property)"
            }
        }
    }

    static let itemProperties = ["id", "stem", "path", "text", "sidecar"]

    static func fields(in template: String, file: String, line: Int, column: Int) throws -> [Field] {
        var fields: [Field] = []
        var rest = template[...]
        while let open = rest.range(of: "{{") {
            guard let close = rest[open.upperBound...].range(of: "}}") else {
                throw JobError(file: file, line: line, column: column, message: "unclosed '{{' in the prompt \(template.debugDescription)")
            }
            let name = rest[open.upperBound..<close.lowerBound].trimmingCharacters(in: .whitespaces)
            let parts = name.split(separator: ".").map(String.init)
            if parts.count == 2, parts[0] == "item", itemProperties.contains(parts[1]) {
                fields.append(.item(parts[1]))
            } else if parts.count == 3, parts[0] == "cells", ["text", "label"].contains(parts[2]) {
                fields.append(.cell(parts[1], parts[2]))
            } else {
                let known = itemProperties.map { "item.\($0)" } + ["cells.NAME.text", "cells.NAME.label"]
                throw JobError(file: file, line: line, column: column, message: "unknown template field '{{\(name)}}'" + JobError.suggestion(for: name, among: known)
                    + "; fields: \(known.joined(separator: ", "))")
            }
            rest = rest[close.upperBound...]
        }
        return fields
    }

    /// The template with every field replaced.
    static func render(_ template: String, value: (Field) -> String) -> String {
        var output = ""
        var rest = template[...]
        while let open = rest.range(of: "{{"), let close = rest[open.upperBound...].range(of: "}}") {
            output += rest[..<open.lowerBound]
            let parts = rest[open.upperBound..<close.lowerBound].trimmingCharacters(in: .whitespaces).split(separator: ".").map(String.init)
            output += value(parts.count == 2 ? .item(parts[1]) : .cell(parts[1], parts[2]))
            rest = rest[close.upperBound...]
        }
        return output + rest
    }
}
