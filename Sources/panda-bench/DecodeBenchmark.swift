import ArgumentParser
import Foundation
import PandaFormat
import PandaModels

/// Decoder speed against llama.cpp on the same weights: a 7B-shape checkpoint of random bf16 weights (or one
/// given with --checkpoint) goes through each project's own converter for every dtype; then prompt processing
/// (pp) and generation (tg) tokens/s, time to first token cold and warm, and peak memory, measured in one run
/// together with the machine's read bandwidth.
struct DecodeBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decode",
        abstract: "Decoder tokens/s (pp and tg), time to first token and peak RSS against llama.cpp, per dtype.",
        discussion: """
            Needs llama.cpp's source with llama-bench, llama-completion and llama-quantize built in build/bin (cmake), a \
            Python with torch/numpy/sentencepiece for its converter, and bandwidth.c compiled as its header says.
            Each dtype's files are written to --directory, measured and deleted before the next.

            Example:
              swift build -c release
              .build/release/panda-bench decode --tokenizer tokenizer.model --llama-cpp /tmp/llamacpp/src \\
                  --python ~/.cache/panda/refenv/bin/python --bandwidth /tmp/bandwidth
            """)

    @Option(help: "A Hugging Face LLaMA checkpoint directory (default: generate a 7B-shape one of random weights).")
    var checkpoint: String?

    @Option(help: "SentencePiece tokenizer.model for a generated checkpoint.")
    var tokenizer: String?

    @Option(help: "Decoder layers of a generated checkpoint (32 for 7B).")
    var layers = 32

    @Option(help: "Working directory for checkpoints and converted files.")
    var directory = NSTemporaryDirectory()

    @Option(help: "llama.cpp source directory with build/bin/{llama-bench,llama-completion,llama-quantize}.")
    var llamaCpp: String

    @Option(help: "Python interpreter for llama.cpp's convert_hf_to_gguf.py.")
    var python = "python3"

    @Option(help: "A compiled bandwidth.c (../shared/bench/bandwidth.c).")
    var bandwidth: String?

    @Option(parsing: .upToNextOption, help: "Dtypes to measure.")
    var dtypes = ["q4_0", "q8_0", "bf16"]

    @Option(help: "Prompt tokens for pp.")
    var prompt = 512

    @Option(help: "Generated tokens for tg.")
    var generate = 128

    @Option(help: "Threads for both projects.")
    var threads = ProcessInfo.processInfo.activeProcessorCount

    func run() throws {
        let bin = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let convert = bin.appendingPathComponent("panda-convert").path, runner = bin.appendingPathComponent("panda-run").path
        let llamaBin = (llamaCpp as NSString).appendingPathComponent("build/bin")
        var source = checkpoint
        if source == nil {
            guard let tokenizer else { throw ValidationError("--tokenizer is needed to generate a checkpoint") }
            let generated = (directory as NSString).appendingPathComponent("panda-bench-decode-checkpoint")
            print("Generating \(LlamaShape(layers: layers).description) in \(generated) …")
            _ = try LlamaShape(layers: layers).writeCheckpoint(to: generated, tokenizer: tokenizer)
            source = generated
        }
        defer { if checkpoint == nil, let source { try? FileManager.default.removeItem(atPath: source) } }
        // This VM's bandwidth drifts by a quarter within minutes, so it is measured around every dtype's runs and
        // the best figure seen so far is taken as the ceiling.
        var bandwidthGBs: Double? = nil
        func remeasureBandwidth() throws {
            guard let bandwidth else { return }
            let measured = try measureBandwidth(bandwidth)
            bandwidthGBs = max(bandwidthGBs ?? 0, measured)
            print(String(format: "Read bandwidth (bandwidth.c, %d threads): %.1f GB/s (best so far %.1f)", threads, measured, bandwidthGBs!))
        }
        try remeasureBandwidth()

        var rows: [String] = []
        for dtype in dtypes {
            let panda = (directory as NSString).appendingPathComponent("bench-\(dtype).panda")
            let gguf = (directory as NSString).appendingPathComponent("bench-\(dtype).gguf")
            defer { [panda, gguf].forEach { try? FileManager.default.removeItem(atPath: $0) } }
            print("\n== \(dtype): converting with both projects …")
            try ChildProcess.check(ChildProcess.run([convert, "convert", "--quiet", "--recipe", "llama", "--dtype", dtype, source!, "-o", panda]), "panda-convert")
            try LlamaCpp(source: llamaCpp, python: python).makeGGUF(from: source!, dtype: dtype, to: gguf)
            // Bytes read per generated token: every weight but the embedding, of which one row is read.
            let weightFile = try WeightFile(path: panda)
            let modelBytes = Double(weightFile.tensors.filter { $0.name != "model.embed_tokens.weight" }.reduce(0) { $0 + $1.byteCount })

            let ours = try measurePanda(panda)
            let peer = try measureLlamaBench(gguf, bin: llamaBin)
            try remeasureBandwidth()
            let oursFirst = try firstToken([runner, "generate", "--model", panda, "--max-tokens", "1", "--threads", "\(threads)", "Once upon a time"])
            let peerFirst = try firstToken([(llamaBin as NSString).appendingPathComponent("llama-completion"), "-m", gguf, "-p", "Once upon a time", "-n", "1", "-t", "\(threads)", "-no-cnv", "--no-warmup"])
            let fraction = bandwidthGBs.map { String(format: "%.0f%%", 100 * ours.tg * modelBytes / 1e9 / $0) } ?? "–"
            rows.append(String(
                format: "| %@ | %.2f | %.2f | **%.2f×** | %.1f | %.1f | **%.2f×** | %@ | %.2f / %.2f | %.2f / %.2f | %.0f / %.0f |",
                dtype, ours.tg, peer.tg, ours.tg / peer.tg, ours.pp, peer.pp, ours.pp / peer.pp, fraction,
                oursFirst.cold, oursFirst.warm, peerFirst.cold, peerFirst.warm, oursFirst.rssMiB, peerFirst.rssMiB))
            print(rows.last!)
        }
        print("\n| dtype | tg\(generate) Panda tok/s | llama.cpp | ratio | pp\(prompt) Panda tok/s | llama.cpp | ratio | tg × bytes read per token / bandwidth | first token s, cold / warm: Panda | llama.cpp | peak RSS MiB Panda / llama.cpp |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        rows.forEach { print($0) }
    }

    /// pp: a prompt of `prompt` tokens from an empty context; tg: `generate` tokens one at a time from an empty context.
    private func measurePanda(_ path: String) throws -> (pp: Double, tg: Double) {
        let llama = try Llama(path: path)
        let context = LlamaContext(model: llama, capacity: max(prompt, generate) + 1, threads: threads)
        let ids = (0..<prompt).map { 100 + ($0 * 7919) % (llama.config.vocabSize - 100) }
        try context.evaluate([.tokens([1])])  // warm-up: pages in the weights
        context.reset()
        var start = Date()
        try context.evaluate([.tokens(ids)])
        let pp = Double(prompt) / Date().timeIntervalSince(start)
        context.reset()
        var token = 1
        start = Date()
        for _ in 0..<generate { token = Sampler.argmax(try context.next(token)) }
        return (pp, Double(generate) / Date().timeIntervalSince(start))
    }

    private func measureLlamaBench(_ gguf: String, bin: String) throws -> (pp: Double, tg: Double) {
        let output = (directory as NSString).appendingPathComponent("llama-bench.json")
        defer { try? FileManager.default.removeItem(atPath: output) }
        let command = "\((bin as NSString).appendingPathComponent("llama-bench")) -m \(gguf) -p \(prompt) -n \(generate) -t \(threads) -r 1 -o json > \(output)"
        try ChildProcess.check(ChildProcess.run(["/bin/sh", "-c", command]), "llama-bench")
        struct Result: Decodable { var n_prompt: Int; var n_gen: Int; var avg_ts: Double }
        let results = try JSONDecoder().decode([Result].self, from: Data(contentsOf: URL(fileURLWithPath: output)))
        guard let pp = results.first(where: { $0.n_prompt > 0 })?.avg_ts, let tg = results.first(where: { $0.n_gen > 0 })?.avg_ts else {
            throw ValidationError("llama-bench printed no pp/tg results")
        }
        return (pp, tg)
    }

    /// Wall time of a one-token generation from process start, with the page cache dropped (cold) and then not.
    private func firstToken(_ command: [String]) throws -> (cold: Double, warm: Double, rssMiB: Double) {
        let dropped = PageCache.drop()
        let cold = try ChildProcess.run(command, quietly: true)
        let warm = try ChildProcess.run(command, quietly: true)
        try ChildProcess.check(warm, command[0])
        return (dropped ? cold.seconds : .nan, warm.seconds, Double(max(cold.peakResidentBytes, warm.peakResidentBytes)) / 1_048_576)
    }

    private func measureBandwidth(_ tool: String) throws -> Double {
        let output = (directory as NSString).appendingPathComponent("bandwidth.txt")
        defer { try? FileManager.default.removeItem(atPath: output) }
        try ChildProcess.check(ChildProcess.run(["/bin/sh", "-c", "\(tool) > \(output)"], environment: ["OMP_NUM_THREADS": "\(threads)"]), "bandwidth")
        let text = try String(contentsOfFile: output, encoding: .utf8)
        guard let match = text.firstMatch(of: /([0-9.]+) GB\/s/), let value = Double(match.1) else { throw ValidationError("bandwidth printed: \(text)") }
        return value
    }
}
