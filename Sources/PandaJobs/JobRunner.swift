import Foundation
import PandaFormat
import PandaMedia
import PandaKernels
import PandaModels

public struct RunOptions: Sendable {
    public enum Progress: String, Sendable, CaseIterable { case bar, json, quiet }

    public var shard: Shard?
    public var retryFailed = false
    public var progress: Progress = .bar
    public var threads = ProcessInfo.processInfo.activeProcessorCount
    public var batchSize = 8
    /// Answers a generate cell decodes together, unless the cell says; nil: what the decoder and the machine suit
    /// (`PandaGPT.automaticBatch`).
    public var decodeBatch: Int?
    /// Only the first this many items (after sharding), to try a job on a big archive.
    public var limit: Int?
    /// What ImageBind's linear layers multiply in; embeddings of another precision are cached apart.
    public var precision: EncoderPrecision = .f32
    /// Only these cells and the cells they need.
    public var cells: [String]?
    /// Checked between items: once it holds a signal, the run commits nothing more, writes its outputs and returns.
    public var stop: StopRequest?

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
    /// Existing files a sidecar was not written over: under `skip`, and under `overwrite` when this job had not
    /// written them.
    public var sidecarsLeftAlone: [String] = []
    /// Files that matched an input but are no item, with the input's name and why (`panda-run plan` lists them too).
    public var skippedFiles: [String] = []
    /// Template fields that rendered empty in a prompt ("photo-03: {{item.sidecar}}"): the prompt went out without them.
    public var emptyTemplateFields: [String] = []
    /// The signal that stopped the run before every item was done.
    public var interruptedBy: Int32?
    public var stages = StageSeconds()
}

/// Where a run's wall time went, by stage (what is left of `seconds` is loading models, the cache and bookkeeping).
public struct StageSeconds: Sendable, Equatable {
    /// Hashing the items' files for their keys.
    public var hashing = 0.0
    /// Decoding and preprocessing media for ImageBind.
    public var preparing = 0.0
    /// ImageBind.
    public var encoding = 0.0
    /// The decoder reading prompts (the feature token and the question).
    public var prompts = 0.0
    /// The decoder generating answers, all sequences of a batch together.
    public var generating = 0.0
    /// Writing the outputs (JSONL, CSV, sidecars, arrays, report).
    public var writing = 0.0
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
    private var embeddings: EmbeddingService!
    private var galleries: [String: [Candidate]] = [:]
    private var jobFingerprint = ""
    /// The cells this run runs, in order.
    private var cellOrder: [CellSpec] = []
    /// The records found at the start of the run, whatever their key: what earlier runs wrote.
    private var earlierRecords: [String: ItemRecord] = [:]
    /// Items of a batch that was in flight when an earlier run died, not yet retried alone.
    private var suspects: Set<String> = []
    /// Items that go through the cells together: `--batch-size`, or more when a generate cell asks to decode more
    /// answers together than that.
    private var itemBatch: Int {
        cellOrder.reduce(options.batchSize) { size, cell in
            if case .generate(let generate) = cell.body { return max(size, generate.batch ?? options.decodeBatch ?? 0) }
            return size
        }
    }

    public init(plan: JobPlan, options: RunOptions) throws {
        self.plan = plan
        self.options = options
        store = try ResultStore(outputDirectory: plan.outputDirectory, shard: options.shard)
        progress = ProgressReporter(mode: options.progress)
    }

    /// A retrieval candidate: a gallery item and its embedding.
    struct Candidate {
        var id: String
        var path: String?
        var vector: [Float]
    }

    final class ItemState {
        let item: Item
        var sourceHashes: [MediaKind: String] = [:]
        var results: [String: CellResult] = [:]
        var failure: ItemRecord.Failure?
        var started = Date()
        var key = ""
        init(item: Item) { self.item = item }

        func fail(_ cell: String, _ message: String) { failure = ItemRecord.Failure(cell: cell, message: message) }

        func embedding(_ cell: String) -> [Float]? {
            if case .embedding(let embedding) = results[cell] { return embedding.vector }
            return nil
        }
    }

    public func run() throws -> RunSummary {
        let started = Date()
        for (role, path) in modelPaths { modelFingerprints[role] = try Fingerprint.ofModel(path) }
        try verifyModelsOnce()
        // f32 keeps the key it always had, so earlier runs' embeddings are found again.
        let precisionTag = options.precision == .f32 ? "" : "/" + options.precision.arithmeticName
        embeddings = EmbeddingService(store: store, modelFingerprint: (modelFingerprints["imagebind"] ?? "") + precisionTag, loadEmbedder: embedder)
        cellOrder = try options.cells.map(plan.cells(needing:)) ?? plan.order
        let jobText = (try? String(contentsOfFile: plan.job.path, encoding: .utf8)) ?? ""
        // Parameters set on the command line and a subset of cells make other records than the job file alone.
        var settings = plan.job.parameters.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        if options.cells != nil { settings.append("cells=" + cellOrder.map(\.name).joined(separator: ",")) }
        if options.precision != .f32 { settings.append("precision=" + options.precision.arithmeticName) }
        jobFingerprint = Fingerprint.of([jobText] + modelFingerprints.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" } + settings)

        var items = plan.items.filter { options.shard?.contains($0.id) ?? true }
        if let limit = options.limit { items = Array(items.prefix(limit)) }
        summary.items = items.count
        summary.skippedFiles = plan.skippedFiles.map { "\($0.input): \($0.file)" }
        var committed = try store.committedRecords()
        earlierRecords = committed
        let crash = store.inFlight()
        suspects = Set(crash?.suspects ?? []).subtracting(committed.keys)
        progress.start(total: items.count)
        if !suspects.isEmpty {
            progress.warning("the last run stopped while \(suspects.count) items were in flight; they run one at a time now, so that one that crashes again is recorded as failed")
        }

        var pending: [ItemState] = []
        do {
            for item in items {
                try processItem(item, pending: &pending, committed: &committed, crash: crash)
            }
            if !pending.isEmpty { try process(pending, committed: &committed) }
            try store.clearInFlight()
        } catch JobRunError.interrupted {
            // The batch in flight is abandoned uncommitted; it runs again on resume, as if never started.
            try store.clearInFlight()
            summary.interruptedBy = options.stop?.signal
        }
        summary.cacheHits += embeddings.cacheHits
        summary.modelRuns += embeddings.modelRuns
        summary.stages.preparing = embeddings.preparingSeconds
        summary.stages.encoding = embeddings.encodingSeconds

        // Outputs from the records of exactly this run's items, in item order.
        // Nothing to rewrite when every item was already committed and the log and outputs are as a previous run left them.
        let records = items.compactMap { committed[$0.id] }
        let writer = OutputWriter(plan: plan, store: store, shard: options.shard)
        let unchanged = summary.skipped == items.count && store.loggedLines == records.count && writer.outputsExist
        if !unchanged { try store.compact(records) }
        let writingStarted = Date()
        summary.outputs = unchanged ? writer.outputPaths : try writer.write(records)
        summary.stages.writing = Date().timeIntervalSince(writingStarted)
        summary.seconds = Date().timeIntervalSince(started)
        if summary.interruptedBy != nil {
            progress.interrupted(summary, committed: records.count)
        } else {
            progress.finish(summary)
        }
        if options.progress == .bar { printResults(records) }
        return summary
    }

    /// Skips an item whose record is current, or runs it: alone if it was in flight when an earlier run died, or in
    /// a batch with the next ones.
    private func processItem(_ item: Item, pending: inout [ItemState], committed: inout [String: ItemRecord], crash: ResultStore.InFlight?) throws {
        if options.stop?.signal != nil { throw JobRunError.interrupted }
        let state = ItemState(item: item)
        // In a fixed order, and past a file that cannot be read, so that the item's key is the same on every run
        // (a dictionary's order is not).
        let hashingStarted = Date()
        for kind in MediaKind.allCases {
            guard let source = item.sources[kind] else { continue }
            do {
                state.sourceHashes[kind] = try EmbeddingService.sourceHash(source)
            } catch {
                if state.failure == nil { state.fail("inputs", describe(error)) }
            }
        }
        summary.stages.hashing += Date().timeIntervalSince(hashingStarted)
        state.key = Fingerprint.of([jobFingerprint, item.id] + MediaKind.allCases.map { state.sourceHashes[$0] ?? "" })
        if let record = committed[item.id], record.key == state.key, !(options.retryFailed && record.status == .error), hasSavedEmbeddings(record) {
            summary.skipped += 1
            if record.status == .error { summary.failed += 1 } else { summary.succeeded += 1 }
            progress.skipped(id: item.id)
            return
        }
        if let crash, item.id == crash.alone {
            // It took the process down in a batch and again alone: record it and go on, so the job can finish.
            state.fail(crash.cell ?? "inputs", "crashed the process, in a batch and then alone; not tried again unless --retry-failed")
            try commit(state, committed: &committed)
            suspects.remove(item.id)
        } else if suspects.contains(item.id) {
            try process([state], committed: &committed)
            suspects.remove(item.id)
        } else {
            pending.append(state)
            if pending.count == itemBatch {
                try process(pending, committed: &committed)
                pending.removeAll()
            }
        }
    }

    private var modelPaths: [(role: String, path: String)] {
        [("imagebind", plan.imagebindPath), ("decoder", plan.decoderPath), ("adapter", plan.adapterPath)].compactMap { role, path in path.map { (role, $0) } }
    }

    /// Checks every chunk checksum of each model file the first time this job uses it (recorded under `.panda/`, so
    /// later runs and resumes skip it): loading maps the weights without reading them, so damage that keeps the
    /// values finite would otherwise give wrong answers without a word.
    private func verifyModelsOnce() throws {
        var verified = store.verifiedModels()
        let before = verified.count
        for (role, path) in modelPaths {
            let identity = try Fingerprint.ofModelFile(path, fingerprint: modelFingerprints[role]!)
            guard !verified.contains(identity) else { continue }
            if let failure = try WeightFile(path: path).verify().first { throw failure }
            verified.insert(identity)
        }
        if verified.count > before { try store.recordVerifiedModels(verified) }
    }

    /// Whether the embeddings the job's `.npy` outputs take from a successful record are in the cache. A record from
    /// before records named their embeddings, or whose cache was deleted, is run again rather than left out of the array.
    private func hasSavedEmbeddings(_ record: ItemRecord) -> Bool {
        guard record.status == .ok else { return true }
        return plan.job.cells.allSatisfy { cell in
            guard case .write(let write) = cell.body, let npy = write.npy else { return true }
            guard case .embedding(let embedding) = record.cells[npy.cell] else { return false }
            return store.hasEmbedding(embedding.key)
        }
    }

    /// The text results of the first items on stdout, one line each, so a small job's answers can be read at once.
    private func printResults(_ records: [ItemRecord], limit: Int = 20) {
        let shown = plan.job.cells.filter(\.hasTextResult)
        guard !shown.isEmpty else { return }
        var lines: [String] = []
        for record in records.prefix(limit) {
            if let error = record.error {
                lines.append("\(record.id)  ✗ \(error.cell): \(error.message)")
                continue
            }
            let parts = shown.map { "\($0.name): " + (record.cells[$0.name]?.summary ?? "") }
            lines.append("\(record.id)  " + parts.joined(separator: " | "))
        }
        if records.count > limit { lines.append("… and \(records.count - limit) more in the outputs") }
        print(lines.joined(separator: "\n"))
    }

    // MARK: Items

    /// Runs a batch through the cells and commits its records. A suspect of an earlier crash comes alone, and the
    /// in-flight file names it and its cell, so that a second crash is pinned on it.
    private func process(_ batch: [ItemState], committed: inout [String: ItemRecord]) throws {
        progress.working()
        let alone = batch.count == 1 && suspects.contains(batch[0].item.id) ? batch[0].item.id : nil
        var inFlight = ResultStore.InFlight(suspects: suspects.union(batch.map(\.item.id)).sorted(), alone: alone)
        try store.markInFlight(inFlight)
        for state in batch { state.started = Date() }
        for cell in cellOrder {
            let live = batch.filter { $0.failure == nil }
            guard !live.isEmpty else { break }
            if options.stop?.signal != nil { throw JobRunError.interrupted }
            if alone != nil {
                inFlight.cell = cell.name
                try store.markInFlight(inFlight)
            }
            switch cell.body {
            case .encode(let encode): try runEncode(cell, encode, live)
            case .combine(let expression): try runCombine(cell, expression, live)
            case .generate(let generate): try runGenerate(cell, generate, live)
            case .classify(let classify): try runClassify(cell, classify, live)
            case .retrieve(let retrieve): try runRetrieve(cell, retrieve, live)
            case .write(let write): try runSidecars(cell, write, live)
            }
        }
        for state in batch { try commit(state, committed: &committed) }
    }

    private func commit(_ state: ItemState, committed: inout [String: ItemRecord]) throws {
        var files: [String: String] = [:]
        for case let (kind, .file(path)) in state.item.sources { files[kind.rawValue] = plan.recordedPath(path) }
        var text: String?
        if case .literal(let literal) = state.item.sources[.text] { text = literal }
        let record = ItemRecord(
            id: state.item.id, key: state.key, status: state.failure == nil ? .ok : .error, files: files, models: modelFingerprints,
            seconds: (Date().timeIntervalSince(state.started) * 1000).rounded() / 1000, parameters: plan.job.parameters.isEmpty ? nil : plan.job.parameters,
            text: text, error: state.failure, cells: state.results.mapValues(\.withoutVector))
        if state.failure == nil { summary.succeeded += 1 } else { summary.failed += 1 }
        try store.commit(record)
        committed[state.item.id] = record
        progress.item(id: state.item.id, status: record.status.rawValue, tokens: record.generatedTokens, error: state.failure.map { "\($0.cell): \($0.message)" })
    }

    private func describe(_ error: Error) -> String { (error as? LocalizedError)?.errorDescription ?? "\(error)" }

    // MARK: Models, loaded on first need

    private func embedder() throws -> Embedder {
        if let embedderStorage { return embedderStorage }
        guard let path = plan.imagebindPath else { throw JobRunError.cell("models", "no ImageBind model given") }
        let embedder = try Embedder(path: path, threads: options.threads, precision: options.precision)
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

    private func runEncode(_ cell: CellSpec, _ encode: CellSpec.Encode, _ states: [ItemState]) throws {
        var requests: [(state: ItemState, request: EmbeddingService.Request)] = []
        for state in states {
            guard let source = state.item.sources[encode.kind], let hash = state.sourceHashes[encode.kind] else {
                state.fail(cell.name, "item '\(state.item.id)' has no \(encode.kind.rawValue)")
                continue
            }
            requests.append((state, .init(kind: encode.kind, source: source, sourceHash: hash)))
        }
        guard !requests.isEmpty else { return }
        for ((state, _), result) in zip(requests, try embeddings.embed(requests.map(\.request))) {
            switch result {
            case .success(let embedding): state.results[cell.name] = .embedding(embedding)
            case .failure(let error): state.fail(cell.name, describe(error))
            }
        }
    }

    private func runCombine(_ cell: CellSpec, _ expression: EmbeddingExpression, _ states: [ItemState]) throws {
        for state in states {
            do {
                let value = try expression.evaluate(
                    lookup: { name in
                        if let parameter = plan.job.parameters[name] { return .scalar(parameter) }
                        guard let vector = state.embedding(name) else { throw JobRunError.cell(cell.name, "'\(name)' has no embedding") }
                        return .vector(vector)
                    },
                    embedText: { try self.embeddings.text($0).vector })
                guard case .vector(let vector) = value else { throw JobRunError.cell(cell.name, "the expression gives a number, not an embedding") }
                guard vector.allSatisfy(\.isFinite) else { throw JobRunError.cell(cell.name, "the expression gives NaN or infinite values") }
                // Stored under its own content, so the record can name it like any other embedding.
                let key = Fingerprint.of(floats: vector)
                try store.storeEmbedding(key, vector)
                state.results[cell.name] = .embedding(Embedding(key: key, vector: vector))
            } catch let error as EmbeddingExpression.EvaluationError {
                state.fail(cell.name, error.message)
            } catch {
                state.fail(cell.name, describe(error))
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
                let sidecar = sidecarBase(path) + ".txt"
                return (try? String(contentsOfFile: sidecar, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            }
        case .cell(let name, let property):
            switch state.results[name] {
            case .generation(let generation): return generation.text
            case .classification(let classification):
                return property == "label" ? classification.label : classification.labels.map(\.label).joined(separator: ", ")
            default: return ""
            }
        }
    }

    /// One item's conversation in a generate cell: its feature embeddings, its rendered prompts (one per turn) and
    /// the answers so far.
    private struct Conversation {
        let state: ItemState
        let embeddings: [[Float]]
        let prompts: [String]
        let key: String
        var history: [PandaGPT.Turn] = []
        var tokens = 0
        var seconds = 0.0
    }

    /// Answers every item's prompts, the items' answers decoded together turn by turn (each answer is the one the
    /// item gets alone, so batching changes no record and no cache key); an item whose answer fails fails alone.
    private func runGenerate(_ cell: CellSpec, _ generate: CellSpec.Generate, _ states: [ItemState]) throws {
        if options.stop?.signal != nil { throw JobRunError.interrupted }
        let parameters = CellResult.Generation.Parameters(
            maxTokens: generate.maxTokens, temperature: Double(generate.temperature), topP: Double(generate.topP), topK: generate.topK, seed: Int(generate.seed))
        var conversations: [Conversation] = []
        for state in states {
            do {
                let embeddings = try generate.embeddings.map { name in
                    guard let vector = state.embedding(name) else { throw JobRunError.cell(cell.name, "'\(name)' has no embedding") }
                    return vector
                }
                let prompts = generate.prompts.map { prompt in
                    Template.render(prompt) { field in
                        let value = templateValue(field, state)
                        if value.isEmpty { summary.emptyTemplateFields.append("\(state.item.id): {{\(field)}}") }
                        return value
                    }
                }
                let settings = "\(generate.maxTokens) \(generate.temperature) \(generate.topP) \(generate.topK) \(generate.seed)"
                let key = Fingerprint.of(
                    ["generate", modelFingerprints["decoder"] ?? "", modelFingerprints["adapter"] ?? "", settings] + embeddings.map { Fingerprint.of(floats: $0) } + prompts)
                if let cached = store.cachedObject(key, as: CellResult.Generation.self) {
                    state.results[cell.name] = .generation(cached)
                    summary.cacheHits += 1
                } else {
                    conversations.append(Conversation(state: state, embeddings: embeddings, prompts: prompts, key: key))
                }
            } catch {
                state.fail(cell.name, describe(error))
            }
        }
        guard !conversations.isEmpty else { return }
        let model: PandaGPT
        do {
            model = try pandaGPT()
        } catch {
            for conversation in conversations { conversation.state.fail(cell.name, describe(error)) }
            return
        }
        let answerOptions = PandaGPT.answerOptions(
            maxNewTokens: generate.maxTokens,
            sampling: SamplingOptions(temperature: generate.temperature, topK: generate.topK, topP: generate.topP, seed: generate.seed))
        let batch = generate.batch ?? options.decodeBatch ?? model.automaticBatch(positions: 256 + generate.maxTokens * generate.prompts.count)
        for turn in generate.prompts.indices {
            let questions = conversations.map { (embeddings: $0.embeddings, question: $0.prompts[turn], history: $0.history) }
            let answers: [Result<Generation, Error>]
            let started = Date()
            defer {
                // A batch's prompts are read one after another between its steps; the rest of its wall time is steps.
                let prompts = answers.reduce(0.0) { sum, answer in sum + ((try? answer.get().promptSeconds) ?? 0) }
                summary.stages.prompts += prompts
                summary.stages.generating += Date().timeIntervalSince(started) - prompts
            }
            do {
                answers = try model.answers(questions, options: answerOptions, threads: options.threads, batch: batch, shouldStop: { self.options.stop?.signal != nil })
            } catch {
                // The pass all answers share failed (out of memory for the batch's cache, say): each goes again alone.
                answers = questions.map { question in
                    Result { try model.answers([question], options: answerOptions, threads: options.threads, batch: 1, shouldStop: { self.options.stop?.signal != nil })[0].get() }
                }
            }
            var survivors: [Conversation] = []
            for (var conversation, answer) in zip(conversations, answers) {
                switch answer {
                case .success(let generation):
                    conversation.history.append(PandaGPT.Turn(question: conversation.prompts[turn], answer: generation.text))
                    conversation.tokens += generation.tokens.count
                    conversation.seconds += generation.generationSeconds + generation.promptSeconds
                    if generation.stopReason == .interrupted { continue }
                    survivors.append(conversation)
                case .failure(let error):
                    conversation.state.fail(cell.name, describe(error))
                }
            }
            let interrupted = answers.contains { if case .success(let generation) = $0 { generation.stopReason == .interrupted } else { false } }
            conversations = survivors
            if interrupted {
                // Conversations that were whole are kept in the cache, so a resumed run need not answer them again; a
                // cut-short answer is neither cached nor recorded: its item runs again on resume.
                if turn == generate.prompts.indices.last { for conversation in conversations { try finish(conversation, cell: cell, parameters: parameters) } }
                throw JobRunError.interrupted
            }
        }
        for conversation in conversations { try finish(conversation, cell: cell, parameters: parameters) }
    }

    private func finish(_ conversation: Conversation, cell: CellSpec, parameters: CellResult.Generation.Parameters) throws {
        let history = conversation.history
        let generation = CellResult.Generation(
            text: history.map(\.answer).joined(separator: "\n\n"), turns: history.map { .init(prompt: $0.question, answer: $0.answer) },
            tokens: conversation.tokens, seconds: (conversation.seconds * 1000).rounded() / 1000, parameters: parameters)
        try store.storeObject(conversation.key, generation)
        summary.modelRuns += 1
        summary.generatedTokens += conversation.tokens
        conversation.state.results[cell.name] = .generation(generation)
    }

    private func runClassify(_ cell: CellSpec, _ classify: CellSpec.Classify, _ states: [ItemState]) throws {
        let labels = try classify.labels.map { try embeddings.text($0).vector }
        for state in states {
            guard let vector = state.embedding(classify.embedding) else {
                state.fail(cell.name, "'\(classify.embedding)' has no embedding")
                continue
            }
            let probabilities = EmbeddingSpace.zeroShot([vector], labels: labels)[0]
            let ranked = probabilities.indices.sorted { probabilities[$0] > probabilities[$1] }.prefix(classify.top)
            let result = ranked.map { CellResult.Classification.Label(label: classify.labels[$0], probability: Double(probabilities[$0])) }
            state.results[cell.name] = .classification(.init(label: result[0].label, labels: result))
        }
    }

    /// The embeddings of a retrieval's candidates, computed once per run; a candidate that cannot be embedded is
    /// left out with a warning.
    private func gallery(_ retrieve: CellSpec.Retrieve) throws -> [Candidate] {
        let name = "\(retrieve.from)/\(retrieve.kind.rawValue)"
        if let known = galleries[name] { return known }
        var entries: [(id: String, path: String?, request: EmbeddingService.Request)] = []
        func skip(_ id: String, _ error: Error) {
            progress.warning("retrieve: gallery item '\(id)' of '\(retrieve.from)' skipped: \(describe(error))")
        }
        for item in plan.inputs[retrieve.from]!.items {
            guard let source = item.sources[retrieve.kind] else { continue }
            do {
                var path: String?
                if case .file(let file) = source { path = plan.recordedPath(file) }
                entries.append((item.id, path, .init(kind: retrieve.kind, source: source, sourceHash: try EmbeddingService.sourceHash(source))))
            } catch {
                skip(item.id, error)
            }
        }
        var candidates: [Candidate] = []
        // One candidate per model call, as galleries have always been embedded: in a batch ImageBind's GEMMs round
        // differently in the last bit, which would move the scores of existing records.
        for entry in entries {
            switch try embeddings.embed([entry.request])[0] {
            case .success(let embedding): candidates.append(Candidate(id: entry.id, path: entry.path, vector: embedding.vector))
            case .failure(let error): skip(entry.id, error)
            }
        }
        galleries[name] = candidates
        return candidates
    }

    private func runRetrieve(_ cell: CellSpec, _ retrieve: CellSpec.Retrieve, _ states: [ItemState]) throws {
        let candidates = try gallery(retrieve)
        for state in states {
            guard let vector = state.embedding(retrieve.embedding) else {
                state.fail(cell.name, "'\(retrieve.embedding)' has no embedding")
                continue
            }
            let nearest = EmbeddingSpace.nearest(vector, in: candidates.map(\.vector), k: retrieve.top)
            state.results[cell.name] = .retrieval(.init(neighbours: nearest.map { match in
                let candidate = candidates[match.index]
                return .init(id: candidate.id, path: candidate.path, score: Double(match.score))
            }))
        }
    }

    /// Sidecar text files beside each item's first file, written before the item's record is committed; writing
    /// again after a crash leaves the same file (append and prepend do not repeat text already there).
    private func runSidecars(_ cell: CellSpec, _ write: CellSpec.Write, _ states: [ItemState]) throws {
        guard let sidecar = write.sidecar else { return }
        for state in states {
            guard case .generation(let generation) = state.results[sidecar.cell], let media = state.item.primaryFile else { continue }
            let text = generation.text
            let path = sidecarBase(media) + "." + sidecar.extension
            let existing = try? String(contentsOfFile: path, encoding: .utf8)
            let content: String?
            switch sidecar.policy {
            case .skip: content = existing == nil ? text + "\n" : nil
            case .overwrite: content = existing == nil || wroteBefore(path, cell: cell.name, item: state.item.id) ? text + "\n" : nil
            case .replace: content = text + "\n"
            case .append: content = existing.map { $0.hasSuffix(text + "\n") ? nil : $0 + text + "\n" } ?? text + "\n"
            case .prepend: content = existing.map { $0.hasPrefix(text + "\n") ? nil : text + "\n" + $0 } ?? text + "\n"
            }
            do {
                if let content { try content.write(toFile: path, atomically: true, encoding: .utf8) }
                if content == nil && existing != nil && (sidecar.policy == .skip || sidecar.policy == .overwrite) { summary.sidecarsLeftAlone.append(path) }
                state.results[cell.name] = .sidecar(.init(sidecar: plan.recordedPath(path), written: content != nil))
            } catch {
                state.fail(cell.name, "cannot write the sidecar \(path): \(describe(error))")
            }
        }
    }

    /// Whether an earlier run of this job wrote the sidecar at `path` (its record log says so).
    private func wroteBefore(_ path: String, cell: String, item: String) -> Bool {
        guard case .sidecar(let outcome) = earlierRecords[item]?.cells[cell] else { return false }
        return outcome.sidecar == plan.recordedPath(path) && outcome.written
    }

    /// Items' first files that share a folder and a stem (`a.jpg` and `a.png`, separate items).
    private lazy var stemsOfSeveralFiles: Set<String> = {
        let bases = plan.items.compactMap(\.primaryFile).map { ($0 as NSString).deletingPathExtension }
        return Set(Dictionary(grouping: bases) { $0 }.filter { $0.value.count > 1 }.keys)
    }()

    /// A sidecar's path without its extension: `photo.txt` beside `photo.jpg`, but `a.jpg.txt` and `a.png.txt` when
    /// two items' files share the stem, so that neither writes or reads the other's.
    private func sidecarBase(_ media: String) -> String {
        let stem = (media as NSString).deletingPathExtension
        return stemsOfSeveralFiles.contains(stem) ? media : stem
    }
}
