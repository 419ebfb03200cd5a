import Foundation
import PandaTestSupport
import Testing

/// A job over a big folder holds a bounded number of items in memory: what it keeps per committed item is a short
/// record, never an embedding or a model context.
@Suite("Jobs over many items", .serialized)
struct ScaleTests {
    let directory = TemporaryDirectory()

    init() throws {
        try FileManager.default.createDirectory(atPath: directory.file("notes"), withIntermediateDirectories: true)
        var generator = SystemRandomNumberGenerator()
        let words = ["red", "green", "blue", "circle", "square", "triangle", "small", "large", "bright", "dark", "tone", "picture"]
        for index in 0..<10_000 {
            let text = (0..<6).map { _ in words.randomElement(using: &generator)! }.joined(separator: " ") + " \(index)"
            try text.write(toFile: directory.file(String(format: "notes/note-%05d.txt", index)), atomically: false, encoding: .utf8)
        }
    }

    /// Runs the job, sampling its resident memory against the items done; returns the growth after `fraction` of
    /// the items were done, and the summary event.
    private func growth(of job: String, items: Int, after fraction: Double) throws -> (bytes: Int, samples: Int, summary: String) {
        try job.write(toFile: directory.file("job.yaml"), atomically: true, encoding: .utf8)
        let process = try Executable.start("panda-run", ["run", directory.file("job.yaml"), "--progress", "json", "-t", "2", "--limit", "\(items)"])
        var samples: [(done: Int, rss: Int)] = []
        while process.process.isRunning {
            let progress = process.standardErrorSoFar
            let done = progress.components(separatedBy: "\"event\":\"item\"").count - 1
            if let rss = process.residentBytes { samples.append((done, rss)) }
            Thread.sleep(forTimeInterval: 0.1)
        }
        let result = try process.result()
        #expect(result.status == 0, "\(result.stderr.suffix(500))")
        let summary = result.stderr.split(separator: "\n").last { $0.contains("\"event\":\"summary\"") }.map(String.init) ?? ""
        let settled = samples.first { $0.done >= Int(Double(items) * fraction) }?.rss ?? 0
        let peak = samples.filter { $0.done >= Int(Double(items) * fraction) }.map(\.rss).max() ?? 0
        return (peak - settled, samples.count, summary)
    }

    @Test("10,000 texts embedded and written: resident memory after the first tenth grows by less than 16 MB")
    func tenThousandItemsStayFlat() throws {
        let job = """
            models: {imagebind: \(repositoryRoot)/Weights/tiny-imagebind.panda}
            inputs:
              notes: {text: notes}
            output: out
            cells:
              meaning: {encode: text}
              kind: {classify: {embedding: meaning, labels: [a colour, a shape, a sound]}}
              save: {write: {jsonl: notes.jsonl, csv: notes.csv}}
            """
        let (growth, samples, summary) = try growth(of: job, items: 10_000, after: 0.1)
        #expect(summary.contains("\"succeeded\":10000"), "\(summary)")
        #expect(samples > 10, "too few samples of a run that short: \(samples)")
        // Keeping every item's 1024-float embedding in its committed record, as before, grew it by 4 KB per item.
        #expect(growth < 16 << 20, "grew by \(growth >> 20) MB after the first 1,000 items")
    }

    @Test("1,000 answers decoded 8 at a time: resident memory after the first fifth grows by less than 16 MB")
    func answersStayFlat() throws {
        let job = """
            models:
              imagebind: \(repositoryRoot)/Weights/tiny-imagebind.panda
              decoder: \(repositoryRoot)/Weights/tiny-vicuna.panda
              adapter: \(repositoryRoot)/Weights/tiny-pandagpt-delta.panda
            inputs:
              notes: {text: notes}
            output: answers
            cells:
              meaning: {encode: text}
              answer: {generate: {embedding: meaning, prompt: "What is it?", max_tokens: 2, batch: 8}}
              save: {write: {jsonl: answers.jsonl}}
            """
        let (growth, samples, summary) = try growth(of: job, items: 1_000, after: 0.2)
        #expect(samples > 10, "too few samples of a run that short: \(samples)")
        #expect(summary.contains("\"succeeded\":1000"), "\(summary)")
        #expect(growth < 16 << 20, "grew by \(growth >> 20) MB after the first 200 answers")
    }
}
