import Foundation

/// The checks that make a `JobFile` a `JobPlan`, one step each. Every check runs and every problem is kept (with
/// those found while reading the file), so that `validate` reports them all at once.
struct JobChecks {
    let job: JobFile
    private(set) var problems: [JobError]
    private let cellsByName: [String: CellSpec]
    private let inputNames: [String]
    /// The input the cells run over, if `items` names one.
    private let itemsInput: InputSpec?

    init(job: JobFile) {
        self.job = job
        problems = job.problems
        cellsByName = Dictionary(uniqueKeysWithValues: job.cells.map { ($0.name, $0) })
        inputNames = job.inputs.map(\.name)
        itemsInput = job.inputs.first { $0.name == job.items.value }
        if itemsInput == nil && !job.items.value.isEmpty {
            problems.append(failure(job.items.line, job.items.column,
                                    "items: no input named '\(job.items.value)'" + JobError.suggestion(for: job.items.value, among: inputNames)))
        }
    }

    private func failure(_ line: Int, _ column: Int, _ message: String) -> JobError {
        JobError(file: job.path, line: line, column: column, message: message)
    }

    /// What each cell produces, for type checks.
    private func type(of cell: CellSpec) -> JobPlan.ValueType {
        switch cell.body {
        case .encode, .combine: .embedding
        case .generate: .text
        case .classify: .labels
        case .retrieve: .neighbours
        case .write: .files
        }
    }

    // MARK: Cells

    /// The cells each cell uses, checking every reference's existence and type.
    mutating func cellDependencies() -> [String: [String]] {
        var dependencies: [String: [String]] = [:]
        for cell in job.cells {
            var uses: [String] = []
            do { uses = try self.uses(of: cell) } catch let problem as JobError { problems.append(problem) } catch {}
            // A cell written wrongly is no cell (it was reported where it is written), so nothing waits for it.
            dependencies[cell.name] = uses.filter { cellsByName[$0] != nil }
        }
        return dependencies
    }

    private func uses(of cell: CellSpec) throws -> [String] {
        guard cell.name.first.map({ $0.isLetter || $0 == "_" }) == true, cell.name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
            throw failure(cell.line, cell.column, "cell name '\(cell.name)' must be letters, digits and _ (it is used in expressions)")
        }
        guard job.parameters[cell.name] == nil else { throw failure(cell.line, cell.column, "'\(cell.name)' is both a cell and a parameter") }
        switch cell.body {
        case .encode(let encode):
            guard let itemsInput else { return [] }
            if case .texts = itemsInput.source, encode.kind != .text {
                throw failure(cell.line, cell.column, "cell '\(cell.name)' encodes \(encode.kind.rawValue), but the items of '\(job.items.value)' are texts")
            }
            if case .files(let patterns, _) = itemsInput.source, !patterns.contains(where: { $0.kind == encode.kind }) {
                throw failure(cell.line, cell.column, "cell '\(cell.name)' encodes \(encode.kind.rawValue), but input '\(job.items.value)' has no \(encode.kind.rawValue) files (it has \(patterns.map(\.kind.rawValue).joined(separator: ", ")))")
            }
            return []
        case .combine(let expression):
            for name in expression.names { try reference(name, from: cell, wanting: [.embedding], parameters: true) }
            return expression.names.filter { cellsByName[$0] != nil }
        case .generate(let generate):
            for name in generate.embeddings { try reference(name, from: cell, wanting: [.embedding]) }
            var uses = generate.embeddings
            for prompt in generate.prompts {
                let (line, column) = cell.place(of: prompt)
                for field in try Template.fields(in: prompt, file: job.path, line: line, column: column) {
                    if case .cell(let name, let property) = field {
                        try reference(name, from: cell, wanting: property == "label" ? [.labels] : [.text])
                        uses.append(name)
                    }
                }
            }
            return uses
        case .classify(let classify):
            try reference(classify.embedding, from: cell, wanting: [.embedding])
            return [classify.embedding]
        case .retrieve(let retrieve):
            try reference(retrieve.embedding, from: cell, wanting: [.embedding])
            guard inputNames.contains(retrieve.from) else {
                let (line, column) = cell.place(of: retrieve.from)
                throw failure(line, column, "cell '\(cell.name)' retrieves from '\(retrieve.from)', which is no input" + JobError.suggestion(for: retrieve.from, among: inputNames))
            }
            return [retrieve.embedding]
        case .write(let write):
            var uses: [String] = []
            if let sidecar = write.sidecar { try reference(sidecar.cell, from: cell, wanting: [.text]); uses.append(sidecar.cell) }
            if let npy = write.npy { try reference(npy.cell, from: cell, wanting: [.embedding]); uses.append(npy.cell) }
            // Records include every other cell's result: write cells run last.
            return uses + job.cells.filter { type(of: $0) != .files }.map(\.name)
        }
    }

    private func reference(_ name: String, from cell: CellSpec, wanting wanted: [JobPlan.ValueType], parameters: Bool = false) throws {
        if parameters && job.parameters[name] != nil { return }
        if job.unreadableCells.contains(name) { return }  // already reported where it is written
        let (line, column) = cell.place(of: name)
        guard let target = cellsByName[name] else {
            let candidates = job.cells.map(\.name) + job.unreadableCells + (parameters ? Array(job.parameters.keys) : [])
            throw failure(line, column, "cell '\(cell.name)' uses '\(name)', which is no cell\(parameters ? " or parameter" : "")"
                + JobError.suggestion(for: name, among: candidates))
        }
        guard wanted.contains(type(of: target)) else {
            throw failure(line, column, "cell '\(cell.name)' needs \(wanted.map(\.rawValue).joined(separator: " or ")) from '\(name)', but that \(target.kind.rawValue) cell gives \(type(of: target).rawValue)")
        }
    }

    /// The cells in an order where each comes after everything it uses; a cycle is reported at one of its cells.
    mutating func order(_ dependencies: [String: [String]]) -> [CellSpec] {
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
        } catch {}
        return order
    }

    // MARK: Models, inputs, outputs

    /// The model files, present when a cell needs them, existing, and of the kinds and widths their slots need.
    mutating func modelPaths() -> (imagebind: String?, decoder: String?, adapter: String?) {
        let needsImageBind = job.cells.contains { if case .generate = $0.body { false } else if case .write = $0.body { false } else { true } }
        let needsDecoder = job.cells.contains { if case .generate = $0.body { true } else { false } }
        var paths: [String: String] = [:]
        for (located, role, needed) in [(job.models.imagebind, "imagebind", needsImageBind), (job.models.decoder, "decoder", needsDecoder), (job.models.adapter, "adapter", false)] {
            guard let located else {
                if needed { problems.append(failure(1, 1, "models.\(role) is needed by this job's cells but not given")) }
                continue
            }
            let path = Inputs.absolute(located.value, in: job.directory)
            guard FileManager.default.fileExists(atPath: path) else {
                problems.append(failure(located.line, located.column, "models.\(role): no such file '\(located.value)'"))
                continue
            }
            paths[role] = path
        }
        problems += ModelCheck.problems(imagebind: paths["imagebind"], decoder: paths["decoder"], adapter: paths["adapter"], in: job)
        return (paths["imagebind"], paths["decoder"], paths["adapter"])
    }

    /// Every input a cell runs over or retrieves from, resolved to items.
    mutating func usedInputs() -> [String: ResolvedInput] {
        var used = Set([job.items.value])
        for cell in job.cells { if case .retrieve(let retrieve) = cell.body { used.insert(retrieve.from) } }
        var inputs: [String: ResolvedInput] = [:]
        for spec in job.inputs where used.contains(spec.name) {
            do { inputs[spec.name] = try Inputs.resolve(spec, relativeTo: job.directory, file: job.path) } catch let problem as JobError { problems.append(problem) } catch {}
        }
        return inputs
    }

    /// The output folder, inside the job's folder, with every output file name inside it.
    mutating func outputDirectory() -> String {
        if !(job.output.hasPrefix("/") || !job.output.split(separator: "/").contains("..")) {
            problems.append(failure(1, 1, "output must stay inside the job's folder: '..' is not allowed in '\(job.output)'"))
        }
        for cell in job.cells {
            guard case .write(let write) = cell.body else { continue }
            for name in [write.jsonl, write.csv, write.report, write.npy?.file].compactMap({ $0 }) where name.hasPrefix("/") || name.split(separator: "/").contains("..") {
                problems.append(failure(cell.line, cell.column, "output '\(name)' must be a path inside the output directory (no '/' at the start, no '..')"))
            }
        }
        return Inputs.absolute(job.output, in: job.directory)
    }
}
