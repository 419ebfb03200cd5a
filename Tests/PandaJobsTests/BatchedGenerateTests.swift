import Foundation
import PandaJobs
import PandaTestSupport
import Testing

/// A generate cell decodes its items' answers together, and no record can tell: the demo model over the eight
/// caption pictures, with their sidecars in the prompts (prompts of different lengths). Sequences that end at
/// different steps are BatchGenerationTests' part.
@Suite("Generate cells decode many items together", .serialized)
struct BatchedGenerateTests {
    let directory = TemporaryDirectory()

    init() throws {
        let photos = repositoryRoot + "/Jobs/media/photos"
        try FileManager.default.createDirectory(atPath: directory.file("photos"), withIntermediateDirectories: true)
        for name in try FileManager.default.contentsOfDirectory(atPath: photos) {
            try FileManager.default.copyItem(atPath: photos + "/" + name, toPath: directory.file("photos/" + name))
        }
    }

    private func job(output: String, batch: Int? = nil) -> String {
        let weights = repositoryRoot + "/Weights/"
        return """
            models:
              imagebind: \(weights)tiny-imagebind.panda
              decoder: \(weights)tiny-vicuna.panda
              adapter: \(weights)tiny-pandagpt-delta.panda
            inputs:
              photos: {image: photos}
            output: \(output)
            cells:
              picture: {encode: image}
              caption:
                generate:
                  embedding: picture
                  turns: ["{{item.sidecar}} What is in this image?", "And its colour?"]
                  max_tokens: 12
            \(batch.map { "      batch: \($0)" } ?? "")
              save: {write: {jsonl: captions.jsonl}}
            """
    }

    @discardableResult
    private func run(output: String, batch: Int? = nil, _ configure: (inout RunOptions) -> Void = { _ in }) throws -> RunSummary {
        let path = directory.file("job-\(output).yaml")
        try job(output: output, batch: batch).write(toFile: path, atomically: true, encoding: .utf8)
        var options = RunOptions()
        options.progress = .quiet
        options.threads = 2
        configure(&options)
        return try JobRunner(plan: JobPlan(JobFile.load(path: path)), options: options).run()
    }

    /// The records as JSON objects without their timings, which are the only thing allowed to differ.
    private func records(_ output: String) throws -> [NSDictionary] {
        try String(contentsOfFile: directory.file(output + "/captions.jsonl"), encoding: .utf8).split(separator: "\n").map { line in
            let record = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            return withoutSeconds(record) as! NSDictionary
        }
    }

    private func withoutSeconds(_ value: Any) -> Any {
        if let object = value as? [String: Any] {
            return object.filter { $0.key != "seconds" }.mapValues(withoutSeconds)
        }
        if let array = value as? [Any] { return array.map(withoutSeconds) }
        return value
    }

    @Test("two-turn captions decoded one at a time, 3 at a time (freed slots refilled) and 8 at a time give the same records")
    func batchSizesGiveTheSameRecords() throws {
        try run(output: "one") { $0.decodeBatch = 1 }
        try run(output: "three", batch: 3)
        let eight = try run(output: "eight") { $0.decodeBatch = 8 }
        #expect(eight.succeeded == 8 && eight.failed == 0)
        let alone = try records("one")
        #expect(alone.count == 8)
        #expect(try records("three") == alone)
        #expect(try records("eight") == alone)
    }

    @Test("a run begun one answer at a time and resumed in batches gives the records of a run done in batches")
    func resumedInBatchesMixesWithoutADifference() throws {
        try run(output: "batched") { $0.decodeBatch = 8 }
        try run(output: "mixed") {
            $0.decodeBatch = 1
            $0.limit = 3
        }
        let resumed = try run(output: "mixed") { $0.decodeBatch = 8 }
        #expect(resumed.skipped == 3 && resumed.succeeded == 8)
        #expect(try records("mixed") == records("batched"))
    }

    @Test("an item whose prompt does not fit the decoder fails alone; the others of its batch get the answers they get alone")
    func anItemThatFailsInABatchFailsAlone() throws {
        try run(output: "before") { $0.decodeBatch = 1 }
        // 2,100 words in photo-02's sidecar make its first prompt longer than the demo decoder's 2,048 positions.
        try String(repeating: "word ", count: 2100).write(toFile: directory.file("photos/photo-02.txt"), atomically: true, encoding: .utf8)
        let summary = try run(output: "after") { $0.decodeBatch = 8 }
        #expect(summary.failed == 1 && summary.succeeded == 7)
        let before = try records("before"), after = try records("after")
        for (old, new) in zip(before, after) {
            if new["id"] as? String == "photo-02" {
                let error = try #require(new["error"] as? [String: String])
                #expect(error["cell"] == "caption")
                #expect(error["message"]?.contains("capacity") == true, "\(error)")
            } else {
                #expect(new["cells"] as? NSDictionary == old["cells"] as? NSDictionary, "\(new["id"] ?? "")")
            }
        }
    }
}
