import ArgumentParser
import Foundation
import PandaJobs

/// Runner overhead: a job over many small text files, run cold (every item embedded) and again with everything
/// committed, where only hashing, the record log and the outputs cost anything.
struct JobBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jobs",
        abstract: "Job runner throughput: cold items/s and cached (unchanged rerun) items/s over many small files.",
        discussion: """
            Example:
              swift run -c release panda-bench jobs --imagebind Weights/tiny-imagebind.panda --items 10000
            """)

    @Option(help: "ImageBind .panda file (the tiny one is fine: this measures the runner, not the model).")
    var imagebind: String

    @Option(help: "Number of small text files.")
    var items = 10_000

    @Option(help: "How many unchanged reruns to time (the best is reported).")
    var reruns = 3

    @Option(help: "Directory for the temporary files.")
    var directory = NSTemporaryDirectory()

    func run() throws {
        let root = (directory as NSString).appendingPathComponent("panda-bench-jobs-\(ProcessInfo.processInfo.processIdentifier)")
        let notes = (root as NSString).appendingPathComponent("notes")
        try FileManager.default.createDirectory(atPath: notes, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let words = ["panda", "bamboo", "river", "mountain", "city", "night", "rain", "forest", "desert", "ocean"]
        for index in 0..<items {
            try "a photo of a \(words[index % 10]) number \(index)".write(toFile: (notes as NSString).appendingPathComponent(String(format: "note-%06d.txt", index)), atomically: false, encoding: .utf8)
        }
        let job = """
            models: {imagebind: \(URL(fileURLWithPath: imagebind).standardizedFileURL.path)}
            inputs:
              notes: {text: notes}
            output: out
            cells:
              words: {encode: text}
              save: {write: {jsonl: words.jsonl}}
            """
        let jobPath = (root as NSString).appendingPathComponent("job.yaml")
        try job.write(toFile: jobPath, atomically: true, encoding: .utf8)
        var options = RunOptions()
        options.progress = .quiet
        options.batchSize = 32
        func timed() throws -> (RunSummary, Double) {
            let start = Date()
            let summary = try JobRunner(plan: JobPlan(JobFile.load(path: jobPath)), options: options).run()
            return (summary, Date().timeIntervalSince(start))
        }
        let (cold, coldSeconds) = try timed()
        var (warm, warmSeconds) = try timed()
        for _ in 1..<max(reruns, 1) {
            let (summary, seconds) = try timed()
            if seconds < warmSeconds { (warm, warmSeconds) = (summary, seconds) }
        }
        print(String(format: "%d items, cold run: %.2f s (%.0f items/s, %d model batches)", cold.items, coldSeconds, Double(cold.items) / coldSeconds, cold.modelRuns))
        print(String(format: "unchanged rerun (best of \(max(reruns, 1))): %.2f s (%.0f items/s, %d skipped, %d model runs)  goal ≥ 5000 items/s",
                     warmSeconds, Double(warm.items) / warmSeconds, warm.skipped, warm.modelRuns))
    }
}
