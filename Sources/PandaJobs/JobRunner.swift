import Foundation
import PandaMedia
import PandaModels

public struct RunOptions: Sendable {
    public enum Progress: String, Sendable, CaseIterable { case bar, json, quiet }

    public var shard: Shard?
    public var retryFailed = false
    public var progress: Progress = .bar
    public var threads = ProcessInfo.processInfo.activeProcessorCount
    public var batchSize = 8

    public init() {}
}

public struct RunSummary: Sendable {
    public var items = 0
    /// Already committed by an earlier run of the same job on the same files: not touched.
    public var skipped = 0
    public var succeeded = 0
    public var failed = 0
    /// Cell results taken from the cache instead of running a model.
    public var cacheHits = 0
    public var modelRuns = 0
    public var generatedTokens = 0
    public var seconds = 0.0
    public var outputs: [String] = []
}

/// Runs a planned job: items in batches through the cells in dependency order, each item's result committed to the
/// record log as one line, model work looked up in the content-addressed cache first, models loaded only when the
/// cache cannot answer. A failing item becomes an error record and the run goes on.
public final class JobRunner {
    public let plan: JobPlan
    public let options: RunOptions
    private let store: ResultStore
    private let progress: ProgressReporter
    private var summary = RunSummary()

    private var embedderStorage: Embedder?
    private var pandaGPTStorage: PandaGPT?
    private var modelFingerprints: [String: String] = [:]
    private var galleries: [String: [(id: String, path: String?, embedding: [Float])]] = [:]
    private var jobFingerprint = ""

    public init(plan: JobPlan, options: RunOptions) throws {
        self.plan = plan
        self.options = options
        store = try ResultStore(outputDirectory: plan.outputDirectory, shard: options.shard)
        progress = ProgressReporter(mode: options.progress)
    }

    enum CellValue {
        case embedding([Float])
        case text(String)
        case labels([(label: String, probability: Float)])
        case neighbours([(id: String, score: Float)])
    }

    final class ItemState {
        let item: Item
        var sourceHashes: [MediaKind: String] = [:]
        var values: [String: CellValue] = [:]
        var outputs: [String: Any] = [:]
        var failure: (cell: String, message: String)?
        var started = Date()
        var key = ""
        init(item: Item) { self.item = item }
    }

    public func run() throws -> RunSummary {
        let started = Date()
        for (role, path) in [("imagebind", plan.imagebindPath), ("decoder", plan.decoderPath), ("adapter", plan.adapterPath)] {
            if let path { modelFingerprints[role] = try Fingerprint.ofModel(path) }
        }
        let jobText = (try? String(contentsOfFile: plan.job.path, encoding: .utf8)) ?? ""
        jobFingerprint = Fingerprint.of([jobText] + modelFingerprints.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" })

        let items = plan.items.filter { options.shard?.contains($0.id) ?? true }
        summary.items = items.count
        var committed = try store.committedRecords()
        progress.start(total: items.count)

        var pending: [ItemState] = []
        for item in items {
            let state = ItemState(item: item)
            do {
                try hashSources(state)
            } catch {
                state.failure = ("inputs", describe(error))
            }
            state.key = Fingerprint.of([jobFingerprint, item.id] + MediaKind.allCases.map { state.sourceHashes[$0] ?? "" })
            if let record = committed[item.id], record["key"] as? String == state.key, !(options.retryFailed && record["status"] as? String == "error") {
                summary.skipped += 1
                if record["status"] as? String == "error" { summary.failed += 1 } else { summary.succeeded += 1 }
                progress.item(id: item.id, status: "skipped", tokens: 0)
                continue
            }
            pending.append(state)
            if pending.count == options.batchSize {
                try process(pending, committed: &committed)
                pending.removeAll()
            }
        }
        if !pending.isEmpty { try process(pending, committed: &committed) }

        // Outputs from the records of exactly this run's items, in item order.
        // Nothing to rewrite when every item was already committed and the log and outputs are as a previous run left them.
        let records = items.compactMap { committed[$0.id] }
        let writer = OutputWriter(plan: plan, store: store, shard: options.shard)
        let unchanged = summary.skipped == items.count && store.loggedLines == records.count && writer.outputsExist
        if !unchanged { try store.compact(records) }
        summary.outputs = unchanged ? writer.outputPaths : try writer.write(records)
        summary.seconds = Date().timeIntervalSince(started)
        progress.finish(summary)
        if options.progress == .bar { printResults(records) }
        return summary
    }

    /// The text results of the first items on stdout, one line each, so a small job's answers can be read at once.
    private func printResults(_ records: [[String: Any]], limit: Int = 20) {
        let shown = plan.job.cells.filter {
            switch $0.body {
            case .generate, .classify, .retrieve: true
            default: false
            }
        }
        guard !shown.isEmpty else { return }
        var lines: [String] = []
        for record in records.prefix(limit) {
            let id = record["id"] as? String ?? ""
            if let error = record["error"] as? [String: String] {
                lines.append("\(id)  ✗ \(error["cell"] ?? ""): \(error["message"] ?? "")")
                continue
            }
            let cells = record["cells"] as? [String: Any] ?? [:]
            let parts = shown.map { "\($0.name): " + OutputWriter.summary(of: cells[$0.name] as? [String: Any] ?? [:]) }
            lines.append("\(id)  " + parts.joined(separator: " | "))
        }
        if records.count > limit { lines.append("… and \(records.count - limit) more in the outputs") }
        print(lines.joined(separator: "\n"))
    }

    // MARK: Items

    private func hashSources(_ state: ItemState) throws {
        for (kind, source) in state.item.sources {
            switch source {
            case .file(let path):
                guard FileManager.default.fileExists(atPath: path) else { throw MediaError.fileNotFound(path: path) }
                state.sourceHashes[kind] = try Fingerprint.ofFile(path)
            case .literal(let text):
                state.sourceHashes[kind] = Fingerprint.of(["literal", text])
            }
        }
    }

    private func process(_ batch: [ItemState], committed: inout [String: [String: Any]]) throws {
        for state in batch { state.started = Date() }
        for cell in plan.order {
            let live = batch.filter { $0.failure == nil }
            guard !live.isEmpty else { break }
            switch cell.body {
            case .encode(let encode): try runEncode(cell, encode, live)
            case .combine(let expression): try runCombine(cell, expression, live)
            case .generate(let generate): try runGenerate(cell, generate, live)
            case .classify(let classify): try runClassify(cell, classify, live)
            case .retrieve(let retrieve): try runRetrieve(cell, retrieve, live)
            case .write(let write): try runSidecars(cell, write, live)
            }
        }
        // Embeddings a write cell saves as .npy, kept in the cache under the item's record key.
        for cell in plan.job.cells {
            guard case .write(let write) = cell.body, let npy = write.npy else { continue }
            for state in batch where state.failure == nil {
                if let vector = embedding(npy.cell, of: state) { try store.storeEmbedding(OutputWriter.embeddingKey(recordKey: state.key, cell: npy.cell), vector) }
            }
        }
        for state in batch {
            var record: [String: Any] = [
                "id": state.item.id, "key": state.key, "status": state.failure == nil ? "ok" : "error",
                "files": Dictionary(uniqueKeysWithValues: state.item.sources.compactMap { kind, source -> (String, String)? in
                    if case .file(let path) = source { return (kind.rawValue, path) }
                    return nil
                }),
                "models": modelFingerprints, "seconds": (Date().timeIntervalSince(state.started) * 1000).rounded() / 1000,
            ]
            if case .literal(let text) = state.item.sources[.text] { record["text"] = text }
            if let failure = state.failure {
                record["error"] = ["cell": failure.cell, "message": failure.message]
                summary.failed += 1
            } else {
                summary.succeeded += 1
            }
            record["cells"] = state.outputs
            try store.commit(record)
            committed[state.item.id] = record
            progress.item(id: state.item.id, status: state.failure == nil ? "ok" : "error", tokens: (state.outputs.values.compactMap { ($0 as? [String: Any])?["tokens"] as? Int }).reduce(0, +),
                          error: state.failure.map { "\($0.cell): \($0.message)" })
        }
    }

    private func describe(_ error: Error) -> String { (error as? LocalizedError)?.errorDescription ?? "\(error)" }

    // MARK: Models, loaded on first need

    private func embedder() throws -> Embedder {
        if let embedderStorage { return embedderStorage }
        guard let path = plan.imagebindPath else { throw JobRunError.cell("models", "no ImageBind model given") }
        let embedder = try Embedder(path: path, threads: options.threads, batchSize: options.batchSize)
        embedderStorage = embedder
        return embedder
    }

    private func pandaGPT() throws -> PandaGPT {
        if let pandaGPTStorage { return pandaGPTStorage }
        guard let path = plan.decoderPath else { throw JobRunError.cell("models", "no decoder given") }
        let model = try PandaGPT(decoderPath: path, adapterPath: plan.adapterPath)
        pandaGPTStorage = model
        return model
    }

    // MARK: Cells

    private func embeddingKey(_ kind: MediaKind, sourceHash: String) -> String {
        Fingerprint.of(["embedding", kind.rawValue, modelFingerprints["imagebind"] ?? "", sourceHash])
    }

    private func runEncode(_ cell: CellSpec, _ encode: CellSpec.Encode, _ states: [ItemState]) throws {
        var misses: [(ItemState, PreparedInput, String)] = []
        for state in states {
            guard let source = state.item.sources[encode.kind], let hash = state.sourceHashes[encode.kind] else {
                state.failure = (cell.name, "item '\(state.item.id)' has no \(encode.kind.rawValue)")
                continue
            }
            let key = embeddingKey(encode.kind, sourceHash: hash)
            if let cached = store.cachedEmbedding(key) {
                state.values[cell.name] = .embedding(cached)
                summary.cacheHits += 1
                continue
            }
            do {
                let prepared: [PreparedInput]
                switch source {
                case .file(let path): prepared = try MediaInput.prepare(encode.kind, path: path)
                case .literal(let text): prepared = [.text(text)]
                }
                guard prepared.count == 1 else { throw JobRunError.cell(cell.name, "a .npy with a batch axis holds \(prepared.count) items; an item needs exactly one") }
                misses.append((state, prepared[0], key))
            } catch {
                state.failure = (cell.name, describe(error))
            }
        }
        guard !misses.isEmpty else { return }
        let embedder = try embedder()
        var embeddings: [[Float]?]
        do {
            embeddings = try embedder.embed(misses.map(\.1))
        } catch {
            // Isolate the item that fails.
            embeddings = misses.map { miss in
                do { return try embedder.embed([miss.1])[0] } catch {
                    miss.0.failure = (cell.name, describe(error))
                    return nil
                }
            }
        }
        summary.modelRuns += 1
        for ((state, _, key), embedding) in zip(misses, embeddings) {
            guard let embedding else { continue }
            try store.storeEmbedding(key, embedding)
            state.values[cell.name] = .embedding(embedding)
        }
    }

    private var textEmbeddings: [String: [Float]] = [:]

    private func textEmbedding(_ text: String) throws -> [Float] {
        if let known = textEmbeddings[text] { return known }
        let key = embeddingKey(.text, sourceHash: Fingerprint.of(["literal", text]))
        let embedding: [Float]
        if let cached = store.cachedEmbedding(key) {
            embedding = cached
        } else {
            embedding = try embedder().embed(texts: [text])[0]
            try store.storeEmbedding(key, embedding)
            summary.modelRuns += 1
        }
        textEmbeddings[text] = embedding
        return embedding
    }

    private func embedding(_ name: String, of state: ItemState) -> [Float]? {
        if case .embedding(let vector) = state.values[name] { return vector }
        return nil
    }

    private func runCombine(_ cell: CellSpec, _ expression: EmbeddingExpression, _ states: [ItemState]) throws {
        for state in states {
            do {
                let value = try expression.evaluate(
                    lookup: { name in
                        if let parameter = plan.job.parameters[name] { return .scalar(parameter) }
                        guard let vector = embedding(name, of: state) else { throw JobRunError.cell(cell.name, "'\(name)' has no embedding") }
                        return .vector(vector)
                    },
                    embedText: textEmbedding)
                guard case .vector(let vector) = value else { throw JobRunError.cell(cell.name, "the expression gives a number, not an embedding") }
                state.values[cell.name] = .embedding(vector)
            } catch let error as EmbeddingExpression.EvaluationError {
                state.failure = (cell.name, error.message)
            } catch {
                state.failure = (cell.name, describe(error))
            }
        }
    }

    private func templateValue(_ field: Template.Field, _ state: ItemState) -> String {
        switch field {
        case .item(let property):
            switch property {
            case "id": return state.item.id
            case "stem": return state.item.stem
            case "path": return state.item.primaryFile ?? ""
            case "text":
                if case .literal(let text) = state.item.sources[.text] { return text }
                if case .file(let path) = state.item.sources[.text] { return (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "" }
                return ""
            default:  // sidecar: the text file beside the item's first file
                guard let path = state.item.primaryFile else { return "" }
                let sidecar = (path as NSString).deletingPathExtension + ".txt"
                return (try? String(contentsOfFile: sidecar, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            }
        case .cell(let name, let property):
            switch state.values[name] {
            case .text(let text): return text
            case .labels(let labels): return property == "label" ? labels.first?.label ?? "" : labels.map(\.label).joined(separator: ", ")
            default: return ""
            }
        }
    }

    private func runGenerate(_ cell: CellSpec, _ generate: CellSpec.Generate, _ states: [ItemState]) throws {
        for state in states {
            do {
                let embeddings = try generate.embeddings.map { name in
                    guard let vector = embedding(name, of: state) else { throw JobRunError.cell(cell.name, "'\(name)' has no embedding") }
                    return vector
                }
                let prompts = generate.prompts.map { Template.render($0) { templateValue($0, state) } }
                let settings = "\(generate.maxTokens) \(generate.temperature) \(generate.topP) \(generate.topK) \(generate.seed)"
                let key = Fingerprint.of(
                    ["generate", modelFingerprints["decoder"] ?? "", modelFingerprints["adapter"] ?? "", settings] + embeddings.map { Fingerprint.of(floats: $0) } + prompts)
                var output: [String: Any]
                if let cached = store.cachedObject(key) {
                    output = cached
                    summary.cacheHits += 1
                } else {
                    let model = try pandaGPT()
                    let generation = PandaGPT.answerOptions(
                        maxNewTokens: generate.maxTokens,
                        sampling: SamplingOptions(temperature: generate.temperature, topK: generate.topK, topP: generate.topP, seed: generate.seed))
                    var history: [PandaGPT.Turn] = []
                    var tokens = 0
                    var seconds = 0.0
                    for prompt in prompts {
                        let answer = try model.answer(embeddings: embeddings, question: prompt, history: history, options: generation, threads: options.threads)
                        history.append(PandaGPT.Turn(question: prompt, answer: answer.text))
                        tokens += answer.tokens.count
                        seconds += answer.generationSeconds + answer.promptSeconds
                    }
                    output = [
                        "text": history.map(\.answer).joined(separator: "\n\n"),
                        "turns": history.map { ["prompt": $0.question, "answer": $0.answer] },
                        "tokens": tokens, "seconds": (seconds * 1000).rounded() / 1000,
                        "parameters": ["max_tokens": generate.maxTokens, "temperature": Double(generate.temperature), "top_p": Double(generate.topP),
                                       "top_k": generate.topK, "seed": Int(generate.seed)],
                    ]
                    try store.storeObject(key, output)
                    summary.modelRuns += 1
                    summary.generatedTokens += tokens
                }
                state.values[cell.name] = .text(output["text"] as? String ?? "")
                state.outputs[cell.name] = output
            } catch {
                state.failure = (cell.name, describe(error))
            }
        }
    }

    private func runClassify(_ cell: CellSpec, _ classify: CellSpec.Classify, _ states: [ItemState]) throws {
        let labels = try classify.labels.map(textEmbedding)
        for state in states {
            guard let vector = embedding(classify.embedding, of: state) else {
                state.failure = (cell.name, "'\(classify.embedding)' has no embedding")
                continue
            }
            let probabilities = EmbeddingSpace.zeroShot([vector], labels: labels)[0]
            let ranked = probabilities.indices.sorted { probabilities[$0] > probabilities[$1] }.prefix(classify.top)
            let result = ranked.map { (label: classify.labels[$0], probability: probabilities[$0]) }
            state.values[cell.name] = .labels(result)
            state.outputs[cell.name] = [
                "label": result[0].label, "labels": result.map { ["label": $0.label, "probability": Double($0.probability)] },
            ]
        }
    }

    private func gallery(_ retrieve: CellSpec.Retrieve) throws -> [(id: String, path: String?, embedding: [Float])] {
        let name = "\(retrieve.from)/\(retrieve.kind.rawValue)"
        if let known = galleries[name] { return known }
        var result: [(String, String?, [Float])] = []
        for item in plan.inputs[retrieve.from]!.items {
            guard let source = item.sources[retrieve.kind] else { continue }
            do {
                let hash: String
                let prepared: PreparedInput
                switch source {
                case .file(let path):
                    hash = try Fingerprint.ofFile(path)
                    if let cached = store.cachedEmbedding(embeddingKey(retrieve.kind, sourceHash: hash)) { result.append((item.id, path, cached)); continue }
                    prepared = try MediaInput.prepare(retrieve.kind, path: path)[0]
                case .literal(let text):
                    hash = Fingerprint.of(["literal", text])
                    if let cached = store.cachedEmbedding(embeddingKey(retrieve.kind, sourceHash: hash)) { result.append((item.id, nil, cached)); continue }
                    prepared = .text(text)
                }
                let embedding = try embedder().embed([prepared])[0]
                try store.storeEmbedding(embeddingKey(retrieve.kind, sourceHash: hash), embedding)
                result.append((item.id, item.primaryFile, embedding))
            } catch {
                progress.warning("retrieve: gallery item '\(item.id)' of '\(retrieve.from)' skipped: \(describe(error))")
            }
        }
        galleries[name] = result
        return result
    }

    private func runRetrieve(_ cell: CellSpec, _ retrieve: CellSpec.Retrieve, _ states: [ItemState]) throws {
        let candidates = try gallery(retrieve)
        for state in states {
            guard let vector = embedding(retrieve.embedding, of: state) else {
                state.failure = (cell.name, "'\(retrieve.embedding)' has no embedding")
                continue
            }
            let nearest = EmbeddingSpace.nearest(vector, in: candidates.map(\.embedding), k: retrieve.top)
            state.values[cell.name] = .neighbours(nearest.map { (candidates[$0.index].id, $0.score) })
            state.outputs[cell.name] = ["neighbours": nearest.map { match -> [String: Any] in
                var entry: [String: Any] = ["id": candidates[match.index].id, "score": Double(match.score)]
                if let path = candidates[match.index].path { entry["path"] = path }
                return entry
            }]
        }
    }

    /// Sidecar text files beside each item's first file, written before the item's record is committed; writing
    /// again after a crash leaves the same file (append and prepend do not repeat text already there).
    private func runSidecars(_ cell: CellSpec, _ write: CellSpec.Write, _ states: [ItemState]) throws {
        guard let sidecar = write.sidecar else { return }
        for state in states {
            guard case .text(let text) = state.values[sidecar.cell], let media = state.item.primaryFile else { continue }
            let path = (media as NSString).deletingPathExtension + "." + sidecar.extension
            let existing = try? String(contentsOfFile: path, encoding: .utf8)
            let content: String?
            switch sidecar.policy {
            case .skip: content = existing == nil ? text + "\n" : nil
            case .overwrite: content = text + "\n"
            case .append: content = existing.map { $0.hasSuffix(text + "\n") ? nil : $0 + text + "\n" } ?? text + "\n"
            case .prepend: content = existing.map { $0.hasPrefix(text + "\n") ? nil : text + "\n" + $0 } ?? text + "\n"
            }
            do {
                if let content { try content.write(toFile: path, atomically: true, encoding: .utf8) }
                state.outputs[cell.name] = ["sidecar": path, "written": content != nil]
            } catch {
                state.failure = (cell.name, "cannot write the sidecar \(path): \(describe(error))")
            }
        }
    }
}
