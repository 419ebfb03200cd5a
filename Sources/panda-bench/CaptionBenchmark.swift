import ArgumentParser
import Foundation
import PandaJobs

/// End-to-end captioning: a caption job over a folder of pictures (cold cache: every picture decoded, embedded
/// and answered) against a straightforward PyTorch loop of PandaGPT's code on the same model, in the same run.
struct CaptionBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "caption",
        abstract: "Captioning items/s: a panda-run job against a PyTorch loop of PandaGPT's code, same model and pictures.",
        discussion: """
            Uses the demo model: its .panda files in Weights/ and the original checkpoints train_tiny.py wrote \
            (--checkpoints, default ~/.cache/panda/tiny-demo). Panda's time includes loading the models, hashing the \
            files and writing the outputs; PyTorch's loop excludes its model loading (reported apart).

            Example:
              swift run -c release panda-bench caption --folder Tests/Fixtures/demo/images --python ~/.cache/panda/refenv/bin/python
            """)

    @Option(help: "Folder of pictures.")
    var folder: String

    @Option(help: "Python with the reference environment.")
    var python = "python3"

    @Option(help: "The demo model's original checkpoints.")
    var checkpoints = NSString(string: "~/.cache/panda/tiny-demo").expandingTildeInPath

    @Option(help: "Folder holding tiny-imagebind.panda, tiny-vicuna.panda and tiny-pandagpt-delta.panda.")
    var weights = "Weights"

    @Option(help: "Threads for both.")
    var threads = ProcessInfo.processInfo.activeProcessorCount

    @Option(name: .customLong("max-tokens"), help: "Most tokens per caption.")
    var maxTokens = 16

    func run() throws {
        let root = NSTemporaryDirectory() + "panda-bench-caption-\(ProcessInfo.processInfo.processIdentifier)"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        func absolute(_ path: String) -> String { URL(fileURLWithPath: path).standardizedFileURL.path }
        let job = """
            models:
              imagebind: \(absolute(weights))/tiny-imagebind.panda
              decoder: \(absolute(weights))/tiny-vicuna.panda
              adapter: \(absolute(weights))/tiny-pandagpt-delta.panda
            inputs:
              pictures: {image: \(absolute(folder))}
            output: out
            cells:
              picture: {encode: image}
              caption: {generate: {embedding: picture, prompt: "What is in this image?", max_tokens: \(maxTokens)}}
              save: {write: {jsonl: captions.jsonl}}
            """
        try job.write(toFile: root + "/job.yaml", atomically: true, encoding: .utf8)
        var options = RunOptions()
        options.progress = .quiet
        options.threads = threads
        let start = Date()
        let summary = try JobRunner(plan: JobPlan(JobFile.load(path: root + "/job.yaml")), options: options).run()
        let pandaSeconds = Date().timeIntervalSince(start)

        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Converters/reference/bench_caption.py").standardizedFileURL.path
        let output = root + "/torch.json"
        let torchRun = try ChildProcess.run([python, script, checkpoints, absolute(folder), String(threads), String(maxTokens)], standardOutput: output)
        guard torchRun.status == 0, let torch = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: output))) as? [String: Any],
              let torchRate = torch["items_per_second"] as? Double, let answers = torch["answers"] as? [String]
        else { throw ValidationError("bench_caption.py failed") }

        let records = try String(contentsOfFile: root + "/out/captions.jsonl", encoding: .utf8).split(separator: "\n").map {
            try JSONDecoder().decode(ItemRecord.self, from: Data($0.utf8))
        }
        let pandaAnswers = records.map { record in
            if case .generation(let caption) = record.cells["caption"] { caption.text } else { "" }
        }
        let pandaRate = Double(summary.items) / pandaSeconds
        print(String(format: "%d pictures, %d thread(s), ≤ %d tokens each", summary.items, threads, maxTokens))
        print(String(format: "Panda job, end to end (load, hash, decode, embed, generate, write): %.2f s, %.1f items/s", pandaSeconds, pandaRate))
        print(String(format: "PyTorch loop (load %.1f s not counted): %.2f s, %.1f items/s", torch["load_seconds"] as? Double ?? 0, torch["seconds"] as? Double ?? 0, torchRate))
        print(String(format: "ratio: %.2f×; identical captions: %d of %d", pandaRate / torchRate, zip(pandaAnswers, answers).filter { $0 == $1 }.count, answers.count))
    }
}
