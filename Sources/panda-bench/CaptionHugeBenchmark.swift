import ArgumentParser
import Foundation
import PandaJobs

/// Captioning at real size with random weights: ImageBind huge, a 7B-width decoder and a PandaGPT delta of the real
/// shapes, a caption job over 1024 × 768 JPEGs with answers of a fixed length. Panda decoding its answers together
/// and one at a time, llama.cpp's llama-batched-bench on the same decoder weights, and a PyTorch loop of PandaGPT's
/// code, all in one run.
struct CaptionHugeBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "caption-huge",
        abstract: "End-to-end captioning items/s at real model size: Panda batched and one at a time, llama.cpp, PyTorch.",
        discussion: """
            Needs: --imagebind, a folder where Converters/reference/bench_imagebind.py made imagebind_huge.pth (panda-bench \
            imagebind makes it too); --decoder, a Hugging Face LLaMA checkpoint of random weights (panda-bench decode \
            writes one; fewer layers than 32 keep the PyTorch side within memory and time); llama.cpp built with \
            llama-batched-bench and llama-quantize; the reference Python environment. The delta and 32 pictures are \
            made in --directory by Converters/reference/bench_caption_huge.py; converted files are kept there.

            Example:
              swift build -c release
              .build/release/panda-bench caption-huge --imagebind /tmp/ib-huge --decoder /tmp/b8 \\
                  --directory /tmp/caption-huge --llama-cpp /tmp/llama.cpp --python /tmp/refenv/bin/python
            """)

    @Option(help: "Folder with imagebind_huge.pth and bpe_simple_vocab_16e6.txt.gz (bench_imagebind.py make).")
    var imagebind: String

    @Option(help: "Hugging Face LLaMA checkpoint folder (config.json, safetensors, tokenizer.model).")
    var decoder: String

    @Option(help: "Working folder: delta, pictures, converted models, outputs.")
    var directory: String

    @Option(help: "llama.cpp source folder with build/bin/{llama-batched-bench,llama-quantize}.")
    var llamaCpp: String

    @Option(help: "Python with the reference environment.")
    var python = "python3"

    @Option(parsing: .upToNextOption, help: "Decoder dtypes to measure.")
    var dtypes = ["q4_0", "q8_0"]

    @Option(help: "Pictures captioned by Panda (at most 32).")
    var items = 32

    @Option(help: "Pictures captioned by the PyTorch loop.")
    var torchItems = 8

    @Option(name: .customLong("max-tokens"), help: "Tokens per answer.")
    var maxTokens = 64

    @Option(help: "Answers Panda decodes together, and llama-batched-bench's parallel sequences.")
    var batch = 8

    @Option(help: "Threads for every side.")
    var threads = ProcessInfo.processInfo.activeProcessorCount

    func run() throws {
        let bin = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        let convert = bin.appendingPathComponent("panda-convert").path, runner = bin.appendingPathComponent("panda-run").path
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../Converters/reference/bench_caption_huge.py").standardizedFileURL.path
        func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }
        struct DecoderConfig: Decodable { var hidden_size: Int; var num_hidden_layers: Int }
        let config = try JSONDecoder().decode(DecoderConfig.self, from: Data(contentsOf: URL(fileURLWithPath: (decoder as NSString).appendingPathComponent("config.json"))))
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        if !FileManager.default.fileExists(atPath: path("pandagpt/pytorch_model.pt")) {
            print("Making the delta and pictures in \(directory) …")
            try ChildProcess.check(ChildProcess.run([python, script, "make", directory, "\(config.hidden_size)", "\(config.num_hidden_layers)"]), "bench_caption_huge.py make")
        }
        func converted(_ name: String, _ arguments: [String]) throws -> String {
            let output = path(name)
            if !FileManager.default.fileExists(atPath: output) {
                print("Converting \(name) …")
                try ChildProcess.check(ChildProcess.run([convert, "convert", "--quiet"] + arguments + ["-o", output]), "panda-convert \(name)")
            }
            return output
        }
        let imagebindModel = try converted("imagebind-huge-f32.panda", [
            (imagebind as NSString).appendingPathComponent("imagebind_huge.pth"), (imagebind as NSString).appendingPathComponent("bpe_simple_vocab_16e6.txt.gz"),
            "--recipe", "imagebind-huge"])
        let delta = try converted("pandagpt-delta.panda", [path("pandagpt/pytorch_model.pt"), "--recipe", "pandagpt-delta"])
        print("\(items) pictures of 1024 × 768, answers of \(maxTokens) tokens, \(threads) thread(s), decoder of \(config.num_hidden_layers) layers × \(config.hidden_size)")

        var rows: [String] = []
        let llamaCpp = LlamaCpp(source: self.llamaCpp, python: python)
        for dtype in dtypes {
            let model = try converted("decoder-\(dtype).panda", [decoder, "--recipe", "llama", "--dtype", dtype])
            var rates: [Int: Double] = [:]
            for decodeBatch in [batch, 1] {
                let result = try runPanda(runner: runner, imagebind: imagebindModel, decoder: model, delta: delta, decodeBatch: decodeBatch, tag: "\(dtype)-b\(decodeBatch)")
                rates[decodeBatch] = result.itemsPerSecond
                rows.append(result.row(name: "Panda \(dtype), \(decodeBatch == 1 ? "one answer at a time" : "\(decodeBatch) answers together")"))
                print(rows.last!)
            }
            print(String(format: "%@: decoding together gives %.2f× the items/s of one at a time", dtype, rates[batch]! / rates[1]!))
            let gguf = path("decoder-\(dtype).gguf")
            if !FileManager.default.fileExists(atPath: gguf) {
                print("Converting \(dtype) for llama.cpp …")
                try llamaCpp.makeGGUF(from: decoder, dtype: dtype, to: gguf)
            }
            rows.append(try runBatchedBench(llamaCpp, gguf: gguf, dtype: dtype))
            print(rows.last!)
        }
        print("PyTorch loop over \(torchItems) pictures …")
        let torchOutput = path("torch.json")
        let torch = try ChildProcess.run(
            [python, script, "run", (imagebind as NSString).appendingPathComponent("imagebind_huge.pth"), decoder, path("pandagpt/pytorch_model.pt"), path("pictures"),
             "\(threads)", "\(maxTokens)", "\(torchItems)"], standardOutput: torchOutput)
        try ChildProcess.check(torch, "bench_caption_huge.py run")
        struct TorchResult: Decodable { var items: Int; var seconds: Double; var items_per_second: Double; var load_seconds: Double; var stage_seconds: [String: Double]; var tokens: [Int] }
        let result = try JSONDecoder().decode(TorchResult.self, from: Data(contentsOf: URL(fileURLWithPath: torchOutput)))
        let perItem = result.stage_seconds.mapValues { $0 / Double(result.items) }
        rows.append(String(format: "| PyTorch loop (ImageBind f32, decoder bf16), %d items | %.3f | %.1f | %.2f | %.2f | — | %.2f | %.1f | %@ |",
                           result.items, result.items_per_second, result.seconds / Double(result.items), perItem["decode"] ?? 0, perItem["imagebind"] ?? 0,
                           perItem["generate"] ?? 0, Double(torch.peakResidentBytes) / 1e9, Self.tokenSummary(result.tokens)))
        print("\n| run | items/s | s/item | per item: media s | ImageBind s | prompts s | generation s | peak RSS GB | tokens per answer |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
        rows.forEach { print($0) }
    }

    struct PandaResult {
        var itemsPerSecond: Double
        var secondsPerItem: Double
        var stages: [String: Double]
        var peakGB: Double
        var tokens: [Int]
        func row(name: String) -> String {
            String(format: "| %@ | %.3f | %.1f | %.2f | %.2f | %.2f | %.2f | %.1f | %@ |", name, itemsPerSecond, secondsPerItem,
                   stages["preparing"] ?? 0, stages["encoding"] ?? 0, stages["prompts"] ?? 0, stages["generating"] ?? 0, peakGB, CaptionHugeBenchmark.tokenSummary(tokens))
        }
    }

    static func tokenSummary(_ tokens: [Int]) -> String {
        let counts = Dictionary(grouping: tokens, by: { $0 }).sorted { $0.key > $1.key }
        return counts.map { "\($0.value.count) × \($0.key)" }.joined(separator: ", ")
    }

    /// One cold-cache run of the caption job in its own process; items/s over the whole process (loading included).
    private func runPanda(runner: String, imagebind: String, decoder: String, delta: String, decodeBatch: Int, tag: String) throws -> PandaResult {
        let folder = (directory as NSString).appendingPathComponent("run-\(tag)")
        try? FileManager.default.removeItem(atPath: folder)
        try FileManager.default.createDirectory(atPath: folder + "/pictures", withIntermediateDirectories: true)
        let pictures = (directory as NSString).appendingPathComponent("pictures")
        for name in try FileManager.default.contentsOfDirectory(atPath: pictures).sorted().prefix(items) {
            try FileManager.default.createSymbolicLink(atPath: folder + "/pictures/" + name, withDestinationPath: pictures + "/" + name)
        }
        let job = """
            models: {imagebind: \(imagebind), decoder: \(decoder), adapter: \(delta)}
            inputs:
              pictures: {image: pictures}
            output: out
            cells:
              picture: {encode: image}
              caption: {generate: {embedding: picture, prompt: "What is in this image?", max_tokens: \(maxTokens), batch: \(decodeBatch)}}
              save: {write: {jsonl: captions.jsonl}}
            """
        try job.write(toFile: folder + "/job.yaml", atomically: true, encoding: .utf8)
        let progress = folder + "/progress.jsonl"
        let measured = try ChildProcess.run([runner, "run", folder + "/job.yaml", "--progress", "json", "-t", "\(threads)"], quietly: true, standardError: progress)
        try ChildProcess.check(measured, "panda-run (\(tag))")
        let summaryLine = try String(contentsOfFile: progress, encoding: .utf8).split(separator: "\n").last { $0.contains("\"event\":\"summary\"") }
        guard let summaryLine, let summary = try JSONSerialization.jsonObject(with: Data(summaryLine.utf8)) as? [String: Any],
              let stages = summary["stage_seconds"] as? [String: Double], let count = summary["items"] as? Int, count > 0
        else { throw ValidationError("panda-run (\(tag)) printed no summary") }
        let records = try String(contentsOfFile: folder + "/out/captions.jsonl", encoding: .utf8).split(separator: "\n").map {
            try JSONDecoder().decode(ItemRecord.self, from: Data($0.utf8))
        }
        let tokens = records.map { record in if case .generation(let caption) = record.cells["caption"] { caption.tokens } else { 0 } }
        return PandaResult(itemsPerSecond: Double(count) / measured.seconds, secondsPerItem: measured.seconds / Double(count),
                           stages: stages.mapValues { $0 / Double(count) }, peakGB: Double(measured.peakResidentBytes) / 1e9, tokens: tokens)
    }

    /// llama-batched-bench at 1 and `batch` parallel sequences, each a 40-token prompt (about PandaGPT's caption
    /// prompt) and `maxTokens` generated: the decoder part of the work alone.
    private func runBatchedBench(_ llamaCpp: LlamaCpp, gguf: String, dtype: String) throws -> String {
        let output = (directory as NSString).appendingPathComponent("batched-bench-\(dtype).jsonl")
        let context = batch * (40 + maxTokens) + 64
        let measured = try ChildProcess.run(
            [llamaCpp.tool("llama-batched-bench"), "-m", gguf, "-c", "\(context)", "-b", "2048", "-ub", "512", "-npp", "40", "-ntg", "\(maxTokens)",
             "-npl", "1,\(batch)", "-t", "\(threads)", "--output-format", "jsonl"], standardOutput: output, standardError: "/dev/null")
        try ChildProcess.check(measured, "llama-batched-bench")
        var cells: [String] = []
        for line in try String(contentsOfFile: output, encoding: .utf8).split(separator: "\n") where line.hasPrefix("{") {
            guard let row = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], let parallel = row["pl"] as? Int,
                  let speedTG = row["speed_tg"] as? Double, let speedPP = row["speed_pp"] as? Double else { continue }
            cells.append(String(format: "%d sequences: prompts %.1f tok/s, generation %.2f tok/s", parallel, speedPP, speedTG))
        }
        return "| llama.cpp llama-batched-bench \(dtype) (decoder only) | " + cells.joined(separator: "; ") + " | | | | | | | |"
    }
}
