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
        let file = job.path
        func failure(_ line: Int, _ column: Int, _ message: String) -> JobError { JobError(file: file, line: line, column: column, message: message) }
        // Every check runs, and every problem is reported at once (with those found while reading the file).
        var problems = job.problems
        func collecting(_ check: () throws -> Void) throws {
            do { try check() } catch let problem as JobError { problems.append(problem) }
        }

        let cellsByName = Dictionary(uniqueKeysWithValues: job.cells.map { ($0.name, $0) })
        let inputNames = job.inputs.map(\.name)
        let itemsInput = job.inputs.first { $0.name == job.items.value }
        if itemsInput == nil && !job.items.value.isEmpty {
            problems.append(failure(job.items.line, job.items.column, "items: no input named '\(job.items.value)'" + JobError.suggestion(for: job.items.value, among: inputNames)))
        }

        func type(of cell: CellSpec) -> ValueType {
            switch cell.body {
            case .encode, .combine: .embedding
            case .generate: .text
            case .classify: .labels
            case .retrieve: .neighbours
            case .write: .files
            }
        }
        func reference(_ name: String, from cell: CellSpec, wanting wanted: [ValueType], parameters: Bool = false) throws {
            if parameters && job.parameters[name] != nil { return }
            if job.unreadableCells.contains(name) { return }  // already reported where it is written
            guard let target = cellsByName[name] else {
                let candidates = job.cells.map(\.name) + job.unreadableCells + (parameters ? Array(job.parameters.keys) : [])
                throw failure(cell.line, cell.column, "cell '\(cell.name)' uses '\(name)', which is no cell\(parameters ? " or parameter" : "")"
                    + JobError.suggestion(for: name, among: candidates))
            }
            guard wanted.contains(type(of: target)) else {
                throw failure(cell.line, cell.column, "cell '\(cell.name)' needs \(wanted.map(\.rawValue).joined(separator: " or ")) from '\(name)', but that \(target.kind.rawValue) cell gives \(type(of: target).rawValue)")
            }
        }

        // References and types.
        var dependencies: [String: [String]] = [:]
        for cell in job.cells {
          var uses: [String] = []
          defer { dependencies[cell.name] = uses }
          try collecting {
            guard cell.name.first.map({ $0.isLetter || $0 == "_" }) == true, cell.name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
                throw failure(cell.line, cell.column, "cell name '\(cell.name)' must be letters, digits and _ (it is used in expressions)")
            }
            guard job.parameters[cell.name] == nil else { throw failure(cell.line, cell.column, "'\(cell.name)' is both a cell and a parameter") }
            switch cell.body {
            case .encode(let encode):
                guard let itemsInput else { break }
                if case .texts = itemsInput.source, encode.kind != .text {
                    throw failure(cell.line, cell.column, "cell '\(cell.name)' encodes \(encode.kind.rawValue), but the items of '\(job.items.value)' are texts")
                }
                if case .files(let patterns, _) = itemsInput.source, !patterns.contains(where: { $0.kind == encode.kind }) {
                    throw failure(cell.line, cell.column, "cell '\(cell.name)' encodes \(encode.kind.rawValue), but input '\(job.items.value)' has no \(encode.kind.rawValue) files (it has \(patterns.map(\.kind.rawValue).joined(separator: ", ")))")
                }
            case .combine(let expression):
                for name in expression.names { try reference(name, from: cell, wanting: [.embedding], parameters: true) }
                uses = expression.names.filter { cellsByName[$0] != nil }
            case .generate(let generate):
                for name in generate.embeddings { try reference(name, from: cell, wanting: [.embedding]) }
                uses = generate.embeddings
                for prompt in generate.prompts {
                    for field in try Template.fields(in: prompt, file: file, line: cell.line, column: cell.column) {
                        if case .cell(let name, let property) = field {
                            try reference(name, from: cell, wanting: property == "label" ? [.labels] : [.text])
                            uses.append(name)
                        }
                    }
                }
            case .classify(let classify):
                try reference(classify.embedding, from: cell, wanting: [.embedding])
                uses = [classify.embedding]
            case .retrieve(let retrieve):
                try reference(retrieve.embedding, from: cell, wanting: [.embedding])
                guard inputNames.contains(retrieve.from) else {
                    throw failure(cell.line, cell.column, "cell '\(cell.name)' retrieves from '\(retrieve.from)', which is no input" + JobError.suggestion(for: retrieve.from, among: inputNames))
                }
                uses = [retrieve.embedding]
            case .write(let write):
                if let sidecar = write.sidecar { try reference(sidecar.cell, from: cell, wanting: [.text]); uses.append(sidecar.cell) }
                if let npy = write.npy { try reference(npy.cell, from: cell, wanting: [.embedding]); uses.append(npy.cell) }
                // Records include every other cell's result: write cells run last.
                uses += job.cells.filter { type(of: $0) != .files }.map(\.name)
            }
          }
        }

        // Dependency order; a cycle is reported at one of its cells.
        var order: [CellSpec] = []
        var state: [String: Int] = [:]  // 1: visiting, 2: done
        func visit(_ name: String, path: [String]) throws {
            if state[name] == 2 { return }
            let cell = cellsByName[name]!
            if state[name] == 1 {
                let cycle = path.drop { $0 != name } + [name]
                throw failure(cell.line, cell.column, "cells depend on each other in a cycle: \(cycle.joined(separator: " → "))")
            }
            state[name] = 1
            for dependency in dependencies[name]! where dependency != name { try visit(dependency, path: path + [name]) }
            state[name] = 2
            order.append(cell)
        }
        do {
            for cell in job.cells { try visit(cell.name, path: []) }
        } catch let cycle as JobError {
            problems.append(cycle)  // one cycle is enough: its cells stay half-visited
        }
        self.order = order
        self.dependencies = dependencies

        // Models: present when needed, and existing.
        let needsImageBind = job.cells.contains { if case .generate = $0.body { false } else if case .write = $0.body { false } else { true } }
        let needsDecoder = job.cells.contains { if case .generate = $0.body { true } else { false } }
        func model(_ located: Located<String>?, _ role: String, needed: Bool) throws -> String? {
            guard let located else {
                if needed { throw failure(1, 1, "models.\(role) is needed by this job's cells but not given") }
                return nil
            }
            let path = Inputs.absolute(located.value, in: job.directory)
            guard FileManager.default.fileExists(atPath: path) else { throw failure(located.line, located.column, "models.\(role): no such file '\(located.value)'") }
            return path
        }
        var paths: [String: String] = [:]
        for (located, role, needed) in [(job.models.imagebind, "imagebind", needsImageBind), (job.models.decoder, "decoder", needsDecoder), (job.models.adapter, "adapter", false)] {
            try collecting { paths[role] = try model(located, role, needed: needed) }
        }
        (imagebindPath, decoderPath, adapterPath) = (paths["imagebind"], paths["decoder"], paths["adapter"])
        problems += ModelCheck.problems(imagebind: imagebindPath, decoder: decoderPath, adapter: adapterPath, in: job)

        // Inputs: every one that is used.
        var used = Set([job.items.value])
        for cell in job.cells { if case .retrieve(let retrieve) = cell.body { used.insert(retrieve.from) } }
        var inputs: [String: ResolvedInput] = [:]
        for spec in job.inputs where used.contains(spec.name) {
            try collecting { inputs[spec.name] = try Inputs.resolve(spec, relativeTo: job.directory, file: file) }
        }
        self.inputs = inputs
        if !(job.output.hasPrefix("/") || !job.output.split(separator: "/").contains("..")) {
            problems.append(failure(1, 1, "output must stay inside the job's folder: '..' is not allowed in '\(job.output)'"))
        }
        outputDirectory = Inputs.absolute(job.output, in: job.directory)

        // Output file names stay inside the output directory.
        for cell in job.cells {
            guard case .write(let write) = cell.body else { continue }
            for name in [write.jsonl, write.csv, write.report, write.npy?.file].compactMap({ $0 }) where name.hasPrefix("/") || name.split(separator: "/").contains("..") {
                problems.append(failure(cell.line, cell.column, "output '\(name)' must be a path inside the output directory (no '/' at the start, no '..')"))
            }
        }
        try JobErrors.throwIfAny(problems)
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
            lines.append("cell \(cell.name): \(work)")
        }
        return lines.joined(separator: "\n")
    }
}

/// `{{…}}` fields of prompt templates.
public enum Template {
    public enum Field: Equatable, Sendable {
        case item(String)            // id, stem, path, text, sidecar
        case cell(String, String)    // cells.NAME.text / cells.NAME.label
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
