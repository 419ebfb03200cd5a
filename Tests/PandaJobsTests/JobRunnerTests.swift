import Foundation
import PandaFormat
import PandaJobs
import PandaKernels
import PandaMedia
import PandaModels
import PandaTestSupport
import Testing

/// Jobs run end to end on the tiny reference models and committed media, in a scratch folder.
@Suite("Job runner", .serialized)
struct JobRunnerTests {
    static let imagebind = ReferenceModels.imagebind
    static let decoder = ReferenceModels.decoder
    static let adapter = ReferenceModels.adapter

    let directory = TemporaryDirectory()

    init() throws {
        let media = Reference.path("../media")
        for folder in ["images", "sounds"] { try FileManager.default.createDirectory(atPath: directory.file(folder), withIntermediateDirectories: true) }
        for (source, target) in [("photo.jpg", "images/panda.jpg"), ("gray-portrait.jpg", "images/portrait.jpg"), ("truncated.jpg", "images/broken.jpg"),
                                 ("stereo-22k.wav", "sounds/panda.wav"), ("speech-16k.flac", "sounds/portrait.flac"), ("stereo-22k.wav", "sounds/broken.wav")] {
            try FileManager.default.copyItem(atPath: (media as NSString).appendingPathComponent(source), toPath: directory.file(target))
        }
    }

    private func job(prompt: String = "Describe {{item.stem}} ({{cells.kind.label}}).") -> String {
        """
        models:
          imagebind: \(Self.imagebind)
          decoder: \(Self.decoder)
          adapter: \(Self.adapter)
        inputs:
          scenes:
            image: images
            audio: sounds
        parameters:
          weight: 0.5
        output: out
        cells:
          picture: {encode: image}
          sound: {encode: audio}
          scene:
            combine: picture + weight * sound - text("daytime") + text("night")
          kind:
            classify: {embedding: picture, labels: [a panda, a person, a landscape], top: 2}
          story:
            generate:
              embedding: [picture, sound]
              turns: ["\(prompt)", "Now tell a story about it."]
              max_tokens: 10
          save:
            write:
              jsonl: story.jsonl
              csv: story.csv
              report: report.html
              npy: {cell: scene, file: scene.npy}
              sidecar: {cell: story, extension: txt, policy: overwrite}
        """
    }

    private func run(_ text: String, _ configure: (inout RunOptions) -> Void = { _ in }) throws -> RunSummary {
        let path = directory.file("job.yaml")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        var options = RunOptions()
        options.progress = .quiet
        options.threads = 2
        configure(&options)
        return try JobRunner(plan: JobPlan(JobFile.load(path: path)), options: options).run()
    }

    private func records(_ name: String = "out/story.jsonl") throws -> [[String: Any]] {
        try String(contentsOfFile: directory.file(name), encoding: .utf8).split(separator: "\n").map {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
        }
    }

    @Test("a run writes one record per item, isolates the broken file, and its answers are PandaGPT's for the summed embeddings")
    func runWritesEverything() throws {
        let summary = try run(job())
        #expect((summary.items, summary.succeeded, summary.failed) == (3, 2, 1))
        let records = try records()
        #expect(records.map { $0["id"] as? String } == ["broken", "panda", "portrait"])
        let broken = try #require(records.first)
        #expect(broken["status"] as? String == "error")
        #expect((broken["error"] as? [String: String])?["message"]?.contains("broken.jpg") == true)

        // The generate cell equals PandaGPT's answers for the same embeddings and prompts, turn by turn.
        let embedder = try Embedder(path: Self.imagebind, threads: 2)
        let pandaGPT = try PandaGPT(decoderPath: Self.decoder, adapterPath: Self.adapter)
        let embeddings = try embedder.embed([
            MediaInput.prepare(.image, path: directory.file("images/panda.jpg"))[0], MediaInput.prepare(.audio, path: directory.file("sounds/panda.wav"))[0],
        ])
        let story = try #require(((records[1]["cells"] as? [String: Any])?["story"] as? [String: Any]))
        let kind = try #require(((records[1]["cells"] as? [String: Any])?["kind"] as? [String: Any])?["label"] as? String)
        let options = PandaGPT.answerOptions(maxNewTokens: 10)
        let first = try pandaGPT.answer(embeddings: embeddings, question: "Describe panda (\(kind)).", options: options, threads: 2)
        let second = try pandaGPT.answer(
            embeddings: embeddings, question: "Now tell a story about it.", history: [PandaGPT.Turn(question: "Describe panda (\(kind)).", answer: first.text)],
            options: options, threads: 2)
        #expect(story["text"] as? String == first.text + "\n\n" + second.text)

        // Zero-shot labels, the sidecar, the aligned embeddings and the report.
        let labels = try #require(((records[1]["cells"] as? [String: Any])?["kind"] as? [String: Any])?["labels"] as? [[String: Any]])
        #expect(labels.count == 2 && (labels[0]["probability"] as! Double) >= (labels[1]["probability"] as! Double))
        #expect(try String(contentsOfFile: directory.file("images/panda.txt"), encoding: .utf8) == first.text + "\n\n" + second.text + "\n")
        let array = try NPYArray(path: directory.file("out/scene.npy"))
        #expect(array.shape == [2, 1024])
        #expect(try String(contentsOfFile: directory.file("out/scene.jsonl"), encoding: .utf8).contains("\"id\":\"portrait\",\"row\":1"))
        let report = try String(contentsOfFile: directory.file("out/report.html"), encoding: .utf8)
        #expect(report.contains("<img src=\"../images/panda.jpg\"") && report.contains("<audio src=\"../sounds/portrait.flac\"") && report.contains("broken JPEG"))
        let csv = try String(contentsOfFile: directory.file("out/story.csv"), encoding: .utf8)
        #expect(csv.hasPrefix("id,file,status,kind,story,error\n"))
    }

    @Test("rerunning an unchanged job does no model work; editing one prompt reruns only the generate cell")
    func cacheAndIncrementalReruns() throws {
        _ = try run(job())
        let again = try run(job())
        #expect(again.skipped == 3 && again.modelRuns == 0)
        let edited = try run(job(prompt: "What is {{item.stem}}?"))
        #expect(edited.skipped == 0)
        #expect(edited.cacheHits == 9)  // picture and sound for the two good items, the expression's two texts, three labels
        #expect(edited.modelRuns == 2)  // one generation per good item
        let story = try #require(((try records()[1]["cells"] as? [String: Any])?["story"] as? [String: Any])?["turns"] as? [[String: String]])
        #expect(story[0]["prompt"] == "What is panda?")
    }

    @Test("an item whose saved embedding is gone from the cache runs again instead of dropping out of the .npy")
    func missingSavedEmbeddingReruns() throws {
        _ = try run(job())
        try FileManager.default.removeItem(atPath: directory.file("out/.panda/cache"))
        let again = try run(job())
        #expect(again.skipped == 1 && again.succeeded == 2)  // the broken item's error record stands
        #expect(try NPYArray(path: directory.file("out/scene.npy")).shape == [2, 1024])
    }

    @Test("an item that crashed the process in a batch and again alone is recorded as failed, and the job goes on")
    func crashedItemIsRecordedAndSkipped() throws {
        // What the in-flight file holds when the process died in 'sound' while retrying 'panda' alone, after a batch
        // of both had died before.
        try FileManager.default.createDirectory(atPath: directory.file("out/.panda"), withIntermediateDirectories: true)
        try #"{"alone":"panda","cell":"sound","suspects":["panda","portrait"]}"#.write(toFile: directory.file("out/.panda/in-flight.json"), atomically: true, encoding: .utf8)
        let summary = try run(job())
        #expect(summary.succeeded == 1 && summary.failed == 2)
        let records = try records()
        let panda = try #require(records.first { $0["id"] as? String == "panda" })
        #expect(panda["status"] as? String == "error")
        #expect((panda["error"] as? [String: String])?["cell"] == "sound")
        #expect((panda["error"] as? [String: String])?["message"]?.hasPrefix("crashed the process") == true)
        #expect(records.first { $0["id"] as? String == "portrait" }?["status"] as? String == "ok")
        #expect(!FileManager.default.fileExists(atPath: directory.file("out/.panda/in-flight.json")))
        #expect(try run(job()).skipped == 3)
        let retried = try run(job()) { $0.retryFailed = true }
        #expect(retried.skipped == 1 && retried.succeeded == 2)  // panda runs again and succeeds
    }

    /// A copy of a model file with one NaN as the first value of `tensor` (an f32 tensor) and valid checksums: what
    /// converting a checkpoint that holds a NaN gives.
    private func withNaN(_ path: String, in tensor: String) throws -> String {
        let copy = directory.file("nan-" + (path as NSString).lastPathComponent)
        let source = try WeightFile(path: path)
        let writer = try WeightFileWriter(path: copy)
        for info in source.tensors {
            var data = try source.bytes(info.name).withUnsafeBytes { Data($0) }
            if info.name == tensor {
                #expect(info.dtype == .f32)
                data.replaceSubrange(0..<4, with: withUnsafeBytes(of: Float.nan.bitPattern.littleEndian) { Data($0) })
            }
            try data.withUnsafeBytes { try writer.add(name: info.name, dtype: info.dtype, shape: info.shape, bytes: $0) }
        }
        try writer.finish(metadata: source.metadata)
        return copy
    }

    /// A copy of a model file with one byte of `tensor` (stored raw) changed after conversion: damage only the chunk
    /// checksums can see.
    private func damaged(_ path: String, in tensor: String, copy: String? = nil) throws -> String {
        let copy = copy ?? directory.file("damaged-" + (path as NSString).lastPathComponent)
        if !FileManager.default.fileExists(atPath: copy) { try FileManager.default.copyItem(atPath: path, toPath: copy) }
        let info = try #require(try WeightFile(path: copy).tensors.first { $0.name == tensor })
        #expect(info.storage == .raw)
        let handle = try #require(FileHandle(forUpdatingAtPath: copy))
        try handle.seek(toOffset: UInt64(info.dataOffset))
        let byte = try #require(try handle.read(upToCount: 1)).first! ^ 0x40
        try handle.seek(toOffset: UInt64(info.dataOffset))
        try handle.write(contentsOf: Data([byte]))
        try handle.close()
        return copy
    }

    @Test("a model file damaged after conversion is refused before any item runs, naming the tensor; checked once per file")
    func damagedModelIsRefused() throws {
        let imagebind = try damaged(Self.imagebind, in: "modality_heads.vision.2.weight")
        #expect {
            try run(job().replacingOccurrences(of: Self.imagebind, with: imagebind))
        } throws: { error in
            (error as? LocalizedError)?.errorDescription?.contains("modality_heads.vision.2.weight") == true
        }
        // Checked once and recorded (later runs trust the record for a file of the same path, size, modification time
        // and header); a file changed since is checked again.
        let good = directory.file("good-imagebind.panda")
        try FileManager.default.copyItem(atPath: Self.imagebind, toPath: good)
        #expect(try run(job().replacingOccurrences(of: Self.imagebind, with: good)).succeeded == 2)
        let recorded = try JSONDecoder().decode([String].self, from: Data(contentsOf: URL(fileURLWithPath: directory.file("out/.panda/verified-models.json"))))
        #expect(recorded.count == 3)
        _ = try damaged(Self.imagebind, in: "modality_heads.vision.2.weight", copy: good)
        #expect(throws: FormatError.self) { try run(job().replacingOccurrences(of: Self.imagebind, with: good)) }
    }

    @Test("a NaN in a model's weights makes each item an error naming the model, not NaN embeddings or captions")
    func nonFiniteOutputsAreErrors() throws {
        let imagebind = try withNaN(Self.imagebind, in: "modality_heads.vision.2.weight")
        let decoder = try withNaN(Self.decoder, in: "model.norm.weight")
        let summary = try run(job().replacingOccurrences(of: Self.imagebind, with: imagebind))
        #expect(summary.succeeded == 0 && summary.failed == 3)
        for record in try records() where record["id"] as? String != "broken" {
            let error = try #require(record["error"] as? [String: String])
            #expect(error["cell"] == "picture" && error["message"]?.hasPrefix("\(imagebind): the model gave NaN or infinite image embedding") == true, "\(error)")
        }
        try FileManager.default.removeItem(atPath: directory.file("out"))
        _ = try run(job().replacingOccurrences(of: Self.decoder, with: decoder))
        for record in try records() where record["id"] as? String != "broken" {
            let error = try #require(record["error"] as? [String: String])
            #expect(error["cell"] == "story" && error["message"]?.contains("\(decoder) with ") == true && error["message"]?.contains("NaN or infinite logits") == true, "\(error)")
        }
    }

    @Test("sidecar 'overwrite' replaces only files this job wrote and keeps a user's, which the summary names; 'replace' replaces both")
    func overwriteKeepsUsersFiles() throws {
        let notes = directory.file("images/portrait.txt")
        try "my own notes\n".write(toFile: notes, atomically: true, encoding: .utf8)
        let first = try run(job())
        #expect(try String(contentsOfFile: notes, encoding: .utf8) == "my own notes\n")
        #expect(first.sidecarsLeftAlone == [notes])
        let written = try String(contentsOfFile: directory.file("images/panda.txt"), encoding: .utf8)
        let edited = try run(job(prompt: "What is {{item.stem}}?"))  // every item runs again
        #expect(try String(contentsOfFile: directory.file("images/panda.txt"), encoding: .utf8) != written)
        #expect(try String(contentsOfFile: notes, encoding: .utf8) == "my own notes\n" && edited.sidecarsLeftAlone == [notes])
        let replaced = try run(job(prompt: "What is {{item.stem}}?").replacingOccurrences(of: "policy: overwrite", with: "policy: replace"))
        #expect(try String(contentsOfFile: notes, encoding: .utf8) != "my own notes\n" && replaced.sidecarsLeftAlone.isEmpty)
    }

    private func plan(setting assignments: [String]) throws -> JobPlan {
        try job().write(toFile: directory.file("job.yaml"), atomically: true, encoding: .utf8)
        var file = try JobFile.load(path: directory.file("job.yaml"))
        for assignment in assignments { try file.set(assignment) }
        return try JobPlan(file)
    }

    @Test("--set gives a parameter another value: the records say which, and no record of the other value is kept as current")
    func setParameters() throws {
        _ = try run(job())
        let before = try NPYArray(path: directory.file("out/scene.npy"))
        #expect(try records().allSatisfy { ($0["parameters"] as? [String: Double]) == ["weight": 0.5] })
        var options = RunOptions()
        (options.progress, options.threads) = (.quiet, 2)
        let changed = try JobRunner(plan: plan(setting: ["weight=2"]), options: options).run()
        #expect(changed.skipped == 0 && changed.succeeded == 2)
        #expect(try records().filter { $0["status"] as? String == "ok" }.allSatisfy { ($0["parameters"] as? [String: Double]) == ["weight": 2] })
        #expect(try NPYArray(path: directory.file("out/scene.npy")).values != before.values)
        // Back to the job's own value: the items run again, from the cache, and give the first run's embeddings.
        let back = try run(job())
        #expect(back.skipped == 0 && back.modelRuns == 0)
        #expect(try NPYArray(path: directory.file("out/scene.npy")).values == before.values)
        #expect(throws: JobRunError.self) { try plan(setting: ["wieght=2"]) }
        #expect(throws: JobRunError.self) { try plan(setting: ["weight"]) }
    }

    @Test("--precision int8 embeds again instead of taking f32 embeddings from the cache, and its records stand apart; back at f32 the first records and embeddings return from the cache",
          .enabled(if: EncoderPrecision.int8.unavailableReason == nil, "oneDNN's int8 products need AVX2"))
    func precisionKeepsItsOwnCache() throws {
        let first = try run(job())
        let f32Scene = try NPYArray(path: directory.file("out/scene.npy"))
        let int8 = try run(job()) { $0.precision = .int8 }
        #expect(first.succeeded == 2 && int8.skipped == 0 && int8.succeeded == 2 && int8.modelRuns > 0, "\(int8)")
        let int8Scene = try NPYArray(path: directory.file("out/scene.npy"))
        #expect(int8Scene.values != f32Scene.values)
        #expect(cosineSimilarity(int8Scene.values, f32Scene.values) >= 0.999)
        let back = try run(job())
        #expect(back.skipped == 0 && back.modelRuns == 0, "\(back)")
        #expect(try NPYArray(path: directory.file("out/scene.npy")).values == f32Scene.values)
    }

    @Test("--limit runs the first N items; --cells runs only those cells and what they need, and the full job then runs the rest")
    func limitAndCells() throws {
        let limited = try run(job()) { $0.limit = 2 }
        #expect(try limited.items == 2 && records().count == 2)
        try FileManager.default.removeItem(atPath: directory.file("out"))
        let labelled = try run(job()) { $0.cells = ["kind"] }
        #expect(labelled.generatedTokens == 0)
        let cells = try records().compactMap { $0["status"] as? String == "ok" ? ($0["cells"] as? [String: Any]).map { Set($0.keys) } : nil }
        #expect(cells == [["kind"], ["kind"]])
        let whole = try run(job())
        #expect(whole.skipped == 0 && whole.generatedTokens > 0)
        #expect(throws: JobRunError.self) { try run(job()) { $0.cells = ["knid"] } }
    }

    @Test("the run's summary names the files that matched an input but became no item")
    func summaryNamesSkippedFiles() throws {
        try FileManager.default.copyItem(atPath: directory.file("images/panda.jpg"), toPath: directory.file("images/lonely.jpg"))
        let summary = try run(job())
        #expect(summary.items == 3 && summary.skippedFiles.count == 1 && summary.skippedFiles[0].hasPrefix("scenes: ") && summary.skippedFiles[0].contains("lonely.jpg"), "\(summary.skippedFiles)")
    }

    @Test("the summary names template fields that rendered empty, item by item")
    func emptyTemplateFieldsAreNamed() throws {
        try "notes about the panda".write(toFile: directory.file("images/panda.txt"), atomically: true, encoding: .utf8)
        let summary = try run(job(prompt: "Describe it ({{item.sidecar}})."))
        #expect(summary.emptyTemplateFields == ["portrait: {{item.sidecar}}"], "\(summary.emptyTemplateFields)")
    }

    @Test("two items whose files share a stem get sidecars of their own (x.jpg.txt, x.jpeg.txt); a lone file keeps photo.txt")
    func sameStemSidecars() throws {
        try FileManager.default.createDirectory(atPath: directory.file("shots"), withIntermediateDirectories: true)
        for name in ["x.jpg", "x.jpeg", "lone.jpg"] { try FileManager.default.copyItem(atPath: directory.file("images/panda.jpg"), toPath: directory.file("shots/" + name)) }
        let job = """
            models: {imagebind: \(Self.imagebind), decoder: \(Self.decoder), adapter: \(Self.adapter)}
            inputs:
              shots: {image: shots}
            output: out
            cells:
              picture: {encode: image}
              caption: {generate: {embedding: picture, prompt: "What is it?", max_tokens: 4}}
              save: {write: {sidecar: {cell: caption, policy: overwrite}}}
            """
        let summary = try run(job)
        #expect(summary.succeeded == 3)
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.file("shots")).filter { $0.hasSuffix(".txt") }.sorted()
        #expect(names == ["lone.txt", "x.jpeg.txt", "x.jpg.txt"])
    }

    @Test("failed items stay failed on a rerun until --retry-failed, which runs only them")
    func retryFailed() throws {
        _ = try run(job())
        try FileManager.default.removeItem(atPath: directory.file("images/broken.jpg"))
        try FileManager.default.copyItem(atPath: directory.file("images/panda.jpg"), toPath: directory.file("images/broken.jpg"))
        // The file changed, so its item is no longer the same work: it runs again anyway.
        let changed = try run(job())
        #expect(changed.failed == 0 && changed.skipped == 2)
        try FileManager.default.removeItem(atPath: directory.file("sounds/broken.wav"))
        #expect(FileManager.default.createFile(atPath: directory.file("sounds/broken.wav"), contents: Data()))
        #expect(try run(job()).failed == 1)
        #expect(try run(job()).skipped == 3)
        let retried = try run(job()) { $0.retryFailed = true }
        #expect(retried.skipped == 2 && retried.failed == 1)
    }

    @Test("shards split the items deterministically, and merging them gives the unsharded records")
    func shardsMerge() throws {
        _ = try run(job())
        let whole = try records()
        // A fresh start: without the records, the sidecars the first run wrote would now count as a user's files.
        try FileManager.default.removeItem(atPath: directory.file("out"))
        for name in ["panda.txt", "portrait.txt"] { try FileManager.default.removeItem(atPath: directory.file("images/" + name)) }
        var counts: [Int] = []
        for index in 0..<2 { counts.append(try run(job()) { $0.shard = Shard(index: index, count: 2) }.items) }
        #expect(counts.reduce(0, +) == 3)
        #expect(FileManager.default.fileExists(atPath: directory.file("out/story.shard-0-of-2.jsonl")))
        _ = try ShardMerger.merge(JobPlan(JobFile.load(path: directory.file("job.yaml"))))
        let merged = try records()
        #expect(merged.count == whole.count && zip(merged, whole).allSatisfy { sameJSON($0, $1) })
        #expect(Shard("3/4") == Shard(index: 3, count: 4) && Shard("4/4") == nil)
        #expect(Shard.fromEnvironment(["SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_COUNT": "4", "SLURM_ARRAY_TASK_MIN": "2"], kubernetesCount: nil) == Shard(index: 3, count: 4))
        #expect(Shard.fromEnvironment(["JOB_COMPLETION_INDEX": "1"], kubernetesCount: 3) == Shard(index: 1, count: 3))
    }
}
